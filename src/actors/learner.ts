// Learner: consume -> admit -> step -> publish -> checkpoint/ack. It acks a pair only once a checkpoint covers it;
// admission is decided in admission.ts, the phase-driven modes (iterative, offline) in learner_phase.ts.
import { availableParallelism } from 'node:os';
import type { Config } from '../config/index.js';
import type { Bus, Delivery } from '../streams/bus.js';
import type { PairMsg } from '../streams/topics.js';
import type { Clock } from '../clock.js';
import { admitPair } from './admission.js';
import { openInbox, type Inbox } from './inbox.js';
import { runPhase, type PhaseResult } from './learner_phase.js';
import { LAG_BUCKETS, type MetricsRegistry } from './metrics.js';
import { CoveredPairs, learnerStateOf, type LearnerState } from './learner_state.js';
import type { LearnerPort, PolicyPort, StepStats } from './ports.js';
import { SyncChecker } from './sync_check.js';

export class LearnerError extends Error {
  override name = 'LearnerError';
}

export interface LearnerDeps {
  bus: Bus;
  port: LearnerPort;
  clock: Clock;
  metrics: MetricsRegistry;
  /**
   * A policy port for the weight-sync check (sync_check.ts), holding the SFT weights at start: it loads the versions
   * samples name and recomputes their log-probs. Without it (or with learner.syncCheckShare 0) nothing is checked.
   */
  syncPolicy?: PolicyPort;
  /** Where warnings go (default: stderr). */
  log?: (line: string) => void;
}

export interface LearnerOptions {
  learnerId: string;
  config: Config['learner'];
  checkpointDir: string;
  /** The consumer's ack wait (default: the bus's); held pairs get their deadline extended every third of it. */
  ackWaitMs?: number;
  /** How often held (unacked) pairs get their ack deadline extended (default ackWaitMs / 3, else 5 s). */
  heartbeatMs?: number;
  /**
   * With trained-but-unacked pairs held and no pair arriving for this long, checkpoint early: the acks free room on a
   * bounded pairs topic whose judges may be waiting for it (otherwise a topic smaller than batchSize * checkpointEvery deadlocks).
   */
  starvedCheckpointMs?: number;
  /** Phase mode: fail when no pair arrives for this long while a phase still expects some. */
  phaseIdleTimeoutMs?: number;
}

export const LEARNER_DURABLE = 'learner';

/** max_ack_pending of the learner's durable: the pairs trained but not yet checkpointed, plus two batches. */
export function learnerMaxAckPending(c: { batchSize: number; checkpointEvery: number }): number {
  return c.batchSize * (c.checkpointEvery + 2);
}

/** A pair the learner holds unacked, with every delivery of it. */
export interface HeldPair {
  pair: PairMsg;
  /** Every delivery of this pair seen (a redelivery joins its first); all are acked together. */
  deliveries: Delivery<PairMsg>[];
  weight: number;
}

export class Learner {
  private stepCount = 0;
  private versionNow = 0;
  private lastPublishedStep = 0;
  private lastCheckpointStep = 0;
  /** The version the last checkpoint recorded: a publish after it (the run's final one) makes that checkpoint out of date. */
  private lastCheckpointVersion = 0;
  private inbox: Inbox<PairMsg> | undefined;
  /** A phase waits for its labels: the pairs fetched meanwhile stay queued, and the heartbeat keeps them. */
  private awaitingLabels = false;
  private initialised: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();
  /** Pairs waiting for the next step, by pair id. */
  private batch = new Map<string, HeldPair>();
  /** Pairs trained on since the last checkpoint, held unacked, by pair id. */
  private trained = new Map<string, HeldPair>();
  /** Pairs acked after recent checkpoints; a redelivery of one is acked and skipped. */
  private covered = new CoveredPairs();
  /**
   * The version this learner restored from its checkpoint. A pair delivered again after a restart was first delivered to
   * the learner that died, at this version or later: its lag is measured against it, so the pair keeps the place it had
   * instead of being judged against versions published while it waited out bus.ackWaitMs.
   */
  private restoredVersion: number | undefined;
  private stateName = 'idle';
  lastStats: StepStats | undefined;
  /** Pair deliveries taken so far (duplicates and stale ones included): the cluster's drain check counts them. */
  pairsSeen = 0;
  /** The weight-sync check, when a check policy was given and learner.syncCheckShare > 0. */
  readonly sync: SyncChecker | undefined;

  constructor(
    private readonly deps: LearnerDeps,
    private readonly opts: LearnerOptions,
  ) {
    const p = deps.syncPolicy;
    if (p?.tokenLogprobs && opts.config.syncCheckShare > 0) {
      const c = opts.config;
      this.sync = new SyncChecker(
        { weights: deps.bus.weights, policy: p as PolicyPort & Required<Pick<PolicyPort, 'tokenLogprobs'>>, metrics: deps.metrics, log: deps.log ?? ((l) => process.stderr.write(`${l}\n`)) },
        { share: c.syncCheckShare, warn: c.syncMismatchWarn, stop: c.syncMismatchStop },
      );
    }
  }

  /** Stops the run when the weight-sync check found generators sampling with other weights (learner.syncMismatchStop). */
  private checkSync(): void {
    if (this.sync?.failure) throw this.sync.failure;
  }

  get step(): number {
    return this.stepCount;
  }
  get version(): number {
    return this.versionNow;
  }
  get state(): string {
    return this.stateName;
  }
  get stopping(): boolean {
    return this.abort.signal.aborted;
  }
  get clock(): Clock {
    return this.deps.clock;
  }
  get metrics(): MetricsRegistry {
    return this.deps.metrics;
  }
  /** Pairs held unacked: trained since the last checkpoint plus waiting for a step. */
  get held(): number {
    return this.trained.size + this.batch.size;
  }

  private get cfg(): Config['learner'] {
    return this.opts.config;
  }

  /** Restores the checkpoint (if any), reconciles the version with the weight store, and opens the pair stream. */
  init(): Promise<void> {
    this.initialised ??= this.restore();
    return this.initialised;
  }

  private async restore(): Promise<void> {
    const saved = await this.deps.port.loadCheckpoint(this.opts.checkpointDir);
    if (saved) {
      const s = learnerStateOf(saved, this.opts.checkpointDir);
      this.stepCount = this.lastPublishedStep = this.lastCheckpointStep = s.step;
      this.versionNow = this.lastCheckpointVersion = s.version;
      this.restoredVersion = s.version;
      this.covered = new CoveredPairs();
      this.covered.add(Array.isArray(s.coveredPairIds) ? s.coveredPairIds : []);
      this.covered.add(s.ackedAfterCheckpoint);
      this.deps.metrics.counter('learner_restores_total').inc();
    }
    const latest = await this.deps.bus.weights.latest();
    if (latest && latest.version > this.versionNow) {
      // Versions were published after the checkpoint and their steps are lost: announce the restored weights as a
      // newer version so generators leave the lost branch, and lag keeps counting from the newest version seen.
      this.versionNow = latest.version;
      await this.publish();
    } else if (saved && (latest === undefined || latest.version < this.versionNow)) {
      // The weight store lost what the checkpoint's version names (an in-process bus restarted with its process):
      // generators would start from the base weights at version 0, every pair they make would be too stale to
      // train, and the run would stall. Announce the restored weights so they start from them.
      await this.publish();
    }
    this.deps.metrics.gauge('learner_policy_version').set(this.versionNow);
    this.deps.metrics.gauge('learner_step_index').set(this.stepCount);
    const c = this.cfg;
    this.inbox = openInbox(
      this.deps.bus,
      'pairs',
      { durable: LEARNER_DURABLE, maxAckPending: learnerMaxAckPending(c), ackWaitMs: this.opts.ackWaitMs, heartbeatMs: this.opts.heartbeatMs },
      this.deps.clock,
      () => [...this.trained.values(), ...this.batch.values()].flatMap((e) => e.deliveries),
      () => this.awaitingLabels,
    );
  }

  /** Streaming mode: consumes until learner.totalSteps, then publishes and checkpoints. */
  start(): void {
    if (this.loop) return;
    this.stateName = 'running';
    this.loop = this.init().then(() => this.run());
  }

  /** Resolves when the streaming run reached totalSteps or was stopped; rejects with the error that stopped it. */
  get finished(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** The next pair, or undefined after `waitMs` without one (or when stopped / the stream ended). */
  async nextWithin(waitMs: number): Promise<Delivery<PairMsg> | undefined> {
    const ac = new AbortController();
    const onStop = (): void => ac.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    const timer = this.deps.clock.setTimeout(() => ac.abort(), waitMs);
    try {
      return await this.inbox!.next(ac.signal);
    } finally {
      this.deps.clock.clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onStop);
    }
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted && this.stepCount < this.cfg.totalSteps) {
      this.checkSync();
      const d = await this.nextWithin(this.opts.starvedCheckpointMs ?? 5000);
      if (!d) {
        if (this.abort.signal.aborted) break;
        if (this.trained.size > 0) await this.checkpoint();
        // An ended subscription answers at once: waiting again would spin and starve the event loop.
        if (this.inbox!.exhausted) throw new LearnerError('the pairs subscription ended while the learner still expected pairs');
        continue;
      }
      if (!(await this.admit(d))) continue;
      if (this.batch.size < this.cfg.batchSize) continue;
      await this.trainBatch();
      if (this.stepCount % this.cfg.publishEvery === 0) await this.publish();
      await this.checkpointIfDue();
    }
    if (this.stepCount >= this.cfg.totalSteps) await this.wrapUp();
  }

  /**
   * Takes one delivery as admitPair decides: invalid goes to the dead letters; a duplicate is acked when a checkpoint
   * already covers it, else joins its first delivery; a stale pair under 'drop' is acked at once and counted (a normal
   * flow outcome, not a poison message); a pair to train on waits in the batch. Returns it in that last case.
   */
  async admit(d: Delivery<PairMsg>): Promise<HeldPair | undefined> {
    const m = this.deps.metrics;
    const p = d.data;
    this.pairsSeen++;
    const held = { has: (id: string) => this.trained.has(id) || this.batch.has(id) };
    const version = d.deliveries > 1 && this.restoredVersion !== undefined ? Math.min(this.versionNow, this.restoredVersion) : this.versionNow;
    const a = admitPair({ runId: this.deps.bus.runId, version, maxPolicyLag: this.cfg.maxPolicyLag, stalePairs: this.cfg.stalePairs, covered: this.covered, held }, p);
    switch (a.kind) {
      case 'invalid':
        m.counter('learner_pairs_invalid_total').inc();
        await d.deadLetter(a.reason);
        return undefined;
      case 'duplicate':
        m.counter('learner_pairs_duplicate_total').inc();
        if (a.of === 'checkpointed') await d.ack();
        else (this.trained.get(p.pairId) ?? this.batch.get(p.pairId))!.deliveries.push(d);
        return undefined;
      case 'stale':
        m.histogram('learner_policy_lag', LAG_BUCKETS).observe(a.lag);
        m.counter('learner_pairs_stale_dropped_total').inc();
        await d.ack();
        return undefined;
      case 'train': {
        m.histogram('learner_policy_lag', LAG_BUCKETS).observe(a.lag);
        // Admission goes by the oldest version; with in-flight updates the newest one that sampled tokens shows the gain.
        m.histogram('learner_policy_lag_last', LAG_BUCKETS).observe(Math.max(0, version - Math.min(p.chosen.lastPolicyVersion ?? p.chosen.policyVersion, p.rejected.lastPolicyVersion ?? p.rejected.policyVersion)));
        if (a.weight < 1) m.counter('learner_pairs_downweighted_total').inc();
        this.sync?.offer(p);
        const entry: HeldPair = { pair: p, deliveries: [d], weight: a.weight };
        this.batch.set(p.pairId, entry);
        return entry;
      }
    }
  }

  /** Pairs admitted and waiting for a step. */
  get batched(): number {
    return this.batch.size;
  }

  /** One optimizer step on the waiting batch; its pairs are then held unacked until a checkpoint covers them. */
  async trainBatch(): Promise<void> {
    const entries = [...this.batch.values()];
    await this.trainOn(entries);
    for (const e of entries) {
      this.batch.delete(e.pair.pairId);
      this.trained.set(e.pair.pairId, e);
    }
  }

  /** One optimizer step on `entries`, with its metrics; it moves no deliveries (a replay epoch steps on pairs already held or acked). */
  async trainOn(entries: readonly HeldPair[]): Promise<void> {
    this.checkSync();
    const m = this.deps.metrics;
    const t0 = this.deps.clock.now();
    const stats = await this.deps.port.step(
      entries.map((e) => e.pair),
      entries.map((e) => e.weight),
    );
    this.stepCount++;
    this.lastStats = stats;
    m.counter('learner_steps_total').inc();
    m.counter('learner_pairs_trained_total').inc(entries.length);
    m.histogram('learner_step_seconds').observe((this.deps.clock.now() - t0) / 1000);
    m.gauge('learner_step_index').set(this.stepCount);
    m.gauge('learner_loss').set(stats.loss);
    m.gauge('learner_grad_norm').set(stats.gradNorm);
    m.gauge('learner_lr').set(stats.lr);
    m.gauge('learner_reward_margin').set(stats.rewardMargin);
    m.gauge('learner_reward_accuracy').set(stats.rewardAccuracy);
    if (stats.chosenLogRatio !== undefined) m.gauge('learner_chosen_logratio_nats').set(stats.chosenLogRatio);
    if (stats.pairKl !== undefined) m.gauge('learner_pair_kl_nats').set(stats.pairKl);
  }

  /** Checkpoints (and acks) when the step count reaches the checkpointEvery schedule. */
  async checkpointIfDue(): Promise<void> {
    if (this.stepCount % this.cfg.checkpointEvery === 0) await this.checkpoint();
  }

  /** Announces the current weights as the next version. */
  private async publish(): Promise<void> {
    const t0 = this.deps.clock.now();
    const bytes = await this.deps.port.exportWeights();
    const version = this.versionNow + 1;
    await this.deps.bus.weights.put(version, this.stepCount, bytes);
    this.versionNow = version;
    this.lastPublishedStep = this.stepCount;
    const m = this.deps.metrics;
    m.counter('learner_weight_publishes_total').inc();
    m.gauge('learner_policy_version').set(version);
    m.histogram('learner_publish_seconds').observe((this.deps.clock.now() - t0) / 1000);
  }

  /** Writes model, optimizer and learner state, then acks every pair the checkpoint covers. */
  private async checkpoint(): Promise<void> {
    const t0 = this.deps.clock.now();
    const ids = [...this.trained.keys()];
    const state: LearnerState = { learnerId: this.opts.learnerId, step: this.stepCount, version: this.versionNow, ackedAfterCheckpoint: ids, coveredPairIds: this.covered.toArray() };
    await this.deps.port.saveCheckpoint(this.opts.checkpointDir, state as unknown as Record<string, unknown>);
    this.lastCheckpointStep = this.stepCount;
    this.lastCheckpointVersion = this.versionNow;
    const held = [...this.trained.values()];
    this.trained.clear();
    await Promise.all(held.flatMap((e) => e.deliveries.map((d) => d.ack())));
    this.covered.add(ids);
    const m = this.deps.metrics;
    m.counter('learner_checkpoints_total').inc();
    m.counter('learner_pairs_acked_total').inc(held.length);
    m.histogram('learner_checkpoint_seconds').observe((this.deps.clock.now() - t0) / 1000);
  }

  /**
   * Publishes and checkpoints whatever the last schedule point did not cover. A checkpoint taken at the last step but
   * before the final publish recorded the previous version, so it is written again with the published one.
   */
  async wrapUp(): Promise<void> {
    if (this.lastPublishedStep !== this.stepCount) await this.publish();
    if (this.lastCheckpointStep !== this.stepCount || this.lastCheckpointVersion !== this.versionNow || this.trained.size > 0) await this.checkpoint();
  }

  /** learner.phaseThreads GEMM threads (0 = every core) for a phase of the paper's loop; resolves to the undo. */
  async widenThreads(): Promise<() => Promise<void>> {
    const port = this.deps.port;
    if (!port.setThreads) return async () => undefined;
    const before = await port.setThreads(this.cfg.phaseThreads || availableParallelism());
    return async () => {
      if (before > 0) await port.setThreads!(before);
    };
  }

  /** The phase driver's wait for labels (runPhase with startWhenLabelled). */
  waitingForLabels(on: boolean): void {
    this.awaitingLabels = on;
  }

  /** Phase mode (iterative / offline): trains on one phase's pairs and publishes one version at its end (learner_phase.ts). */
  async trainPhase(expected: Promise<number> | number, epochs: number, settledElsewhere?: () => number): Promise<PhaseResult> {
    if (this.loop) throw new LearnerError('trainPhase cannot run while the streaming loop runs');
    await this.init();
    this.stateName = 'training';
    const result = await runPhase(this, {
      expected,
      epochs,
      batchSize: this.cfg.batchSize,
      idleTimeoutMs: this.opts.phaseIdleTimeoutMs ?? 60_000,
      startWhenLabelled: this.cfg.phaseStart === 'labelled',
      ...(settledElsewhere ? { settledElsewhere } : {}),
    });
    this.stateName = 'idle';
    return result;
  }

  /**
   * Streaming mode's early end (the prompt budget ran out and the pipeline drained): trains the partial batch if
   * `flushPartial`, then publishes and checkpoints.
   */
  async finish(flushPartial = true): Promise<void> {
    this.abort.abort();
    await this.loop;
    // A run that reached totalSteps takes no extra step; one that ran out of pairs trains on what it holds.
    if (flushPartial && this.batch.size > 0 && this.stepCount < this.cfg.totalSteps) await this.trainBatch();
    if (this.stepCount > 0) await this.wrapUp();
    await this.close();
    // A mismatch found by the run's last checks still ends it with the reason.
    this.checkSync();
  }

  /** Finishes the step in flight, checkpoints what was trained (acking it), and hands untrained pairs back. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.stateName = 'draining';
    let failure: unknown;
    try {
      await this.loop;
      if (this.trained.size > 0) await this.checkpoint();
    } catch (err) {
      failure = err;
    }
    await this.close();
    if (failure !== undefined) throw failure;
  }

  private async close(): Promise<void> {
    // A check in flight uses the check policy, which its owner closes after the learner.
    await this.sync?.idle();
    for (const e of this.batch.values()) e.deliveries.forEach((d) => d.nak());
    this.batch.clear();
    if (this.inbox) {
      const left = await this.inbox.close();
      left.forEach((d) => d.nak());
      this.inbox = undefined;
    }
    this.stateName = 'stopped';
  }
}
