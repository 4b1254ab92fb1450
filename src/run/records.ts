// The run's summary from what is durable: the actors' records, their metrics messages, and the ledger of checkpoints.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalReport } from '../actors/evaluator.js';
import type { ActorRecord } from './actor_process.js';
import type { ClusterSummary } from './local_cluster.js';
import type { RunEnd } from './run_control.js';
import { actorsDir, ledgerFile } from './run_dir.js';
import { readLedger } from './trained_ledger.js';

/** Counters by actor id from what the actors' metrics messages carried (MetricsAggregator.counterTotals). */
export type StreamedCounters = Record<string, { role: string; counters: Record<string, number> }>;

/** What the run made durable beyond the actors' own records. */
export interface DurableRecords {
  /** Counters the metrics stream carried this launch, by actor id. */
  streamed?: StreamedCounters;
  /** The learner step the ledger held when this launch began (a continued run's earlier steps). */
  stepsAtLaunch?: number;
  /** Pairs the run's pairs stream stored (every judge's, a repeated pair id once), over the whole run. */
  pairsStored?: number;
}

/**
 * The run's summary. Counters come by actor id from the larger of two sources: the records actor processes wrote on
 * exit since `since` (this launch; a restarted actor's incarnations all count) and what their metrics messages carried
 * (an actor killed before writing its record, or one written in another language, has only those). Steps, version and
 * the pairs trained come from the ledger of checkpoints, which counts the whole run.
 */
export function summarizeRecords(runDir: string, mode: ClusterSummary['mode'], since: number, wallMs: number, end: RunEnd | undefined, durable: DurableRecords = {}): ClusterSummary {
  const dir = actorsDir(runDir);
  const records: ActorRecord[] = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ActorRecord)
        .filter((r) => r.startedAt >= since)
        .sort((a, b) => a.startedAt - b.startedAt)
    : [];
  const byActor = new Map<string, { role: string; counters: Record<string, number> }>();
  for (const r of records) {
    const a = byActor.get(r.actorId) ?? { role: r.role, counters: {} };
    for (const [k, v] of Object.entries(r.metrics)) a.counters[k] = (a.counters[k] ?? 0) + v;
    byActor.set(r.actorId, a);
  }
  for (const [id, s] of Object.entries(durable.streamed ?? {})) {
    const a = byActor.get(id) ?? { role: s.role, counters: {} };
    for (const [k, v] of Object.entries(s.counters)) a.counters[k] = Math.max(a.counters[k] ?? 0, v);
    byActor.set(id, a);
  }
  const metrics: Record<string, Record<string, number>> = {};
  for (const [id, a] of byActor) metrics[id] = a.counters;
  const sum = (name: string): number => [...byActor.values()].reduce((s, a) => s + (a.counters[name] ?? 0), 0);
  const learners = records.filter((r) => r.role === 'learner');
  const last = learners.at(-1);
  const ledger = readLedger(ledgerFile(runDir));
  const checkpointed = ledger.at(-1);
  const steps = end?.steps ?? Math.max(last?.steps ?? 0, checkpointed?.step ?? 0);
  const evals: EvalReport[] = records.filter((r) => r.role === 'evaluator').flatMap((r) => r.evals ?? []);
  return {
    mode,
    steps,
    stepsThisLaunch: Math.max(0, steps - (durable.stepsAtLaunch ?? 0)),
    version: end?.version ?? Math.max(last?.version ?? 0, checkpointed?.version ?? 0),
    promptsPublished: sum('source_prompts_total'),
    samplesGenerated: sum('generator_samples_total'),
    samplesScored: sum('judge_samples_scored_total'),
    // A judge killed between two metrics reports made pairs no counter shows; the stream stored every one.
    pairs: durable.pairsStored ?? sum('judge_pairs_total'),
    ties: sum('judge_ties_total'),
    pairsTrained: ledger.reduce((s, e) => s + e.pairs.length, 0),
    pairsDroppedStale: sum('learner_pairs_stale_dropped_total'),
    pairsDownweighted: sum('learner_pairs_downweighted_total'),
    evals,
    wallMs,
    metrics,
    // The busiest process: its wall-clock with a bus call in flight (records written before the field lack it).
    ...(records.some((r) => r.metrics.bus_busy_seconds_total !== undefined) ? { busCallSeconds: Math.max(...records.map((r) => r.metrics.bus_busy_seconds_total ?? 0)) } : {}),
  };
}
