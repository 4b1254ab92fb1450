// The run's record of trained pairs: one line per committed checkpoint, listing the pairs that checkpoint made durable.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, fsyncSync, openSync, closeSync, readFileSync } from 'node:fs';
import { policyLag } from '../actors/admission.js';
import { parseJsonl } from '../data/text.js';
import type { LearnerPort, StepStats } from '../actors/ports.js';
import type { Bus, ConsumeOptions, Delivery, Subscription } from '../streams/bus.js';
import type { PairMsg, TopicName, Topics } from '../streams/topics.js';
import { overrideBus } from './resilient_bus.js';
import { pairDigest } from './pair_journal.js';

export class LedgerError extends Error {
  override name = 'LedgerError';
}

export interface TrainedPair {
  pairId: string;
  /** Learner version minus the older sample's version when the pair was trained. */
  lag: number;
  /** Policy versions of the chosen and rejected samples. */
  versions: [number, number];
  /** Loss weight (below 1: a stale pair down-weighted). */
  weight: number;
}

/** One optimizer step: its pairs in the order the loss saw them, with their loss weights. */
export interface StepRecord {
  step: number;
  pairIds: string[];
  /** Each pair's content digest (pairDigest), so a replay takes the very copy trained. */
  digests: string[];
  weights: number[];
}

/** One weights export (a published version): after which step, and the sha256 of the bytes. */
export interface PublishRecord {
  step: number;
  version: number;
  sha256: string;
}

export interface LedgerEntry {
  /** Learner step of the checkpoint. */
  step: number;
  version: number;
  /** Pairs trained since the previous checkpoint, acked right after this one. */
  pairs: TrainedPair[];
  /** 'checkpoint': written after the save; 'restore': a checkpoint whose line a crash cut off, recovered at restart. */
  source: 'checkpoint' | 'restore';
  /** Every step since the previous checkpoint, in order (a replay retrains exactly these). Absent in older ledgers. */
  steps?: StepRecord[];
  /** Every weights export since the previous checkpoint, in order (a replay checks its own versions against them). */
  publishes?: PublishRecord[];
  pid: number;
  ts: number;
}

/** The checkpoint state key the ledger adds, so a restart can recover a line lost between save and append. */
const STATE_KEY = 'trainedPairs';
const STEPS_KEY = 'trainedSteps';
const PUBLISHES_KEY = 'trainedPublishes';

export function readLedger(file: string): LedgerEntry[] {
  if (!existsSync(file)) return [];
  return parseJsonl<LedgerEntry>(readFileSync(file, 'utf8'), (line, err) => new LedgerError(`${file} line ${line} is not JSON: ${err.message}`));
}

function appendDurably(file: string, line: string): void {
  appendFileSync(file, line);
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Wraps the learner's port: notes each trained pair's lag and versions at step time, and after every committed
 * checkpoint appends the pairs it covers to the ledger. Steps lost to a crash never reach the ledger (their pairs are
 * redelivered and trained again), so a pair id appearing twice in the ledger means it was trained twice.
 */
export class LedgeredLearnerPort implements LearnerPort {
  private readonly noted = new Map<string, TrainedPair>();
  private notedSteps: StepRecord[] = [];
  private notedPublishes: PublishRecord[] = [];
  /** Steps taken so far, the restored checkpoint's included. */
  private steps = 0;
  /** Every pair id a committed checkpoint holds, over the whole run (all lines of the ledger). */
  readonly trained: Set<string>;

  constructor(
    private readonly inner: LearnerPort,
    readonly file: string,
    /** The learner's current version (pairs are admitted and trained at the same version). */
    private readonly version: () => number,
    /** Runs before each checkpoint is written (the pair journal makes its appends durable there). */
    private readonly beforeSave: () => void = () => undefined,
  ) {
    this.trained = new Set(readLedger(file).flatMap((e) => e.pairs.map((p) => p.pairId)));
  }

  step(pairs: PairMsg[], weights: number[]): Promise<StepStats> {
    const v = this.version();
    pairs.forEach((p, i) => {
      this.noted.set(p.pairId, { pairId: p.pairId, lag: policyLag(v, p), versions: [p.chosen.policyVersion, p.rejected.policyVersion], weight: weights[i]! });
    });
    this.steps++;
    this.notedSteps.push({ step: this.steps, pairIds: pairs.map((p) => p.pairId), digests: pairs.map(pairDigest), weights: [...weights] });
    return this.inner.step(pairs, weights);
  }

  async exportWeights(): Promise<Uint8Array> {
    const bytes = await this.inner.exportWeights();
    // The learner announces these bytes as its next version.
    this.notedPublishes.push({ step: this.steps, version: this.version() + 1, sha256: createHash('sha256').update(bytes).digest('hex') });
    return bytes;
  }

  setThreads(threads: number): Promise<number> {
    return this.inner.setThreads ? this.inner.setThreads(threads) : Promise.resolve(0);
  }

  async saveCheckpoint(dir: string, state: Record<string, unknown>): Promise<void> {
    const ids = Array.isArray(state.ackedAfterCheckpoint) ? (state.ackedAfterCheckpoint as string[]) : [];
    const pairs = ids.map((id) => {
      const p = this.noted.get(id);
      if (!p) throw new LedgerError(`checkpoint at step ${String(state.step)} covers pair ${id}, which no step of this process trained`);
      return p;
    });
    const steps = this.notedSteps;
    const publishes = this.notedPublishes;
    this.beforeSave();
    await this.inner.saveCheckpoint(dir, { ...state, [STATE_KEY]: pairs, [STEPS_KEY]: steps, [PUBLISHES_KEY]: publishes });
    if (pairs.length > 0 || steps.length > 0 || publishes.length > 0) {
      this.append({ step: Number(state.step), version: Number(state.version), pairs, source: 'checkpoint', steps, publishes });
    }
    ids.forEach((id) => this.noted.delete(id));
    this.notedSteps = [];
    this.notedPublishes = [];
  }

  /** The version of the checkpoint the learner restored, once it has (a publish at restore announces its successor). */
  restoredVersion: number | undefined;

  async loadCheckpoint(dir: string): Promise<Record<string, unknown> | undefined> {
    const state = await this.inner.loadCheckpoint(dir);
    const pairs = state?.[STATE_KEY];
    const steps = state?.[STEPS_KEY];
    const publishes = state?.[PUBLISHES_KEY];
    if (state) {
      this.steps = Number(state.step) || 0;
      this.restoredVersion = Number(state.version) || 0;
    }
    const any = (x: unknown): x is unknown[] => Array.isArray(x) && x.length > 0;
    if (state && (any(pairs) || any(steps) || any(publishes))) {
      const step = Number(state.step);
      const last = readLedger(this.file).at(-1);
      // The crash came after the save and before the append: the checkpoint is the truth, the line is rewritten from it.
      if (!last || last.step < step) {
        this.append({
          step,
          version: Number(state.version),
          pairs: (Array.isArray(pairs) ? pairs : []) as TrainedPair[],
          source: 'restore',
          ...(Array.isArray(steps) ? { steps: steps as StepRecord[] } : {}),
          ...(Array.isArray(publishes) ? { publishes: publishes as PublishRecord[] } : {}),
        });
      }
    }
    return state;
  }

  private append(e: Omit<LedgerEntry, 'pid' | 'ts'>): void {
    const entry: LedgerEntry = { ...e, pid: process.pid, ts: Date.now() };
    appendDurably(this.file, `${JSON.stringify(entry)}\n`);
    e.pairs.forEach((p) => this.trained.add(p.pairId));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A subscription without the deliveries `skip` settles itself. */
class FilteredSubscription<T> implements Subscription<T> {
  constructor(
    private readonly inner: Subscription<T>,
    private readonly skip: (d: Delivery<T>) => Promise<boolean>,
  ) {}

  stop(): Promise<void> {
    return this.inner.stop();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Delivery<T>> {
    for await (const d of this.inner) if (!(await this.skip(d))) yield d;
  }
}

/**
 * The learner's bus, where a pair some committed checkpoint already holds is acked and never reaches the learner.
 * The learner itself remembers only the last checkpoint's pairs; a server that crashes can lose acks older than that
 * (its stream and consumer state roll back to their last flush) and redeliver pairs trained long ago.
 */
export function skipTrainedPairs(bus: Bus, trained: ReadonlySet<string>, onSkip: (pair: PairMsg, seq: number) => void): Bus {
  const consume = <K extends TopicName>(topic: K, opts: ConsumeOptions): Subscription<Topics[K]> => {
    const sub = bus.consume(topic, opts);
    if (topic !== 'pairs') return sub;
    return new FilteredSubscription(sub, async (d) => {
      const pair = d.data as PairMsg;
      if (!trained.has(pair.pairId)) return false;
      onSkip(pair, d.seq);
      await d.ack();
      return true;
    });
  };
  return overrideBus(bus, { consume: consume as Bus['consume'] });
}
