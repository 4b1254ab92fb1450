// The phase driver: how the learner trains one phase of the iterative and offline modes, on the pairs of that phase only.
import type { Clock } from '../clock.js';
import type { Delivery } from '../streams/bus.js';
import type { PairMsg } from '../streams/topics.js';
import type { HeldPair } from './learner.js';
import type { MetricsRegistry } from './metrics.js';

export class PhaseError extends Error {
  override name = 'PhaseError';
}

export interface PhaseResult {
  pairs: number;
  steps: number;
  droppedStale: number;
  version: number;
}

/** What the phase driver uses of the learner. */
export interface PhaseLearner {
  readonly step: number;
  readonly version: number;
  /** Pairs admitted and waiting for a step. */
  readonly batched: number;
  /** True once the learner was told to stop or finish. */
  readonly stopping: boolean;
  readonly clock: Clock;
  readonly metrics: MetricsRegistry;
  nextWithin(waitMs: number): Promise<Delivery<PairMsg> | undefined>;
  admit(d: Delivery<PairMsg>): Promise<HeldPair | undefined>;
  trainBatch(): Promise<void>;
  trainOn(entries: readonly HeldPair[]): Promise<void>;
  checkpointIfDue(): Promise<void>;
  wrapUp(): Promise<void>;
  /** Said while the phase waits for its labels, so pairs fetched meanwhile are kept from redelivery. */
  waitingForLabels(on: boolean): void;
  /** Gives the phase's training the cores generation left free; resolves to what puts the thread count back. */
  widenThreads(): Promise<() => Promise<void>>;
}

export interface PhaseOptions {
  /** The phase's pair count, known once labelling is done. */
  expected: Promise<number> | number;
  epochs: number;
  batchSize: number;
  /** Fail when no pair arrives for this long while the phase still expects some. */
  idleTimeoutMs: number;
  /**
   * The paper's loop: take no pair before the phase is labelled (`expected` resolved), so training never overlaps the
   * phase's generation. Otherwise the first pass trains pairs as they arrive.
   */
  startWhenLabelled?: boolean;
  /**
   * Pairs of this phase settled before they reached the learner (a checkpoint already trained them: their ack was lost
   * with a crash). The phase's count includes them, so they are counted here, not awaited.
   */
  settledElsewhere?: () => number;
}

/**
 * Trains on one phase's pairs and publishes one version at its end. With `startWhenLabelled` (the paper's loop) it
 * waits until the phase is labelled (`expected`: the phase's pair count) while the pairs wait in the stream; otherwise
 * pairs are taken while the judges still label. Either way the first pass steps on full batches in arrival order and
 * checkpoints (acking) on schedule, so both train the same pairs in the same order. A last smaller batch is trained
 * too, then `epochs - 1` more passes replay the phase's pairs from memory. Generation is paused by the caller
 * meanwhile. A crash mid-phase is not resumed: the phase's acked pairs are gone from the stream.
 */
export async function runPhase(l: PhaseLearner, o: PhaseOptions): Promise<PhaseResult> {
  const labels = phaseLabels(o.expected);
  if (o.startWhenLabelled) {
    l.waitingForLabels(true);
    try {
      // Woken by the labels, or every 100 ms to notice a stop.
      while (labels.total === undefined && labels.failure === undefined && !l.stopping) await Promise.race([labels.settled, l.clock.sleep(100)]);
    } finally {
      l.waitingForLabels(false);
    }
  }
  // The paper's loop trains while nothing else runs: the step takes the free cores, and gives them back at the end.
  const narrow = o.startWhenLabelled && labels.total !== undefined && !l.stopping ? await l.widenThreads() : undefined;
  try {
    return await trainPhase(l, o, labels);
  } finally {
    await narrow?.();
  }
}

/** The phase's pair count once labelling is done, or why it never will be. */
interface PhaseLabels {
  total?: number;
  failure?: unknown;
  settled: Promise<void>;
}

function phaseLabels(expected: Promise<number> | number): PhaseLabels {
  const labels: PhaseLabels = { settled: Promise.resolve() };
  labels.settled = Promise.resolve(expected).then(
    (n) => void (labels.total = n),
    (err: unknown) => void (labels.failure = err ?? new PhaseError('the phase was abandoned')),
  );
  return labels;
}

async function trainPhase(l: PhaseLearner, o: PhaseOptions, labels: PhaseLabels): Promise<PhaseResult> {
  const dropped = l.metrics.counter('learner_pairs_stale_dropped_total');
  const dropped0 = dropped.value;
  const steps0 = l.step;
  const phase: HeldPair[] = [];
  let lastArrival = l.clock.now();
  let seen = 0;
  const elsewhere = o.settledElsewhere ?? (() => 0);
  while (labels.total === undefined || seen + elsewhere() < labels.total) {
    if (labels.failure !== undefined) throw labels.failure;
    if (l.stopping) break;
    const d = await l.nextWithin(100);
    if (!d) {
      if (labels.total !== undefined && l.clock.now() - lastArrival > o.idleTimeoutMs) {
        throw new PhaseError(`phase expected ${labels.total} pairs but none arrived for ${o.idleTimeoutMs} ms after ${seen} (and ${elsewhere()} already trained)`);
      }
      continue;
    }
    lastArrival = l.clock.now();
    seen++;
    const e = await l.admit(d);
    if (e) phase.push(e);
    if (l.batched >= o.batchSize) await trainAndCheckpoint(l);
  }
  if (l.batched > 0 && !l.stopping) await trainAndCheckpoint(l);
  for (let e = 1; e < o.epochs && !l.stopping; e++) {
    for (let i = 0; i < phase.length && !l.stopping; i += o.batchSize) await l.trainOn(phase.slice(i, i + o.batchSize));
  }
  if (l.step > steps0) await l.wrapUp();
  return { pairs: phase.length, steps: l.step - steps0, droppedStale: dropped.value - dropped0, version: l.version };
}

/** A phase step checkpoints on schedule but does not publish: a phase publishes once, at its end. */
async function trainAndCheckpoint(l: PhaseLearner): Promise<void> {
  await l.trainBatch();
  await l.checkpointIfDue();
}
