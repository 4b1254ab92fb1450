// Wires every actor in one process over one bus, and runs the three modes (streaming, iterative, offline) on equal budgets.
import type { Config } from '../config/index.js';
import type { Bus } from '../streams/bus.js';
import { systemClock, type Clock } from '../clock.js';
import { Evaluator, type EvalReport, type EvalResponse, type GoldScorer } from '../actors/evaluator.js';
import { Generator } from '../actors/generator.js';
import type { HumanDesk } from '../actors/human_desk.js';
import { Judge } from '../actors/judge.js';
import { Learner } from '../actors/learner.js';
import { MetricsRegistry, MetricsReporter } from '../actors/metrics.js';
import type { LearnerPort, PolicyPort, ScorerPort } from '../actors/ports.js';
import { PromptSource, type PromptItem } from '../actors/prompt_source.js';
import { InProcessRunControl, type InProcessRunView } from '../streams/inprocess/run_control.js';
import { backlogLimit, evaluatorOptions, generatorOptions, isPhased, judgeOptions, learnerOptions, sourceOptions } from './actor_options.js';
import { driveLearner, releasePhases, waitingWork } from './run_driver.js';

export interface ClusterPorts {
  /**
   * A policy port holding the SFT weights: one per generator, one for the evaluator, one as the evaluator's reference,
   * and one for the learner's weight-sync check (when learner.syncCheckShare > 0).
   */
  policy: (role: 'generator' | 'evaluator' | 'reference' | 'sync', index: number) => PolicyPort | Promise<PolicyPort>;
  scorer: (index: number) => ScorerPort | Promise<ScorerPort>;
  learner: LearnerPort;
  decode: (tokens: number[]) => string;
  /** The gold judge; with evalPrompts it enables the evaluator. */
  gold?: GoldScorer;
}

export interface ClusterInputs {
  prompts: readonly PromptItem[];
  evalPrompts?: readonly PromptItem[];
  checkpointDir: string;
  /** Receives every evaluated response with its scores (the run writes them to responses.jsonl). */
  onEvalResponses?: (rows: EvalResponse[]) => Promise<void>;
  clock?: Clock;
  /** How often the drain check and phase waits look at the actors' counters. */
  pollMs?: number;
  /** Where actors' warnings go (the learner's weight-sync check); default stderr. */
  log?: (line: string) => void;
  /** Where groups wait for a person (judge.human); the judges share it. */
  desk?: HumanDesk;
}

export interface ClusterSummary {
  mode: Config['run']['mode'];
  steps: number;
  /** Steps made in this launch (a continued run's earlier ones excluded): the rate is over these. Absent: all of them. */
  stepsThisLaunch?: number;
  version: number;
  promptsPublished: number;
  samplesGenerated: number;
  /** Proxy-model labels used: every sample scored. */
  samplesScored: number;
  pairs: number;
  ties: number;
  pairsTrained: number;
  pairsDroppedStale: number;
  pairsDownweighted: number;
  evals: EvalReport[];
  wallMs: number;
  /** Each actor's final metrics snapshot, by actor id. */
  metrics: Record<string, Record<string, number>>;
  /** Wall-clock seconds with a bus call in flight (concurrent calls once), in the busiest process of the run. */
  busCallSeconds?: number;
  busCalls?: number;
}

export interface LocalCluster {
  readonly source: PromptSource;
  readonly generators: readonly Generator[];
  readonly judges: readonly Judge[];
  readonly learner: Learner;
  readonly evaluator: Evaluator | undefined;
  readonly registries: ReadonlyMap<string, MetricsRegistry>;
  /** Resolves with the summary when the run ends on its own (budget or totalSteps); rejects if an actor failed. */
  readonly done: Promise<ClusterSummary>;
  /** Ends the run early: drains every actor, checkpoints, and resolves with the summary. */
  stop(): Promise<ClusterSummary>;
}

const sum = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0);

export async function startLocalCluster(cfg: Config, bus: Bus, ports: ClusterPorts, inputs: ClusterInputs): Promise<LocalCluster> {
  const clock = inputs.clock ?? systemClock;
  const pollMs = inputs.pollMs ?? 25;
  const mode = cfg.run.mode;
  const phased = isPhased(cfg);
  const t0 = clock.now();
  const registries = new Map<string, MetricsRegistry>();
  const reporters: MetricsReporter[] = [];
  const actorStates = new Map<string, () => string>();
  const registry = (actorId: string, role: string, state: () => string): MetricsRegistry => {
    const r = new MetricsRegistry();
    registries.set(actorId, r);
    actorStates.set(actorId, state);
    reporters.push(new MetricsReporter(bus, r, { actorId, role, intervalMs: cfg.monitor.intervalMs, clock, state }));
    return r;
  };

  let sourceState = 'idle';
  const source = new PromptSource({ bus, clock, metrics: registry('source', 'prompt_source', () => sourceState) }, sourceOptions(cfg, inputs.prompts));
  const limit = backlogLimit(cfg);
  /** Streaming flow control: work queued downstream of the generators, in groups (one group makes at most one pair). */
  const admitGeneration = async (signal: AbortSignal): Promise<void> => {
    while (waitingWork(view.backlog()) >= limit && !signal.aborted) await clock.sleep(pollMs, signal);
  };
  const generators: Generator[] = [];
  for (let i = 0; i < cfg.generator.count; i++) {
    const id = `generator-${i}`;
    const g: Generator = new Generator(
      {
        bus,
        policy: await ports.policy('generator', i),
        decode: ports.decode,
        clock,
        metrics: registry(id, 'generator', () => g.state),
        ...(phased ? {} : { admit: admitGeneration }),
      },
      generatorOptions(cfg, id),
    );
    generators.push(g);
  }
  const judges: Judge[] = [];
  for (let i = 0; i < cfg.judge.count; i++) {
    const id = `judge-${i}`;
    const j: Judge = new Judge({ bus, scorer: await ports.scorer(i), clock, metrics: registry(id, 'judge', () => j.state), ...(inputs.desk ? { desk: inputs.desk } : {}) }, judgeOptions(cfg, id));
    judges.push(j);
  }
  const learner: Learner = new Learner(
    {
      bus,
      port: ports.learner,
      clock,
      metrics: registry('learner', 'learner', () => learner.state),
      ...(cfg.learner.syncCheckShare > 0 ? { syncPolicy: await ports.policy('sync', 0) } : {}),
      ...(inputs.log ? { log: inputs.log } : {}),
    },
    learnerOptions(cfg, 'learner', inputs.checkpointDir),
  );
  let evaluator: Evaluator | undefined;
  if (ports.gold && inputs.evalPrompts && inputs.evalPrompts.length > 0) {
    const ev: Evaluator = new Evaluator(
      {
        bus,
        policy: await ports.policy('evaluator', 0),
        reference: await ports.policy('reference', 0),
        scorer: await ports.scorer(cfg.judge.count),
        gold: ports.gold,
        decode: ports.decode,
        clock,
        metrics: registry('evaluator', 'evaluator', () => ev.state),
        ...(inputs.onEvalResponses ? { onResponses: inputs.onEvalResponses } : {}),
      },
      evaluatorOptions(cfg, 'evaluator', inputs.evalPrompts),
    );
    evaluator = ev;
  }

  const promptsSettled = (): number => sum(generators.map((g) => g.promptsSettled));
  const groupsSettled = (): number => sum(judges.map((j) => j.groupsSettled));
  const groupsPublished = (): number => sum(generators.map((g) => g.groupsPublished));
  const pairsPublished = (): number => sum(judges.map((j) => j.pairsPublished));
  const pairsUndelivered = (): number => Math.max(0, pairsPublished() - learner.pairsSeen);
  let sourceStarted = false;
  /** The counts a NATS run reads from the server, read here from the actors themselves. */
  const view: InProcessRunView = {
    source: () => (sourceStarted ? { published: source.published, budget: cfg.run.prompts, exhausted: source.exhausted, ts: clock.now() } : undefined),
    backlog: () => ({
      prompts: Math.max(0, source.published - promptsSettled()),
      samples: Math.max(0, groupsPublished() - groupsSettled()),
      pairs: pairsUndelivered() + learner.held,
      pairsUndelivered: pairsUndelivered(),
    }),
    pairsStored: () => ({ lastSeq: pairsPublished(), messages: pairsUndelivered() + learner.held }),
  };

  reporters.forEach((r) => r.start());
  await learner.init();
  generators.forEach((g) => g.start());
  judges.forEach((j) => j.start());
  evaluator?.start();

  const stopping = new AbortController();
  /** Rejects as soon as any continuously running actor fails, so the run never waits on a dead actor. */
  const failures = Promise.all([...generators.map((g) => g.finished), ...judges.map((j) => j.finished), evaluator?.finished]).then(() => new Promise<never>(() => {}));
  // Observed through the race below; this handler only keeps a failure no race is watching from being unhandled.
  failures.catch(() => undefined);
  // The same driver as a multi-process run's learner and source (run_driver.ts), over the in-process control plane.
  const driver = { control: new InProcessRunControl(view), clock, log: inputs.log ?? (() => undefined), signal: stopping.signal, closed: () => false, pollMs };
  const drive = async (): Promise<void> => {
    sourceStarted = true;
    if (phased) {
      const releasing = releasePhases(cfg, source, { ...driver, save: async () => undefined, setState: (s) => (sourceState = s) });
      releasing.catch(() => undefined);
      await Promise.race([driveLearner(cfg, learner, driver), releasing.then(() => new Promise<never>(() => {})), failures]);
    } else {
      sourceState = 'running';
      source.start();
      learner.start();
      const published = source.finished.then(() => (sourceState = 'exhausted'));
      // A source that fails ends the run as any actor's failure does.
      await Promise.race([driveLearner(cfg, learner, { ...driver, drainPollMs: pollMs }), published.then(() => new Promise<never>(() => {})), failures]);
    }
    sourceState = 'exhausted';
  };

  let finishing: Promise<ClusterSummary> | undefined;
  const finish = (): Promise<ClusterSummary> => {
    finishing ??= (async () => {
      stopping.abort();
      await source.stop();
      let failure: unknown;
      const settle = async (p: Promise<void>): Promise<void> => {
        try {
          await p;
        } catch (err) {
          failure ??= err;
        }
      };
      await Promise.all(generators.map((g) => settle(g.stop())));
      await Promise.all(judges.map((j) => settle(j.stop())));
      await settle(learner.finish(true));
      if (evaluator) {
        await settle(evaluator.stop());
        if (failure === undefined) await settle(evaluator.evaluateLatest().then(() => undefined));
      }
      await Promise.all(reporters.map((r) => r.stop()));
      if (failure !== undefined) throw failure;
      return summary();
    })();
    return finishing;
  };

  const summary = (): ClusterSummary => {
    const metrics: Record<string, Record<string, number>> = {};
    for (const [id, r] of registries) metrics[id] = r.snapshot();
    const total = (name: string): number => sum([...registries.values()].map((r) => r.snapshot()[name] ?? 0));
    return {
      mode,
      steps: learner.step,
      version: learner.version,
      promptsPublished: source.published,
      samplesGenerated: total('generator_samples_total'),
      samplesScored: total('judge_samples_scored_total'),
      pairs: total('judge_pairs_total'),
      ties: total('judge_ties_total'),
      pairsTrained: total('learner_pairs_trained_total'),
      pairsDroppedStale: total('learner_pairs_stale_dropped_total'),
      pairsDownweighted: total('learner_pairs_downweighted_total'),
      evals: evaluator ? [...evaluator.reports] : [],
      wallMs: clock.now() - t0,
      metrics,
    };
  };

  const done = (async () => {
    try {
      await drive();
    } catch (err) {
      if (!stopping.signal.aborted) {
        await finish().catch(() => undefined);
        throw err;
      }
    }
    return finish();
  })();
  // The caller may only use stop(); a failure still surfaces there.
  done.catch(() => undefined);

  return { source, generators, judges, learner, evaluator, registries, done, stop: finish };
}
