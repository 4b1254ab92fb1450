// The run's summary from the records every actor process writes when it exits.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalReport } from '../actors/evaluator.js';
import type { ActorRecord } from './actor_process.js';
import type { ClusterSummary } from './local_cluster.js';
import type { RunEnd } from './run_control.js';
import { actorsDir } from './run_dir.js';

const sumBy = (records: readonly ActorRecord[], name: string): number => records.reduce((s, r) => s + (r.metrics[name] ?? 0), 0);

/**
 * The run's summary from the records actor processes wrote on exit since `since` (this launch: a continued run's earlier
 * sessions do not count towards its rates); a restarted actor's incarnations all count.
 */
export function summarizeRecords(runDir: string, mode: ClusterSummary['mode'], since: number, wallMs: number, end: RunEnd | undefined): ClusterSummary {
  const dir = actorsDir(runDir);
  const records: ActorRecord[] = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ActorRecord)
        .filter((r) => r.startedAt >= since)
        .sort((a, b) => a.startedAt - b.startedAt)
    : [];
  const metrics: Record<string, Record<string, number>> = {};
  for (const r of records) {
    let key = r.actorId;
    for (let n = 2; metrics[key]; n++) key = `${r.actorId}#${n}`;
    metrics[key] = r.metrics;
  }
  const learners = records.filter((r) => r.role === 'learner');
  const last = learners.at(-1);
  const evals: EvalReport[] = records.filter((r) => r.role === 'evaluator').flatMap((r) => r.evals ?? []);
  return {
    mode,
    steps: end?.steps ?? last?.steps ?? 0,
    version: end?.version ?? last?.version ?? 0,
    promptsPublished: sumBy(records, 'source_prompts_total'),
    samplesGenerated: sumBy(records, 'generator_samples_total'),
    samplesScored: sumBy(records, 'judge_samples_scored_total'),
    pairs: sumBy(records, 'judge_pairs_total'),
    ties: sumBy(records, 'judge_ties_total'),
    pairsTrained: sumBy(records, 'learner_pairs_trained_total'),
    pairsDroppedStale: sumBy(records, 'learner_pairs_stale_dropped_total'),
    pairsDownweighted: sumBy(records, 'learner_pairs_downweighted_total'),
    evals,
    wallMs,
    metrics,
    // The busiest process: its wall-clock with a bus call in flight (records written before the field lack it).
    ...(records.some((r) => r.metrics.bus_busy_seconds_total !== undefined) ? { busCallSeconds: Math.max(...records.map((r) => r.metrics.bus_busy_seconds_total ?? 0)) } : {}),
  };
}
