// What the learner keeps across restarts: the state saved in each checkpoint and the pair ids a checkpoint covers.

export class LearnerStateError extends Error {
  override name = 'LearnerStateError';
}

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

/** The learner state in a loaded checkpoint, checked; `dir` names the checkpoint in the error. */
export function learnerStateOf(saved: Record<string, unknown>, dir: string): LearnerState {
  const s = saved as Partial<LearnerState>;
  if (typeof s.step !== 'number' || typeof s.version !== 'number' || !Array.isArray(s.ackedAfterCheckpoint)) {
    throw new LearnerStateError(`checkpoint in ${dir} lacks learner state (step, version, ackedAfterCheckpoint); got keys ${Object.keys(saved).join(', ')}`);
  }
  return s as LearnerState;
}

/** Pair ids covered by a checkpoint, oldest first, forgetting the oldest beyond `limit`. */
export class CoveredPairs {
  private readonly ids = new Set<string>();

  constructor(private readonly limit = COVERED_PAIR_IDS) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Remembers `ids` as the newest covered ones. */
  add(ids: readonly string[]): void {
    for (const id of ids) {
      this.ids.delete(id);
      this.ids.add(id);
    }
    for (const id of this.ids) {
      if (this.ids.size <= this.limit) break;
      this.ids.delete(id);
    }
  }

  toArray(): string[] {
    return [...this.ids];
  }
}
