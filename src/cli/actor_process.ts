// One actor in its own process against NATS: builds only its role's compute, runs until the run ends or a signal, drains.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../actors/clock.js';
import { Evaluator, type EvalReport } from '../actors/evaluator.js';
import { Generator } from '../actors/generator.js';
import { Judge } from '../actors/judge.js';
import { Learner } from '../actors/learner.js';
import { MetricsRegistry, MetricsReporter } from '../actors/metrics.js';
import { PromptSource } from '../actors/prompt_source.js';
import type { Config } from '../config/index.js';
import { deriveSeed } from '../kernels/rng.js';
import type { Bus } from '../streams/bus.js';
import { NatsBus } from '../streams/nats_bus.js';
import {
  evalPrompts,
  findArtefacts,
  goldScorer,
  learnerPort,
  localPolicy,
  loadTokenizer,
  judgeScorerPort,
  scorerPort,
  trainPrompts,
  workerPolicy,
  type Artefacts,
  type Owned,
} from './actor_ports.js';
import { withRetryingWeights } from './resilient_bus.js';
import { RunControl, type RunEnd } from './run_control.js';
import { LedgeredLearnerPort, skipTrainedPairs } from './trained_ledger.js';

export const ACTOR_ROLES = ['source', 'generator', 'judge', 'learner', 'evaluator'] as const;
export type ActorRole = (typeof ACTOR_ROLES)[number];

export class ActorProcessError extends Error {
  override name = 'ActorProcessError';
}

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

export const runDirOf = (cfg: Config, runId: string): string => join(cfg.run.dir, runId);
export const ledgerFile = (runDir: string): string => join(runDir, 'trained_pairs.jsonl');
export const actorsDir = (runDir: string): string => join(runDir, 'actors');

/** The role's actor, started; `drain` stops it gracefully, `finalEval` runs once the run ended (evaluator only). */
interface Running {
  /** Rejects when the actor fails on its own. */
  failed: Promise<never>;
  /** Learner only: resolves with the end record once the learner finished the run. */
  finishedRun?: Promise<RunEnd>;
  stop(runEnded: boolean): Promise<void>;
  state(): string;
  record(): Partial<ActorRecord>;
  close(): Promise<void>;
}

/** Rejects when `p` rejects; never resolves (an actor's loop ending normally is not a failure). */
const failureOf = (p: Promise<unknown>): Promise<never> => p.then(() => new Promise<never>(() => {}));

/** Generators pause while this much work waits downstream: the rule of the one-process cluster, read from the server here. */
function backlogLimit(cfg: Config): number {
  return cfg.generator.maxBacklog || cfg.learner.batchSize * cfg.learner.publishEvery * Math.max(1, cfg.learner.maxPolicyLag);
}

export async function runActor(cfg: Config, o: ActorProcessOptions): Promise<ActorRecord> {
  const log = o.log ?? ((l: string) => console.error(l));
  if (cfg.run.mode !== 'streaming') throw new ActorProcessError(`actors in separate processes run streaming mode only; got run.mode ${cfg.run.mode} (use \`rlhf-stream run\` for ${cfg.run.mode})`);
  const artefacts = findArtefacts(cfg);
  const runDir = runDirOf(cfg, o.runId);
  mkdirSync(actorsDir(runDir), { recursive: true });
  const tok = loadTokenizer(artefacts);
  const bus = await NatsBus.connect(cfg.bus, o.runId, {
    schema: { vocabSize: tok.vocabSize },
    // Only the learner writes weights; its files let generators on this host skip the object store.
    ...(o.role === 'learner' ? { weightsDir: join(runDir, 'weights') } : {}),
    log: (l) => log(l),
  });
  // Actors see weight-store calls that ride out a server restart; a failure there would otherwise stop the actor.
  const actorBus = withRetryingWeights(bus, { deadlineMs: WEIGHTS_RETRY_MS, log, closed: () => bus.isClosed });
  const startedAt = Date.now();
  let running: Running | undefined;
  let reporter: MetricsReporter | undefined;
  const registry = new MetricsRegistry();
  try {
    const control = await RunControl.open(bus);
    const ended = await control.end();
    if (ended) {
      log(`run ${o.runId} already ended (${ended.reason}, ${ended.steps} steps); nothing to do`);
      return finalRecord(runDir, { actorId: o.actorId, role: o.role, runId: o.runId, startedAt, exit: 'end', end: ended, metrics: {} });
    }
    running = await startRole(cfg, o, { bus: actorBus, nats: bus, control, registry, artefacts, tok, runDir, log });
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
      exit: end ? 'end' : 'signal',
      ...(end ? { end } : {}),
      metrics: registry.snapshot(),
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

interface RoleContext {
  /** What the actor talks through. */
  bus: Bus;
  /** The connection under it, for server-side reads. */
  nats: NatsBus;
  control: RunControl;
  registry: MetricsRegistry;
  artefacts: Artefacts;
  tok: ReturnType<typeof loadTokenizer>;
  runDir: string;
  log: (line: string) => void;
}

async function closeAll(owned: readonly Owned<unknown>[]): Promise<void> {
  for (const x of [...owned].reverse()) await x.close();
}

async function startRole(cfg: Config, o: ActorProcessOptions, c: RoleContext): Promise<Running> {
  switch (o.role) {
    case 'source':
      return startSource(cfg, c);
    case 'generator':
      return startGenerator(cfg, o, c);
    case 'judge':
      return startJudge(cfg, o, c);
    case 'learner':
      return startLearner(cfg, o, c);
    case 'evaluator':
      return startEvaluator(cfg, o, c);
  }
}

async function startSource(cfg: Config, c: RoleContext): Promise<Running> {
  const prompts = trainPrompts(c.artefacts, c.tok);
  // A restarted source resumes where the last one recorded; prompts re-published in between carry the same msgId.
  const resumed = await c.control.source();
  const startAt = Math.min(resumed?.published ?? 0, cfg.run.prompts);
  if (startAt > 0) c.log(`source: resuming at prompt ${startAt} of ${cfg.run.prompts}`);
  let state = 'running';
  const source = new PromptSource(
    { bus: c.bus, clock: systemClock, metrics: c.registry },
    { prompts, budget: cfg.run.prompts, seed: deriveSeed(cfg.compute.seed, 'source'), promptsPerSecond: cfg.run.promptsPerSecond, startAt },
  );
  const progress = () => ({ published: source.published, budget: cfg.run.prompts, exhausted: source.exhausted, ts: Date.now() });
  let saving = Promise.resolve();
  const save = (): Promise<void> => (saving = saving.then(() => c.control.setSource(progress())).catch((err: unknown) => c.log(`source: recording progress failed: ${(err as Error).message}`)));
  const timer = setInterval(() => void save(), 500);
  source.start();
  const finished = source.finished.then(async () => {
    if (source.exhausted) {
      state = 'exhausted';
      c.log(`source: budget of ${cfg.run.prompts} prompts published`);
    }
    await save();
  });
  return {
    failed: failureOf(finished),
    async stop() {
      await source.stop();
      clearInterval(timer);
      await save();
      state = 'stopped';
    },
    state: () => state,
    record: () => ({}),
    async close() {
      clearInterval(timer);
    },
  };
}

async function startGenerator(cfg: Config, o: ActorProcessOptions, c: RoleContext): Promise<Running> {
  const policy = await workerPolicy(cfg, c.artefacts);
  const limit = backlogLimit(cfg);
  let lastLog = 0;
  // Flow control across processes: the groups and pairs waiting downstream, as the server counts them.
  const admit = async (signal: AbortSignal): Promise<void> => {
    while (!signal.aborted) {
      let waiting: number;
      try {
        const b = await c.control.backlog();
        waiting = b.samples + b.pairsUndelivered;
      } catch (err) {
        // While the server is away nothing can be published anyway; generation resumes once it answers.
        if (Date.now() - lastLog > 5000) c.log(`generator: backlog check failed (${(err as Error).message}); retrying`);
        lastLog = Date.now();
        waiting = limit;
      }
      if (waiting < limit) return;
      await systemClock.sleep(100, signal);
    }
  };
  const g: Generator = new Generator(
    { bus: c.bus, policy: policy.port, decode: policy.decode, clock: systemClock, metrics: c.registry, admit },
    {
      generatorId: o.actorId,
      config: cfg.generator,
      seed: deriveSeed(cfg.compute.seed, 'generator'),
      maxPromptTokens: cfg.model.contextLength - cfg.generator.maxNewTokens,
      ackWaitMs: cfg.bus.ackWaitMs,
    },
  );
  g.start();
  return {
    failed: failureOf(g.finished),
    stop: () => g.stop(),
    state: () => g.state,
    record: () => ({ version: g.policyVersion }),
    close: () => closeAll([policy]),
  };
}

async function startJudge(cfg: Config, o: ActorProcessOptions, c: RoleContext): Promise<Running> {
  const scorer = await judgeScorerPort(cfg, c.artefacts, o.actorId);
  const j: Judge = new Judge(
    { bus: c.bus, scorer: scorer.port, clock: systemClock, metrics: c.registry },
    { judgeId: o.actorId, config: cfg.judge, seed: deriveSeed(cfg.compute.seed, 'judge'), samplesPerPrompt: cfg.generator.samplesPerPrompt, ackWaitMs: cfg.bus.ackWaitMs },
  );
  j.start();
  return {
    failed: failureOf(j.finished),
    stop: () => j.stop(),
    state: () => j.state,
    record: () => ({}),
    close: () => closeAll([scorer]),
  };
}

async function startLearner(cfg: Config, o: ActorProcessOptions, c: RoleContext): Promise<Running> {
  const owned = await learnerPort(cfg, c.artefacts);
  // Steps run only after start(), by when `l` exists.
  const port = new LedgeredLearnerPort(owned.port, ledgerFile(c.runDir), () => l.version);
  const bus = skipTrainedPairs(c.bus, port.trained, (p) => {
    c.registry.counter('learner_pairs_already_trained_total').inc();
    c.log(`learner: pair ${p.pairId} came back although checkpoint-trained (a lost ack); acked, not trained again`);
  });
  const l: Learner = new Learner(
    { bus, port, clock: systemClock, metrics: c.registry },
    { learnerId: o.actorId, config: cfg.learner, checkpointDir: join(c.runDir, 'checkpoints'), ackWaitMs: cfg.bus.ackWaitMs },
  );
  await l.init();
  if (l.step > 0) c.log(`learner: restored checkpoint at step ${l.step}, version ${l.version}`);
  let state = () => l.state;
  let finishing = false;
  const halt = new AbortController();
  o.signal.addEventListener('abort', () => halt.abort(), { once: true });
  l.start();

  /** The prompt budget is spent and every pair already stored is in the learner's hands: nothing more will come. */
  const drained = async (): Promise<void> => {
    let quiet = 0;
    while (!halt.signal.aborted) {
      await systemClock.sleep(o.drainPollMs ?? 500, halt.signal);
      if (halt.signal.aborted) return;
      try {
        const src = await c.control.source();
        const b = src?.exhausted ? await c.control.backlog() : undefined;
        // Two quiet polls in a row: a pair taken between the stream read and the learner's count cannot fool one.
        quiet = b && b.prompts === 0 && b.samples === 0 && b.pairs === l.held ? quiet + 1 : 0;
      } catch (err) {
        quiet = 0;
        if (c.nats.isClosed) return;
        c.log(`learner: drain check failed (${(err as Error).message}); retrying`);
      }
      if (quiet >= 2) return;
    }
  };
  const finishedRun = (async (): Promise<RunEnd> => {
    const byDrain = drained().then(() => 'drained' as const);
    const reason = await Promise.race([l.finished.then(() => 'totalSteps' as const), byDrain]);
    if (o.signal.aborted) return new Promise<never>(() => {});
    finishing = true;
    halt.abort();
    // Ends the run: trains the partial batch when the pipeline drained short of totalSteps, then publishes and checkpoints.
    await l.finish(reason === 'drained');
    const end: RunEnd = { state: 'done', reason, steps: l.step, version: l.version, learnerId: o.actorId, ts: Date.now() };
    await c.control.markEnd(end);
    state = () => 'done';
    c.log(`learner: run done (${reason}) at step ${l.step}, version ${l.version}`);
    return end;
  })();
  return {
    failed: failureOf(l.finished),
    finishedRun,
    async stop(runEnded) {
      halt.abort();
      if (runEnded) return;
      // A signal during the wrap-up lets it complete: the run is ending anyway and the checkpoint must not race it.
      if (finishing) await finishedRun.catch(() => undefined);
      // Otherwise the learner checkpoints what it trained (acking it) and hands the rest back for its successor.
      else await l.stop();
    },
    state: () => state(),
    record: () => ({ steps: l.step, version: l.version }),
    close: () => closeAll([owned]),
  };
}

async function startEvaluator(cfg: Config, o: ActorProcessOptions, c: RoleContext): Promise<Running> {
  const policy = await workerPolicy(cfg, c.artefacts);
  const reference = await localPolicy(c.artefacts);
  const scorer = await scorerPort(c.artefacts);
  const gold = await goldScorer(cfg);
  const ev: Evaluator = new Evaluator(
    { bus: c.bus, policy: policy.port, reference: reference.port, scorer: scorer.port, gold: gold.port, decode: policy.decode, clock: systemClock, metrics: c.registry },
    { evaluatorId: o.actorId, config: cfg.evaluator, prompts: evalPrompts(cfg, c.artefacts, c.tok), topK: cfg.generator.topK, topP: cfg.generator.topP, seed: deriveSeed(cfg.compute.seed, 'evaluator') },
  );
  ev.start();
  return {
    failed: failureOf(ev.finished),
    async stop(runEnded) {
      await ev.stop();
      // The run's final point, as the one-process cluster takes it.
      if (runEnded) await ev.evaluateLatest();
    },
    state: () => ev.state,
    record: () => ({ evals: [...ev.reports] }),
    close: () => closeAll([gold, scorer, reference, policy]),
  };
}
