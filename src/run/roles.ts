// What each role does in its own actor process: builds only that role's ports, starts the actor, and says how it stops.
import { join } from 'node:path';
import { systemClock } from '../clock.js';
import { Evaluator } from '../actors/evaluator.js';
import { responsesFile, responsesWriter } from '../monitor/responses_log.js';
import { Generator } from '../actors/generator.js';
import { Judge } from '../actors/judge.js';
import { Learner } from '../actors/learner.js';
import type { MetricsRegistry } from '../actors/metrics.js';
import { PromptSource } from '../actors/prompt_source.js';
import type { Config } from '../config/index.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import type { Bus } from '../streams/bus.js';
import type { NatsBus } from '../streams/nats/bus.js';
import { backlogLimit, evaluatorOptions, generatorOptions, isPhased, judgeOptions, learnerOptions, sourceOptions } from './actor_options.js';
import type { ActorProcessOptions, ActorRecord } from './actor_process.js';
import { evalPrompts, trainPrompts, type Artifacts } from './artifacts.js';
import { closeAll, goldScorer, judgeScorerPort, learnerPort, localPolicy, scorerPort, workerPolicy } from './ports.js';
import { workerLearner } from './worker_ports.js';
import type { Backlog, NatsRunControl, RunEnd } from './run_control.js';
import { driveLearner, releasePhases, runEnd, waitingWork } from './run_driver.js';
import { ledgerFile } from './run_dir.js';
import { LedgeredLearnerPort, skipTrainedPairs } from './trained_ledger.js';
import { journalPairs, PairJournal, pairJournalFile } from './pair_journal.js';
import { writeLearnerStart } from './learner_start.js';

/** The role's actor, started; `drain` stops it gracefully, `finalEval` runs once the run ended (evaluator only). */
export interface Running {
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

export interface RoleContext {
  /** What the actor talks through. */
  bus: Bus;
  /** The connection under it, for server-side reads. */
  nats: NatsBus;
  control: NatsRunControl;
  registry: MetricsRegistry;
  artifacts: Artifacts;
  tok: TextTokenizer;
  runDir: string;
  log: (line: string) => void;
}

export async function startRole(cfg: Config, o: ActorProcessOptions, c: RoleContext): Promise<Running> {
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
  const prompts = trainPrompts(c.artifacts, c.tok);
  // A restarted source resumes where the last one recorded; prompts re-published in between carry the same msgId.
  const resumed = await c.control.source();
  const startAt = Math.min(resumed?.published ?? 0, cfg.run.prompts);
  if (startAt > 0) c.log(`source: resuming at prompt ${startAt} of ${cfg.run.prompts}`);
  let state = 'running';
  const source = new PromptSource(
    { bus: c.bus, clock: systemClock, metrics: c.registry },
    sourceOptions(cfg, prompts, startAt),
  );
  const progress = () => ({ published: source.published, budget: cfg.run.prompts, exhausted: source.exhausted, ts: Date.now() });
  let saving = Promise.resolve();
  const save = (): Promise<void> => (saving = saving.then(() => c.control.setSource(progress())).catch((err: unknown) => c.log(`source: recording progress failed: ${(err as Error).message}`)));
  const timer = setInterval(() => void save(), 500);
  const stopping = new AbortController();
  // Streaming: the source runs free; phase-driven: each phase's prompts wait for the learner's previous version.
  const publishing = isPhased(cfg)
    ? releasePhases(cfg, source, { control: c.control, clock: systemClock, log: c.log, closed: () => c.nats.isClosed, signal: stopping.signal, save, setState: (s) => (state = s) })
    : (source.start(), source.finished);
  const finished = publishing.then(async () => {
    if (source.exhausted) {
      state = 'exhausted';
      c.log(`source: budget of ${cfg.run.prompts} prompts published`);
    }
    await save();
  });
  return {
    failed: failureOf(finished),
    async stop() {
      stopping.abort();
      await source.stop();
      await publishing.catch(() => undefined);
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
  const policy = await workerPolicy(cfg, c.artifacts, c.log);
  const limit = backlogLimit(cfg);
  let lastLog = 0;
  // Flow control across processes: the groups and pairs waiting downstream, as the server counts them.
  const admit = async (signal: AbortSignal): Promise<void> => {
    // A closed bus (the process is ending on a failure) admits at once: the publish then fails and ends the generator,
    // where waiting here would keep the process alive forever.
    while (!signal.aborted && !c.nats.isClosed) {
      let waiting: number;
      try {
        waiting = waitingWork(await c.control.backlog());
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
    // Phase-driven runs pace the generators by releasing prompts; streaming ones by the work waiting downstream.
    { bus: c.bus, policy: policy.port, decode: policy.decode, clock: systemClock, metrics: c.registry, ...(isPhased(cfg) ? {} : { admit }) },
    generatorOptions(cfg, o.actorId),
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
  const scorer = await judgeScorerPort(cfg, c.artifacts, o.actorId);
  const j: Judge = new Judge({ bus: c.bus, scorer: scorer.port, clock: systemClock, metrics: c.registry }, judgeOptions(cfg, o.actorId));
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
  // In a worker thread, a 100M+ model's step (tens of seconds) leaves this thread free for metrics, acks and the drain check.
  const owned = cfg.compute.roleThreads ? await workerLearner(cfg, c.artifacts, c.log) : await learnerPort(cfg, c.artifacts);
  // Steps run only after start(), by when `l` exists.
  // The pairs and the start record a replay needs; the journal is synced before each checkpoint.
  writeLearnerStart(c.runDir, c.artifacts, cfg);
  const journal = new PairJournal(pairJournalFile(c.runDir));
  const port = new LedgeredLearnerPort(owned.port, ledgerFile(c.runDir), () => l.version, () => journal.sync());
  const skippedSeqs: number[] = [];
  const bus = skipTrainedPairs(journalPairs(c.bus, journal), port.trained, (p, seq) => {
    skippedSeqs.push(seq);
    c.registry.counter('learner_pairs_already_trained_total').inc();
    c.log(`learner: pair ${p.pairId} came back although checkpoint-trained (a lost ack); acked, not trained again`);
  });
  // The weight-sync check's own policy: in a worker thread when roles use them, so a check never blocks this thread.
  const check = cfg.learner.syncCheckShare > 0 ? (cfg.compute.roleThreads ? await workerPolicy(cfg, c.artifacts, c.log) : await localPolicy(c.artifacts)) : undefined;
  const l: Learner = new Learner(
    { bus, port, clock: systemClock, metrics: c.registry, log: c.log, ...(check ? { syncPolicy: check.port } : {}) },
    learnerOptions(cfg, o.actorId, join(c.runDir, 'checkpoints')),
  );
  await l.init();
  if (l.step > 0) c.log(`learner: restored checkpoint at step ${l.step}, version ${l.version}`);
  let state = () => l.state;
  let finishing = false;
  const halt = new AbortController();
  o.signal.addEventListener('abort', () => halt.abort(), { once: true });
  const phased = isPhased(cfg);
  if (!phased) l.start();

  /** A budget spent long ago and a pipeline that never empties: say what is left, so a stall shows its cause. */
  const onStall = async (b: Backlog): Promise<void> => {
    const removed = await c.control.removeAckedLeftovers();
    for (const [topic, seqs] of Object.entries(removed)) {
      c.log(`learner: removed ${seqs.length} ${topic} the server still stored after their ack (seq ${seqs.join(', ')}): a restart kept them`);
    }
    const pairs = await c.control.pairsConsumerState().catch((err: unknown) => `pairs consumer state unknown: ${(err as Error).message}`);
    c.log(`learner: waiting for the pipeline to drain: stored prompts ${b.prompts}, sample groups ${b.samples}, pairs ${b.pairs} (${b.pairsUndelivered} undelivered); held ${l.held}; ${pairs}`);
  };
  let driving: Promise<void> | undefined;
  const finishedRun = (async (): Promise<RunEnd> => {
    const reason = await driveLearner(cfg, l, {
      control: c.control,
      clock: systemClock,
      log: c.log,
      closed: () => c.nats.isClosed,
      signal: halt.signal,
      drainPollMs: o.drainPollMs ?? 500,
      skippedSeqs,
      onStall,
      onPhases: (d) => (driving = d),
    });
    if (o.signal.aborted || reason === undefined) return new Promise<never>(() => {});
    finishing = true;
    halt.abort();
    // Ends the run: trains the partial batch when the pipeline drained short of totalSteps, then publishes and checkpoints.
    await l.finish(reason === 'drained');
    const end = runEnd(reason, l, o.actorId, Date.now());
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
      else if (driving) {
        // The phase in flight sees the abort, then the learner checkpoints what it trained.
        await driving.catch(() => undefined);
        await l.stop();
      }
      // Otherwise the learner checkpoints what it trained (acking it) and hands the rest back for its successor.
      else await l.stop();
    },
    state: () => state(),
    record: () => ({ steps: l.step, version: l.version }),
    close: async () => {
      journal.close();
      await closeAll(check ? [owned, check] : [owned]);
    },
  };
}

async function startEvaluator(cfg: Config, o: ActorProcessOptions, c: RoleContext): Promise<Running> {
  const policy = await workerPolicy(cfg, c.artifacts, c.log);
  const reference = await localPolicy(c.artifacts);
  const scorer = await scorerPort(c.artifacts);
  const gold = await goldScorer(cfg, c.log);
  const ev: Evaluator = new Evaluator(
    { bus: c.bus, policy: policy.port, reference: reference.port, scorer: scorer.port, gold: gold.port, decode: policy.decode, clock: systemClock, metrics: c.registry, onResponses: responsesWriter(responsesFile(c.runDir)) },
    evaluatorOptions(cfg, o.actorId, evalPrompts(cfg, c.artifacts.data.prompts.eval, c.tok)),
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
