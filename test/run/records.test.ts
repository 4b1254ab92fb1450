// The run's summary from what is durable: the ledger of checkpoints, the actors' records and their metrics messages.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { headlineOf } from '../../src/run/online.js';
import { summarizeRecords } from '../../src/run/records.js';
import { actorsDir, ledgerFile } from '../../src/run/run_dir.js';

const pairs = (n: number, from: number) => Array.from({ length: n }, (_, i) => ({ pairId: `p:g${from + i}`, lag: 0, versions: [0, 0], weight: 1 }));

test('a continued run with a killed learner and a foreign judge: counts from the ledger and the metrics stream', () => {
  const runDir = mkdtempSync(join(tmpdir(), 'rlhf-records-'));
  // The ledger holds the whole run: 10 steps checkpointed in an earlier launch, 6 more in this one.
  const lines = [
    { step: 10, version: 5, pairs: pairs(40, 0), source: 'checkpoint', pid: 1, ts: 1 },
    { step: 14, version: 7, pairs: pairs(16, 40), source: 'checkpoint', pid: 2, ts: 2 },
    { step: 16, version: 8, pairs: pairs(8, 56), source: 'checkpoint', pid: 3, ts: 3 },
  ];
  writeFileSync(ledgerFile(runDir), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  mkdirSync(actorsDir(runDir), { recursive: true });
  const since = 1_000;
  // The learner's second incarnation wrote its record; the first was killed before it could.
  const record = (actorId: string, role: string, metrics: Record<string, number>, extra = {}) =>
    writeFileSync(join(actorsDir(runDir), `${actorId}.json`), JSON.stringify({ actorId, role, pid: 3, runId: 'r', startedAt: since + 5, endedAt: since + 9, exit: 'end', metrics, ...extra }));
  record('learner', 'learner', { learner_pairs_trained_total: 8 }, { steps: 16, version: 8 });
  record('judge-0', 'judge', { judge_pairs_total: 10, judge_samples_scored_total: 40 });
  const streamed = {
    learner: { role: 'learner', counters: { learner_pairs_trained_total: 24 } },
    'judge-0': { role: 'judge', counters: { judge_pairs_total: 12, judge_samples_scored_total: 48 } },
    'py-judge': { role: 'judge', counters: { judge_pairs_total: 14, judge_samples_scored_total: 56 } },
  };
  const s = summarizeRecords(runDir, 'streaming', since, 12_000, undefined, { streamed, stepsAtLaunch: 10 });
  assert.equal(s.steps, 16);
  assert.equal(s.version, 8);
  assert.equal(s.stepsThisLaunch, 6);
  assert.equal(s.pairsTrained, 64, 'as the ledger has them');
  assert.equal(s.pairs, 12 + 14, 'the larger count of each judge, the foreign one included');
  assert.equal(s.samplesScored, 48 + 56);
  assert.deepEqual(Object.keys(s.metrics).sort(), ['judge-0', 'learner', 'py-judge']);
  // The rate is over this launch's 6 steps and its 12 s, not the whole run's 16.
  assert.equal(headlineOf(s).stepsPerSecond, 6 / 12);
  // Where the pairs stream's count is known, it is the pairs made: a judge killed between reports made more than it said.
  assert.equal(summarizeRecords(runDir, 'streaming', since, 12_000, undefined, { streamed, stepsAtLaunch: 10, pairsStored: 70 }).pairs, 70);
});
