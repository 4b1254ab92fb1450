// One actor in its own process against NATS: builds only its role's compute, runs until the run ends or a signal, drains.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetricsRegistry, MetricsReporter } from '../actors/metrics.js';
import type { EvalReport } from '../actors/evaluator.js';
import type { Config } from '../config/index.js';
import { NatsBus } from '../streams/nats/bus.js';
import { findArtifacts, loadTokenizer, policyVocabSize } from './artifacts.js';
import { actorsDir, runDirOf } from './run_dir.js';
import { withRetryingWeights } from './resilient_bus.js';
import { NatsRunControl, type RunEnd } from './run_control.js';
import { publishRunInfo } from './run_info.js';
import { startRole, type Running } from './roles.js';
import { TimedBus } from '../streams/timed_bus.js';

export class ActorProcessError extends Error {
  override name = 'ActorProcessError';
}

export const ACTOR_ROLES = ['source', 'generator', 'judge', 'learner', 'evaluator'] as const;
export type ActorRole = (typeof ACTOR_ROLES)[number];

export interface ActorProcessOptions {
  role: ActorRole;
  actorId: string;
  runId: string;
  /** Aborting stops the actor by draining it (SIGTERM / SIGINT). */
  signal: AbortSignal;
  log?: (line: string) => void;
  /** How often the learner checks whether the pipeline drained after the source ran out (default 500 ms). */
  drainPollMs?: number;
}

/** What a process writes to <runDir>/actors/<actorId>.<pid>.json when it exits; the launcher sums them. */
export interface ActorRecord {
  actorId: string;
  role: ActorRole;
  pid: number;
  runId: string;
  startedAt: number;
  /** When its role was built (models loaded) and it began its work; absent when it never got there. */
  readyAt?: number;
  endedAt: number;
  /** 'end': the run ended; 'signal': stopped from outside (the run may go on without it). */
  exit: 'end' | 'signal';
  end?: RunEnd;
  metrics: Record<string, number>;
  /** Learner: steps and version reached; evaluator: its reports. */
  steps?: number;
  version?: number;
  evals?: EvalReport[];
}

/** How long weight-store calls are retried through a NATS outage before the actor gives up. */
const WEIGHTS_RETRY_MS = 120_000;


export async function runActor(cfg: Config, o: ActorProcessOptions): Promise<ActorRecord> {
  const log = o.log ?? ((l: string) => console.error(l));
  const artifacts = findArtifacts(cfg);
  const runDir = runDirOf(cfg, o.runId);
  mkdirSync(actorsDir(runDir), { recursive: true });
  const tok = loadTokenizer(artifacts);
  const bus = await NatsBus.connect(cfg.bus, o.runId, {
    schema: { vocabSize: policyVocabSize(artifacts.sftDir) },
    // Only the learner writes weights; its files let generators on this host skip the object store.
    ...(o.role === 'learner' ? { weightsDir: join(runDir, 'weights') } : {}),
    log: (l) => log(l),
    // Its dead letters go out under its own id, the only one its NATS user may publish them under.
    actorId: o.actorId,
  });
  // Actors see weight-store calls that ride out a server restart; a failure there would otherwise stop the actor.
  // Timed as in one-process runs: the record carries the seconds this process spent in bus calls.
  const actorBus = new TimedBus(withRetryingWeights(bus, { deadlineMs: WEIGHTS_RETRY_MS, log, closed: () => bus.isClosed }));
  const startedAt = Date.now();
  let running: Running | undefined;
  let reporter: MetricsReporter | undefined;
  const registry = new MetricsRegistry();
  try {
    const control = await NatsRunControl.open(bus);
    const ended = await control.end();
    if (ended) {
      log(`run ${o.runId} already ended (${ended.reason}, ${ended.steps} steps); nothing to do`);
      return finalRecord(runDir, { actorId: o.actorId, role: o.role, runId: o.runId, startedAt, exit: 'end', end: ended, metrics: {} });
    }
    // A run whose actors were started by hand has no launcher: the first actor writes what a foreign client reads.
    // Under per-role permissions only admin may write it: the actor then goes on without, saying so.
    if (!(await control.info())) {
      await publishRunInfo(control, cfg, o.runId, artifacts.sftDir).catch((err: unknown) => log(`cannot write the run-info record: ${(err as Error).message}`));
    }
    running = await startRole(cfg, o, { bus: actorBus, nats: bus, control, registry, artifacts, tok, runDir, log });
    const readyAt = Date.now();
    const r = running;
    reporter = new MetricsReporter(actorBus, registry, { actorId: o.actorId, role: roleName(o.role), intervalMs: cfg.monitor.intervalMs, state: () => r.state() });
    reporter.start();
    log(`${o.role} ${o.actorId} running in run ${o.runId} (pid ${process.pid})`);

    const watching = new AbortController();
    const stopWatching = (): void => watching.abort();
    o.signal.addEventListener('abort', stopWatching, { once: true });
    const signalled = new Promise<undefined>((resolve) => watching.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
    if (o.signal.aborted) watching.abort();
    let end: RunEnd | undefined;
    try {
      end = await Promise.race([running.finishedRun ?? control.waitEnd(watching.signal), running.failed, signalled]);
    } finally {
      watching.abort();
      o.signal.removeEventListener('abort', stopWatching);
    }
    if (end) log(`run ended (${end.reason}: ${end.steps} steps, version ${end.version}); stopping`);
    else log('stopping on signal: draining');
    await running.stop(end !== undefined);
    // The last report carries the final counts and state; the finally below must not send another.
    const last = reporter;
    reporter = undefined;
    await last.stop();
    return finalRecord(runDir, {
      actorId: o.actorId,
      role: o.role,
      runId: o.runId,
      startedAt,
      readyAt,
      exit: end ? 'end' : 'signal',
      ...(end ? { end } : {}),
      metrics: { ...registry.snapshot(), bus_busy_seconds_total: actorBus.busySeconds, bus_call_seconds_total: actorBus.callSeconds, bus_calls_total: actorBus.calls },
      ...running.record(),
    });
  } finally {
    await reporter?.stop().catch(() => undefined);
    await running?.close().catch((err: unknown) => log(`closing ${o.actorId}: ${(err as Error).message}`));
    await bus.close();
  }
}

function finalRecord(runDir: string, r: Omit<ActorRecord, 'pid' | 'endedAt'>): ActorRecord {
  const rec: ActorRecord = { ...r, pid: process.pid, endedAt: Date.now() };
  writeFileSync(join(actorsDir(runDir), `${r.actorId}.${process.pid}.json`), JSON.stringify(rec, null, 2) + '\n');
  return rec;
}

/** Role names the monitor knows (the one-process cluster reports the source as 'prompt_source'). */
const roleName = (role: ActorRole): string => (role === 'source' ? 'prompt_source' : role);

