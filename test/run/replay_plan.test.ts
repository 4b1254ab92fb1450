// The replay plan read from a run folder: steps in order with the very pairs trained, and clear errors for a gap, a
// missing pair, or a ledger written without step records.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pairDigest, PairJournal, pairJournalFile } from '../../src/run/pair_journal.js';
import { readReplayPlan } from '../../src/run/replay_plan.js';
import { ledgerFile } from '../../src/run/run_dir.js';
import type { LedgerEntry, StepRecord } from '../../src/run/trained_ledger.js';
import { pair } from '../actors/fakes.js';

function runWith(lines: Partial<LedgerEntry>[], journaled: ReturnType<typeof pair>[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'rlhf-plan-'));
  const j = new PairJournal(pairJournalFile(dir));
  journaled.forEach((p) => j.append(p));
  j.close();
  for (const l of lines) appendFileSync(ledgerFile(dir), `${JSON.stringify({ pairs: [], source: 'checkpoint', pid: 1, ts: 0, version: 0, ...l })}\n`);
  return dir;
}

const stepOf = (step: number, ps: ReturnType<typeof pair>[]): StepRecord => ({ step, pairIds: ps.map((p) => p.pairId), digests: ps.map(pairDigest), weights: ps.map(() => 1) });

test('the plan takes the copy of a pair each step trained, by digest, in ledger order, across lines', () => {
  const [a, b, c] = [pair('a', 0), pair('b', 0), pair('c', 1)];
  const a2 = { ...pair('a', 2), margin: 5 };
  const dir = runWith(
    [
      { step: 1, steps: [stepOf(1, [b, a])], publishes: [{ step: 1, version: 1, sha256: 'x' }] },
      { step: 3, steps: [stepOf(2, [c]), stepOf(3, [a2])] },
    ],
    [a, b, c, a2],
  );
  const plan = readReplayPlan(dir);
  assert.deepEqual(
    plan.steps.map((s) => [s.step, s.pairs.map((p) => `${p.pairId}:${p.margin}`)]),
    [
      [1, ['b:1', 'a:1']],
      [2, ['c:1']],
      [3, ['a:5']],
    ],
  );
  assert.deepEqual(plan.publishes, [{ step: 1, version: 1, sha256: 'x' }]);
  assert.equal(plan.pairSlots, 4);
  assert.equal(plan.distinctPairs, 3, 'pair id a twice: two different pairs under one id, as a rerun of the same run id makes');
});

test('a gap in the steps, a pair the journal lacks, or a line without step records is an error naming it', () => {
  const [a, b] = [pair('a', 0), pair('b', 0)];
  assert.throws(() => readReplayPlan(runWith([{ step: 1, steps: [stepOf(1, [a])] }, { step: 3, steps: [stepOf(3, [b])] }], [a, b])), /step 3 follows step 1; the record has a gap/);
  assert.throws(() => readReplayPlan(runWith([{ step: 1, steps: [stepOf(1, [a, b])] }], [a])), /step 1 trained pair b \(digest [0-9a-f]{16}\), which .*pairs\.log does not hold/);
  assert.throws(
    () => readReplayPlan(runWith([{ step: 1, pairs: [{ pairId: 'a', lag: 0, versions: [0, 0], weight: 1 }] }], [a])),
    /the line for step 1 has no step records \(written by a version without replay support\)/,
  );
  assert.throws(() => readReplayPlan(runWith([], [a])), /holds no committed checkpoint: nothing to replay/);
});
