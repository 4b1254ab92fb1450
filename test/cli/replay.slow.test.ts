// Replay through the real CLI on the tiny config: a one-process run, then its replay (equal weights per version and at
// the checkpoint, equal gold scores), a record tampered with (caught), and a counterfactual loss (scored beside the original).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readReplayResult } from '../../src/run/replay.js';
import { readReplayPlan } from '../../src/run/replay_plan.js';
import { readLedger, type LedgerEntry } from '../../src/run/trained_ledger.js';
import { CACHE_DIR, CLI, tempRunsDir } from '../cluster/harness.js';

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('a one-process run replayed from its records: every version and the checkpoint bit-identical; a reordered record is caught; IPO on the same data is scored beside it', () => {
  const runs = tempRunsDir();
  const run = cli(['run', '--config', 'config/tiny.yaml', '--set', `run.cacheDir=${CACHE_DIR}`, '--set', `run.dir=${runs}`, '--set', 'run.id=orig']);
  assert.equal(run.code, 0, run.err);
  const runDir = join(runs, 'orig');

  // The record: every step in order, each pair trained once, every version's hash.
  const plan = readReplayPlan(runDir);
  assert.deepEqual(
    plan.steps.map((s) => s.step),
    [1, 2, 3, 4, 5, 6],
  );
  assert.ok(plan.steps.every((s) => s.pairs.length === 4));
  assert.equal(plan.distinctPairs, plan.pairSlots, 'no pair trained twice');
  assert.deepEqual(
    plan.publishes.map((p) => [p.version, p.step]),
    [
      [1, 2],
      [2, 4],
      [3, 6],
    ],
  );

  const exact = cli(['replay', '--run', runDir, '--eval']);
  assert.equal(exact.code, 0, exact.err + exact.out);
  assert.match(exact.out, /every version equal to the original; the checkpoint at step 6 bit-identical/);
  const r = readReplayResult(join(runDir, 'replays', 'exact'));
  assert.equal(r.versions.length, 3);
  assert.ok(r.versions.every((v) => v.equal && v.sha256 === v.originalSha256));
  assert.deepEqual(r.checkpoint && [r.checkpoint.equal, r.checkpoint.step, r.checkpoint.differing], [true, 6, []]);
  // Same weights, same evaluator: the replay's gold scores are the original's, version by version.
  const original = readFileSync(join(runDir, 'responses.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { version: number; response: string; gold: number });
  const replayed = readFileSync(join(runDir, 'replays', 'exact', 'responses.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { version: number; response: string; gold: number });
  assert.ok(r.scores.length >= 2, 'the versions the run evaluated were scored');
  for (const s of r.scores) {
    const a = original.filter((x) => x.version === s.version);
    const b = replayed.filter((x) => x.version === s.version);
    assert.ok(a.length > 0);
    assert.deepEqual(
      b.map((x) => [x.response, x.gold]),
      a.map((x) => [x.response, x.gold]),
      `version ${s.version}: the same answers and gold scores`,
    );
    assert.equal(s.replay?.mean, s.original?.mean);
  }

  // Two steps swapped in a copy of the record: the replay trains them in that order and the check fails from version 1.
  const tampered = join(runs, 'tampered');
  cpSync(runDir, tampered, { recursive: true });
  const ledger = readLedger(join(tampered, 'trained_pairs.jsonl'));
  const first = ledger[0]!.steps!;
  [first[0], first[1]] = [{ ...first[1]!, step: 1 }, { ...first[0]!, step: 2 }];
  writeFileSync(join(tampered, 'trained_pairs.jsonl'), ledger.map((e: LedgerEntry) => JSON.stringify(e)).join('\n') + '\n');
  const caught = cli(['replay', '--run', tampered]);
  assert.equal(caught.code, 1, caught.err + caught.out);
  assert.match(caught.out, /NOT equal: versions 1, 2, 3; checkpoint tensors /);

  // A counterfactual: IPO on the same recorded pairs; its versions differ and are scored beside the original's.
  const ipo = cli(['replay', '--run', runDir, '--set', 'learner.loss=ipo', '--eval']);
  assert.equal(ipo.code, 0, ipo.err + ipo.out);
  assert.match(ipo.out, /counterfactual \(learner\.loss=ipo\): 3 of 3 versions differ from the original/);
  const c = readReplayResult(join(runDir, 'replays', 'learner.loss=ipo'));
  assert.equal(c.counterfactual, true);
  assert.ok(c.scores.every((s) => s.original !== undefined && s.replay !== undefined && s.replay.lo <= s.replay.mean && s.replay.mean <= s.replay.hi));
  assert.match(readFileSync(join(runDir, 'replays', 'learner.loss=ipo', 'report.md'), 'utf8'), /\| version \| step \| gold: original \| gold: replay \| win rate: original \| win rate: replay \|/);
});

test('an iterative run with two epochs per phase replays exactly: the pairs of each phase twice, stepped with the GEMM threads of its phases', () => {
  const runs = tempRunsDir();
  const run = cli(['run', '--config', 'config/tiny.yaml', '--mode', 'iterative', '--set', 'learner.epochsPerPhase=2', '--set', `run.cacheDir=${CACHE_DIR}`, '--set', `run.dir=${runs}`, '--set', 'run.id=iter']);
  assert.equal(run.code, 0, run.err);
  const runDir = join(runs, 'iter');
  const plan = readReplayPlan(runDir);
  assert.equal(plan.pairSlots, 2 * plan.distinctPairs, 'every pair of a phase trained in both epochs');
  const r = cli(['replay', '--run', runDir]);
  assert.equal(r.code, 0, r.err + r.out);
  assert.match(r.out, /every version equal to the original; the checkpoint at step \d+ bit-identical/);
});

test('replay without --run, or of a folder that is not a run, fails with a message naming what is missing', () => {
  const none = cli(['replay']);
  assert.equal(none.code, 2, none.err);
  assert.match(none.err, /replay needs --run RUN_DIR/);
  const empty = tempRunsDir();
  const bad = cli(['replay', '--run', empty]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /holds neither learner_config\.json nor config\.json: not a run folder/);
});
