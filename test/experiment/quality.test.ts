// The experiment's quality figures: bootstrap intervals over prompts and seeds, the matched-KL interpolation, the task list.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { above, bootstrapInterval } from '../../src/kernels/bootstrap.js';
import { atKl, matchedKl, type PromptEval } from '../../src/experiment/frontier.js';
import { quality, qualityVerdict } from '../../src/experiment/report_quality.js';
import type { ArmRun } from '../../src/experiment/results.js';
import { experimentTasks } from '../../src/experiment/tasks_index.js';
import { Rng } from '../../src/kernels/rng.js';

test('bootstrap: a constant has a zero-width interval; a mean lies inside its interval, which narrows with more prompts and seeds', () => {
  const c = bootstrapInterval([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]);
  assert.deepEqual([c.mean, c.lo, c.hi, c.seeds, c.prompts], [0.5, 0.5, 0.5, 2, 3]);
  const rng = new Rng(5);
  const draw = (s: number, p: number): number[][] => Array.from({ length: s }, () => Array.from({ length: p }, () => (rng.next() < 0.6 ? 1 : 0)));
  const small = bootstrapInterval(draw(2, 32));
  const big = bootstrapInterval(draw(5, 256));
  for (const i of [small, big]) assert.ok(i.lo < i.mean && i.mean < i.hi, JSON.stringify(i));
  assert.ok(big.hi - big.lo < small.hi - small.lo, `${big.hi - big.lo} < ${small.hi - small.lo}`);
  // A binomial share over 1280 independent answers has a 95% half-width of 1.96 * sqrt(0.24 / 1280) = 0.027. Resampling
  // seeds and prompts both counts the answer-level noise twice (conservative): about sqrt(2) times that, not less.
  const half = (big.hi - big.lo) / 2;
  assert.ok(half > 0.027 && half < 0.027 * Math.SQRT2 * 1.15, `half-width ${half}`);
  assert.throws(() => bootstrapInterval([[1, 2], [1]]), /seed 1 has 1 prompts; seed 0 has 2/);
});

test('bootstrap of a difference is paired by prompt: two arms that differ by a constant per prompt give a zero-width interval', () => {
  const rng = new Rng(9);
  const a = [Array.from({ length: 50 }, () => rng.next())];
  const b = [a[0]!.map((x) => x - 0.1)];
  const d = bootstrapInterval(a, b);
  assert.ok(Math.abs(d.mean - 0.1) < 1e-12 && Math.abs(d.lo - 0.1) < 1e-9 && Math.abs(d.hi - 0.1) < 1e-9, JSON.stringify(d));
  assert.ok(above({ mean: 1, lo: 0.9, hi: 1.1, seeds: 1, prompts: 1 }, { mean: 0.5, lo: 0.4, hi: 0.85, seeds: 1, prompts: 1 }));
  assert.ok(!above({ mean: 1, lo: 0.8, hi: 1.1, seeds: 1, prompts: 1 }, { mean: 0.5, lo: 0.4, hi: 0.85, seeds: 1, prompts: 1 }));
});

const ev = (version: number, kl: number, gold: number[], win: number[]): PromptEval => ({ version, step: version * 10, kl, gold, win });

test('atKl interpolates per-prompt scores between the evaluations that bracket the KL; matchedKl is the largest KL every run reaches', () => {
  const path = [ev(0, 0, [0.2, 0.4], [0.5, 0.5]), ev(1, 2, [0.4, 0.4], [1, 0]), ev(2, 6, [0.8, 0.2], [1, 1])];
  assert.deepEqual(atKl(path, 1), { gold: [0.30000000000000004, 0.4], win: [0.75, 0.25] });
  assert.deepEqual(atKl(path, 2), { gold: [0.4, 0.4], win: [1, 0] });
  const at4 = atKl(path, 4)!;
  assert.ok(Math.abs(at4.gold[0]! - 0.6) < 1e-12 && Math.abs(at4.win[1]! - 0.5) < 1e-12);
  assert.equal(atKl(path, 7), undefined);
  assert.equal(matchedKl([path, [ev(0, 0, [0], [0.5]), ev(3, 3.5, [0], [0.5])]]), 3.5);
});

function run(arm: string, mode: ArmRun['mode'], seed: number, finalWin: number[], klEnd: number): ArmRun {
  const n = finalWin.length;
  const promptEvals = [ev(0, 0, Array(n).fill(0.3), Array(n).fill(0.5)), ev(1, klEnd, finalWin.map((w) => 0.3 + 0.2 * w), finalWin)];
  return { arm, mode, group: 'main', seed, promptEvals, evals: [] } as unknown as ArmRun;
}

test('quality: each main arm gets intervals at its final policy and at the matched KL; the verdict says which orderings hold', () => {
  const rng = new Rng(3);
  const wins = (p: number): number[] => Array.from({ length: 256 }, () => (rng.next() < p ? 1 : 0));
  const runs = [0, 1, 2, 3, 4].flatMap((s) => [run('offline', 'offline', s, wins(0.7), 4), run('streaming', 'streaming', s, wins(0.9), 8)]);
  const q = quality(runs, 500);
  assert.equal(q.kl, 4);
  const off = q.arms.find((a) => a.arm === 'offline')!;
  const on = q.arms.find((a) => a.arm === 'streaming')!;
  assert.equal(on.seeds, 5);
  assert.ok(above(on.win, off.win) && above(off.win, { mean: 0.5, lo: 0.5, hi: 0.5, seeds: 0, prompts: 0 }));
  // At KL 4 the streaming runs are halfway from SFT (0.5) to their final win rate: about 0.7, level with offline.
  assert.ok(Math.abs(on.winAtKl!.mean - (0.5 + on.win.mean) / 2) < 1e-9);
  const v = qualityVerdict(q).join('\n');
  assert.match(v, /Equal budget.*\*\*streaming > offline\*\*, intervals apart.*\*\*offline > SFT \(0\.5\)\*\*/);
  assert.match(v, /Matched KL \(4\.00 nats.*streaming [≥≤] offline only within overlapping intervals/);
});

test('experiment.tasks: empty means data.task; an unknown or repeated task is refused naming the accepted ones', () => {
  const cfg = loadConfig();
  assert.deepEqual(experimentTasks(cfg), [cfg.data.task]);
  cfg.experiment.tasks = ['positive-vader', 'positive-afinn'];
  assert.deepEqual(experimentTasks(cfg), ['positive-vader', 'positive-afinn']);
  cfg.experiment.tasks = ['positive-vader', 'nope'];
  assert.throws(() => experimentTasks(cfg), /experiment\.tasks: data\.task must be one of .*positive-afinn.*; got "nope"/);
  cfg.experiment.tasks = ['positive-vader', 'positive-vader'];
  assert.throws(() => experimentTasks(cfg), /must not repeat/);
});
