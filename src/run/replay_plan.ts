// What a replay retrains, read from a run folder: the learner's steps in order with their pairs, and its weight exports.
import type { PairMsg } from '../streams/topics.js';
import { readPairJournal, pairJournalFile } from './pair_journal.js';
import { ledgerFile } from './run_dir.js';
import { readLedger, type PublishRecord, type StepRecord } from './trained_ledger.js';

export class ReplayPlanError extends Error {
  override name = 'ReplayPlanError';
}

export interface ReplayStep extends StepRecord {
  pairs: PairMsg[];
}

export interface ReplayPlan {
  runDir: string;
  steps: ReplayStep[];
  /** The original's weight exports (published versions) in order, each after the step it names. */
  publishes: PublishRecord[];
  /** Distinct pairs the steps train, and how many step slots they fill (more when a phase trained epochs). */
  distinctPairs: number;
  pairSlots: number;
  /** Pairs the journal holds that no step trained (stale, dropped, or delivered after the last checkpoint). */
  untrainedPairs: number;
}

/**
 * The plan from the ledger (committed checkpoints only: steps a crash lost were retrained after the restart and are
 * recorded then) and the pair journal. Fails, naming what is wrong, on a ledger without step records, a gap in the
 * steps, or a pair the journal lacks.
 */
export function readReplayPlan(runDir: string): ReplayPlan {
  const ledger = readLedger(ledgerFile(runDir));
  if (ledger.length === 0) throw new ReplayPlanError(`${ledgerFile(runDir)} holds no committed checkpoint: nothing to replay`);
  const pairs = readPairJournal(pairJournalFile(runDir));
  const steps: ReplayStep[] = [];
  const publishes: PublishRecord[] = [];
  for (const e of ledger) {
    if (!e.steps) {
      if (e.pairs.length > 0) throw new ReplayPlanError(`${ledgerFile(runDir)}: the line for step ${e.step} has no step records (written by a version without replay support)`);
      continue;
    }
    for (const s of e.steps) {
      const expected = (steps.at(-1)?.step ?? 0) + 1;
      if (s.step !== expected) throw new ReplayPlanError(`${ledgerFile(runDir)}: step ${s.step} follows step ${expected - 1}; the record has a gap`);
      if (s.pairIds.length !== s.weights.length || s.pairIds.length === 0) throw new ReplayPlanError(`${ledgerFile(runDir)}: step ${s.step} has ${s.pairIds.length} pairs and ${s.weights.length} weights`);
      const ps = s.pairIds.map((id, i) => {
        const p = pairs.get(id, s.digests?.[i]);
        if (!p) throw new ReplayPlanError(`step ${s.step} trained pair ${id}${s.digests ? ` (digest ${s.digests[i]})` : ''}, which ${pairJournalFile(runDir)} does not hold`);
        return p;
      });
      steps.push({ ...s, pairs: ps });
    }
    publishes.push(...(e.publishes ?? []));
  }
  const trained = new Set(steps.flatMap((s) => s.pairIds));
  return {
    runDir,
    steps,
    publishes,
    distinctPairs: trained.size,
    pairSlots: steps.reduce((n, s) => n + s.pairIds.length, 0),
    untrainedPairs: [...pairs.ids()].filter((id) => !trained.has(id)).length,
  };
}
