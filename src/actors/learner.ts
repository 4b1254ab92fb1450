// Learner: consumes pairs, steps the preference loss, publishes policy versions, and acks a pair only once a checkpoint covers it.
import type { Config } from '../config/index.js';
import type { Bus, Delivery } from '../streams/bus.js';
import type { PairMsg } from '../streams/topics.js';
import type { Clock } from './clock.js';
import { heartbeatInterval, Inbox } from './inbox.js';
import { LAG_BUCKETS, type MetricsRegistry } from './metrics.js';
import type { LearnerPort, StepStats } from './ports.js';

export class LearnerError extends Error {
  override name = 'LearnerError';
}

export interface LearnerDeps {
  bus: Bus;
  port: LearnerPort;
  clock: Clock;
  metrics: MetricsRegistry;
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

/** What the learner writes into each checkpoint besides model and optimizer. */
export interface LearnerState {
  learnerId: string;
  step: number;
  version: number;
  /** Pairs trained since the previous checkpoint: acked right after this checkpoint, so a redelivery of one is a duplicate. */
  ackedAfterCheckpoint: string[];
  /** Pairs acked after earlier checkpoints, oldest first, at most COVERED_PAIR_IDS: a late duplicate of one is skipped too. */
  coveredPairIds?: string[];
}

/**
 * Pair ids remembered as trained and acked. A duplicate (a redelivery whose ack was lost, or a second publish of the same
 * pair outside the bus's duplicate window) arriving after this many newer pairs were acked would be trained again.
 */
export const COVERED_PAIR_IDS = 50_000;

/** Staleness: how many versions the older of the pair's two samples is behind the learner. */
export function policyLag(version: number, pair: PairMsg): number {
  return version - Math.min(pair.chosen.policyVersion, pair.rejected.policyVersion);
}

/**
 * The loss weight of a pair with lag `lag`: 1 up to maxLag; beyond it 'drop' gives 0 and 'downweight' halves the
 * weight per extra version, 0.5^(lag - maxLag) (stale pairs still count, less and less, instead of being wasted).
 */
export function stalenessWeight(lag: number, maxLag: number, policy: 'drop' | 'downweight'): number {
  if (lag <= maxLag) return 1;
  return policy === 'drop' ? 0 : 0.5 ** (lag - maxLag);
}

interface Entry {
  pair: PairMsg;
  /** Every delivery of this pair seen (a redelivery joins its first); all are acked together. */
  deliveries: Delivery<PairMsg>[];
  weight: number;
}

export interface PhaseResult {
  pairs: number;
  steps: number;
  droppedStale: number;
  version: number;
}

export class Learner {
  private stepCount = 0;
  private versionNow = 0;
  private lastPublishedStep = 0;
  private lastCheckpointStep = 0;
  private inbox: Inbox<PairMsg> | undefined;
  private initialised: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private heartbeat: NodeJS.Timeout | undefined;
  /** Pairs waiting for the next step, by pair id. */
  private batch = new Map<string, Entry>();
  /** Pairs trained on since the last checkpoint, held unacked, by pair id. */
  private trained = new Map<string, Entry>();
  /** Pairs acked after recent checkpoints (insertion-ordered, at most COVERED_PAIR_IDS); a redelivery of one is acked and skipped. */
  private covered = new Set<string>();
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

  constructor(
    private readonly deps: LearnerDeps,
    private readonly opts: LearnerOptions,
  ) {}

  get step(): number {
    return this.stepCount;
  }
  get version(): number {
    return this.versionNow;
  }
  get state(): string {
    return this.stateName;
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
      const s = saved as Partial<LearnerState>;
      if (typeof s.step !== 'number' || typeof s.version !== 'number' || !Array.isArray(s.ackedAfterCheckpoint)) {
        throw new LearnerError(`checkpoint in ${this.opts.checkpointDir} lacks learner state (step, version, ackedAfterCheckpoint); got keys ${Object.keys(saved).join(', ')}`);
      }
      this.stepCount = this.lastPublishedStep = this.lastCheckpointStep = s.step;
      this.versionNow = s.version;
      this.restoredVersion = s.version;
      this.covered = new Set(Array.isArray(s.coveredPairIds) ? s.coveredPairIds : []);
      this.cover(s.ackedAfterCheckpoint);
      this.deps.metrics.counter('learner_restores_total').inc();
    }
    const latest = await this.deps.bus.weights.latest();
    if (latest && latest.version > this.versionNow) {
      // Versions were published after the checkpoint and their steps are lost: announce the restored weights as a
      // newer version so generators leave the lost branch, and lag keeps counting from the newest version seen.
      this.versionNow = latest.version;
      await this.publish();
    }
    this.deps.metrics.gauge('learner_policy_version').set(this.versionNow);
    this.deps.metrics.gauge('learner_step_index').set(this.stepCount);
    const c = this.cfg;
    this.inbox = new Inbox(
      this.deps.bus.consume('pairs', { durable: LEARNER_DURABLE, maxAckPending: c.batchSize * (c.checkpointEvery + 2), ...(this.opts.ackWaitMs ? { ackWaitMs: this.opts.ackWaitMs } : {}) }),
      this.deps.clock,
    );
    this.heartbeat = setInterval(() => {
      for (const e of [...this.trained.values(), ...this.batch.values()]) e.deliveries.forEach((d) => d.working());
      this.inbox?.touch();
    }, heartbeatInterval(this.opts));
    this.heartbeat.unref();
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
  private async nextWithin(waitMs: number): Promise<Delivery<PairMsg> | undefined> {
    const ac = new AbortController();
    const onStop = (): void => ac.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(() => ac.abort(), waitMs);
    try {
      return await this.inbox!.next(ac.signal);
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onStop);
    }
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted && this.stepCount < this.cfg.totalSteps) {
      const d = await this.nextWithin(this.opts.starvedCheckpointMs ?? 5000);
      if (!d) {
        if (this.abort.signal.aborted) break;
        if (this.trained.size > 0) await this.checkpoint();
        continue;
      }
      const entry = await this.admit(d);
      if (!entry) continue;
      if (this.batch.size >= this.cfg.batchSize) await this.trainBatch([...this.batch.values()]);
    }
    if (this.stepCount >= this.cfg.totalSteps) await this.wrapUp();
  }

  /**
   * Decides what a delivery is: invalid (dead-lettered), a duplicate (joined to its first delivery, or acked when a
   * checkpoint already covers it), stale beyond maxPolicyLag under 'drop' (acked at once and counted: dropping is
   * a normal flow outcome, not a poison message, so it does not go to the dead-letter topic), or a pair to train on.
   */
  private async admit(d: Delivery<PairMsg>): Promise<Entry | undefined> {
    const m = this.deps.metrics;
    const p = d.data;
    this.pairsSeen++;
    if (p.runId !== this.deps.bus.runId) {
      m.counter('learner_pairs_invalid_total').inc();
      await d.deadLetter(`pair from run ${JSON.stringify(p.runId)}; this run is ${JSON.stringify(this.deps.bus.runId)}`);
      return undefined;
    }
    if (p.chosen.sampleId === p.rejected.sampleId) {
      m.counter('learner_pairs_invalid_total').inc();
      await d.deadLetter(`pair ${p.pairId} has the same sample ${p.chosen.sampleId} on both sides`);
      return undefined;
    }
    if (this.covered.has(p.pairId)) {
      m.counter('learner_pairs_duplicate_total').inc();
      await d.ack();
      return undefined;
    }
    const held = this.trained.get(p.pairId) ?? this.batch.get(p.pairId);
    if (held) {
      m.counter('learner_pairs_duplicate_total').inc();
      held.deliveries.push(d);
      return undefined;
    }
    const atVersion = d.deliveries > 1 && this.restoredVersion !== undefined ? Math.min(this.versionNow, this.restoredVersion) : this.versionNow;
    const lag = Math.max(0, policyLag(atVersion, p));
    m.histogram('learner_policy_lag', LAG_BUCKETS).observe(lag);
    const weight = stalenessWeight(lag, this.cfg.maxPolicyLag, this.cfg.stalePairs);
    if (weight === 0) {
      m.counter('learner_pairs_stale_dropped_total').inc();
      await d.ack();
      return undefined;
    }
    if (weight < 1) m.counter('learner_pairs_downweighted_total').inc();
    const entry: Entry = { pair: p, deliveries: [d], weight };
    this.batch.set(p.pairId, entry);
    return entry;
  }

  /**
   * One optimizer step on `entries`. 'stream' publishes and checkpoints on schedule; 'phase' only checkpoints (a phase
   * publishes once, at its end); 'replay' is a later epoch over pairs already held or acked, so it moves no deliveries.
   */
  private async trainBatch(entries: Entry[], mode: 'stream' | 'phase' | 'replay' | 'none' = 'stream'): Promise<void> {
    const m = this.deps.metrics;
    const t0 = this.deps.clock.now();
    const stats = await this.deps.port.step(
      entries.map((e) => e.pair),
      entries.map((e) => e.weight),
    );
    this.stepCount++;
    this.lastStats = stats;
    if (mode !== 'replay') {
      for (const e of entries) {
        this.batch.delete(e.pair.pairId);
        this.trained.set(e.pair.pairId, e);
      }
    }
    m.counter('learner_steps_total').inc();
    m.counter('learner_pairs_trained_total').inc(entries.length);
    m.histogram('learner_step_seconds').observe((this.deps.clock.now() - t0) / 1000);
    m.gauge('learner_step_index').set(this.stepCount);
    m.gauge('learner_loss').set(stats.loss);
    m.gauge('learner_grad_norm').set(stats.gradNorm);
    m.gauge('learner_lr').set(stats.lr);
    m.gauge('learner_reward_margin').set(stats.rewardMargin);
    m.gauge('learner_reward_accuracy').set(stats.rewardAccuracy);
    if (stats.kl !== undefined) m.gauge('learner_kl_nats').set(stats.kl);
    if (mode === 'stream' && this.stepCount % this.cfg.publishEvery === 0) await this.publish();
    if ((mode === 'stream' || mode === 'phase') && this.stepCount % this.cfg.checkpointEvery === 0) await this.checkpoint();
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
    const state: LearnerState = { learnerId: this.opts.learnerId, step: this.stepCount, version: this.versionNow, ackedAfterCheckpoint: ids, coveredPairIds: [...this.covered] };
    await this.deps.port.saveCheckpoint(this.opts.checkpointDir, state as unknown as Record<string, unknown>);
    this.lastCheckpointStep = this.stepCount;
    const held = [...this.trained.values()];
    this.trained.clear();
    await Promise.all(held.flatMap((e) => e.deliveries.map((d) => d.ack())));
    this.cover(ids);
    const m = this.deps.metrics;
    m.counter('learner_checkpoints_total').inc();
    m.counter('learner_pairs_acked_total').inc(held.length);
    m.histogram('learner_checkpoint_seconds').observe((this.deps.clock.now() - t0) / 1000);
  }

  /** Remembers pair ids as covered by a checkpoint, forgetting the oldest beyond COVERED_PAIR_IDS. */
  private cover(ids: readonly string[]): void {
    for (const id of ids) {
      this.covered.delete(id);
      this.covered.add(id);
    }
    for (const id of this.covered) {
      if (this.covered.size <= COVERED_PAIR_IDS) break;
      this.covered.delete(id);
    }
  }

  /** Publishes and checkpoints whatever the last schedule point did not cover. */
  private async wrapUp(): Promise<void> {
    if (this.lastPublishedStep !== this.stepCount) await this.publish();
    if (this.lastCheckpointStep !== this.stepCount || this.trained.size > 0) await this.checkpoint();
  }

  /**
   * Phase mode (iterative / offline): trains on one phase's pairs and publishes one version at its end. Pairs are taken
   * while the judges still label (holding a whole phase unacked would not fit a bounded topic); the first pass steps on
   * full batches in arrival order and checkpoints (acking) on schedule, exactly as training after labelling would; the
   * total is known once labelling is done (`expected`). A last smaller batch is trained too, then `epochs - 1` more
   * passes replay the phase's pairs from memory. Generation is paused by the caller meanwhile. A crash mid-phase is
   * not resumed: the phase's acked pairs are gone from the stream.
   */
  async trainPhase(expected: Promise<number> | number, epochs: number): Promise<PhaseResult> {
    if (this.loop) throw new LearnerError('trainPhase cannot run while the streaming loop runs');
    await this.init();
    this.stateName = 'training';
    const m = this.deps.metrics;
    const dropped0 = m.counter('learner_pairs_stale_dropped_total').value;
    const steps0 = this.stepCount;
    let total: number | undefined;
    let expectedFailure: unknown;
    Promise.resolve(expected).then(
      (n) => (total = n),
      (err: unknown) => (expectedFailure = err ?? new LearnerError('the phase was abandoned')),
    );
    const phase: Entry[] = [];
    const idle = this.opts.phaseIdleTimeoutMs ?? 60_000;
    let lastArrival = this.deps.clock.now();
    let seen = 0;
    const bs = this.cfg.batchSize;
    while (total === undefined || seen < total) {
      if (expectedFailure !== undefined) throw expectedFailure;
      if (this.abort.signal.aborted) break;
      const d = await this.nextWithin(100);
      if (!d) {
        if (total !== undefined && this.deps.clock.now() - lastArrival > idle) {
          throw new LearnerError(`phase expected ${total} pairs but none arrived for ${idle} ms after ${seen}`);
        }
        continue;
      }
      lastArrival = this.deps.clock.now();
      seen++;
      const e = await this.admit(d);
      if (e) phase.push(e);
      if (this.batch.size >= bs) await this.trainBatch([...this.batch.values()], 'phase');
    }
    if (this.batch.size > 0 && !this.abort.signal.aborted) await this.trainBatch([...this.batch.values()], 'phase');
    for (let e = 1; e < epochs && !this.abort.signal.aborted; e++) {
      for (let i = 0; i < phase.length && !this.abort.signal.aborted; i += bs) await this.trainBatch(phase.slice(i, i + bs), 'replay');
    }
    if (this.stepCount > steps0) await this.wrapUp();
    this.stateName = 'idle';
    return {
      pairs: phase.length,
      steps: this.stepCount - steps0,
      droppedStale: m.counter('learner_pairs_stale_dropped_total').value - dropped0,
      version: this.versionNow,
    };
  }

  /**
   * Streaming mode's early end (the prompt budget ran out and the pipeline drained): trains the partial batch if
   * `flushPartial`, then publishes and checkpoints.
   */
  async finish(flushPartial = true): Promise<void> {
    this.abort.abort();
    await this.loop;
    // A run that reached totalSteps takes no extra step; one that ran out of pairs trains on what it holds.
    if (flushPartial && this.batch.size > 0 && this.stepCount < this.cfg.totalSteps) await this.trainBatch([...this.batch.values()], 'none');
    if (this.stepCount > 0) await this.wrapUp();
    await this.close();
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
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
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
