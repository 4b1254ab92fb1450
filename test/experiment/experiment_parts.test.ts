// The experiment's parts: /proc/stat parsing, the arm plan, spreads and time-to-target, and the generated verdict.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { busyFractions, CpuSampler, parseProcStat } from '../../src/experiment/cpu_sampler.js';
import { armConfig, planArms } from '../../src/experiment/plan.js';
import { renderMarkdown, renderPlots, verdict, type ReportContext } from '../../src/experiment/report.js';
import { aggregate, secondsToTarget, spread, type ArmRun, type EvalPoint } from '../../src/experiment/results.js';

const STAT_A = ['cpu  300 0 100 1000 0 0 0 0 0 0', 'cpu0 100 0 50 500 0 0 0 0 0 0', 'cpu1 200 0 50 500 0 0 0 0 0 0', 'intr 1'].join('\n');
const STAT_B = ['cpu  450 0 150 1200 0 0 0 0 0 0', 'cpu0 190 0 60 550 0 0 0 0 0 0', 'cpu1 260 0 90 650 0 0 0 0 0 0'].join('\n');

test('parseProcStat reads each core and busyFractions gives busy / total between readings', () => {
  const a = parseProcStat(STAT_A);
  assert.deepEqual(a, [
    { busy: 150, total: 650 },
    { busy: 250, total: 750 },
  ]);
  const f = busyFractions(a, parseProcStat(STAT_B));
  // cpu0: busy +100 of +150; cpu1: busy +100 of +250.
  assert.ok(Math.abs(f[0]! - 100 / 150) < 1e-12);
  assert.ok(Math.abs(f[1]! - 0.4) < 1e-12);
  assert.throws(() => parseProcStat('cpu0 1 2'), /at least 4 numeric fields/);
  assert.throws(() => busyFractions(a, a.slice(0, 1)), /core count changed/);
});

test('CpuSampler reports the busy share over its whole span from an injected reader', async () => {
  const texts = [STAT_A, STAT_B];
  let i = 0;
  const s = new CpuSampler(10_000, () => texts[Math.min(i++, 1)]!);
  s.start();
  await new Promise((r) => setTimeout(r, 5));
  const u = s.stop();
  assert.equal(u.coreBusy.length, 2);
  assert.ok(Math.abs(u.coreBusy[1]! - 0.4) < 1e-12);
  assert.equal(u.timeline.length, 1);
  assert.ok(u.wallSeconds > 0 && u.processCpuSeconds >= 0);
  assert.throws(() => s.stop(), /stop\(\) before start\(\)/);
});

test('planArms: main arms seed-major, then the ablations on the first seeds; armConfig changes only the run', () => {
  const cfg = loadConfig({ file: 'config/experiment_tiny.yaml' });
  const plan = planArms(cfg);
  assert.deepEqual(
    plan.map((p) => p.id),
    [
      'offline-seed7',
      'iterative-seed7',
      'streaming-seed7',
      'offline-seed8',
      'iterative-seed8',
      'streaming-seed8',
      'offline-seed9',
      'iterative-seed9',
      'streaming-seed9',
      'iterative_pairwise-seed7',
      'iterative_length-penalty-seed7',
    ],
  );
  const pw = plan.find((p) => p.group === 'rm')!;
  const a = armConfig(cfg, pw, '/tmp/arms');
  assert.equal(a.rm.kind, 'pairwise');
  assert.equal(a.run.mode, 'iterative');
  assert.equal(a.run.id, 'iterative_pairwise-seed7');
  assert.equal(a.compute.seed, 7);
  assert.equal(cfg.rm.kind, 'bt', 'the base config is not changed');
  assert.deepEqual(a.learner, cfg.learner);
  assert.equal(a.run.prompts, cfg.run.prompts);

  assert.throws(() => planArms(loadConfig({ file: 'config/experiment_tiny.yaml', overrides: ['experiment.arms=offline,best'] })), /experiment\.arms must hold only offline, iterative, streaming; got "best"/);
  assert.throws(() => planArms(loadConfig({ file: 'config/experiment_tiny.yaml', overrides: ['experiment.arms=offline,streaming'] })), /ablationMode "iterative" must be one of experiment\.arms/);
  assert.throws(() => planArms(loadConfig({ file: 'config/experiment_tiny.yaml', overrides: ['rm.kind=pairwise'] })), /rm\.kind must be bt/);
  const noAbl = planArms(loadConfig({ file: 'config/experiment_tiny.yaml', overrides: ['experiment.rmAblation=false', 'experiment.lengthPenalty=0', 'experiment.seeds=2'] }));
  assert.equal(noAbl.length, 6);
});

test('spread and secondsToTarget', () => {
  const s = spread([1, 2, 3, Number.NaN]);
  assert.equal(s.n, 3);
  assert.equal(s.mean, 2);
  assert.equal(s.std, 1);
  assert.deepEqual([s.min, s.max], [1, 3]);
  assert.equal(spread([]).n, 0);
  assert.equal(spread([5]).std, 0);
  const ev = (seconds: number, winRateVsSft: number): EvalPoint => ({ seconds, version: 0, step: 0, goldReward: 0, winRateVsSft, proxyReward: 0, kl: 0, responseTokens: 1 });
  const evals = [ev(1, 0.5), ev(10, 0.58), ev(20, 0.7), ev(30, 0.5)];
  assert.equal(secondsToTarget(evals, 0.55), 10);
  assert.equal(secondsToTarget(evals, 0.6), 20);
  assert.equal(secondsToTarget(evals, 0.9), null);
});

function fakeRun(arm: string, mode: ArmRun['mode'], seed: number, win: number, gold: number, wall: number): ArmRun {
  const evals: EvalPoint[] = [
    { seconds: 2, version: 0, step: 0, goldReward: 0.1, winRateVsSft: 0.5, proxyReward: 0, kl: 0, responseTokens: 10 },
    { seconds: wall, version: 3, step: 30, goldReward: gold, winRateVsSft: win, proxyReward: 1, kl: 0.2, responseTokens: 12 },
  ];
  return {
    arm, id: `${arm}-seed${seed}`, group: 'main', mode, seed, seedIndex: seed - 1, rmKind: 'bt', lengthPenalty: 0, dir: `arms/${arm}-seed${seed}`,
    promptsSeen: 96, samplesGenerated: 768, labelsUsed: 768, pairs: 96, pairsTrained: 96, pairsDroppedStale: 0, steps: 12, versions: 3,
    sftGoldReward: 0.1, goldReward: gold, winRateVsSft: win, proxyReward: 1, kl: 0.2, responseTokens: 12, wallSeconds: wall,
    secondsToTarget: secondsToTarget(evals, 0.6), samplesPerSecond: 768 / wall, pairsPerSecond: 96 / wall, stepsPerSecond: 12 / wall,
    evalSeconds: 3, generateSeconds: wall * 0.8, judgeSeconds: 5, learnSeconds: 20, evaluations: 2, coreBusy: [0.9, 0.8], processShare: 0.8, evals,
  };
}

function context(runs: ArmRun[]): ReportContext {
  const cfg = loadConfig({ file: 'config/experiment_tiny.yaml', overrides: ['experiment.targetWinRate=0.6', 'run.prompts=96'] });
  const rm = { dir: 'x', hash: 'h', heldOutAccuracy: 0.7, hardHalfAccuracy: 0.6, initHeldOutAccuracy: 0.5, trainPairs: 10, heldOutPairs: 2 };
  return { id: 't', configPath: 'c.yaml', cfg, stages: { sftDir: 's', sftHash: 'abcdef0123456789', rm: { bt: rm, pairwise: { ...rm, heldOutAccuracy: 0.8 } }, seconds: 1 }, runs, planned: 11, wallSeconds: 60, machine: 'm', generatedAt: 'now' };
}

test('the verdict says plainly whether online > offline is reproduced, and compares streaming with the paper\'s loop', () => {
  const online = [1, 2, 3].flatMap((s) => [fakeRun('offline', 'offline', s, 0.52 + s / 100, 0.15, 100), fakeRun('iterative', 'iterative', s, 0.7, 0.3, 120), fakeRun('streaming', 'streaming', s, 0.68, 0.28, 60)]);
  const v = verdict(context(online)).join('\n');
  assert.match(v, /\*\*Our data reproduces the paper's ordering online > offline\*\*/);
  assert.match(v, /every seed above every offline seed/);
  assert.match(v, /2\.00x faster/);
  const flipped = [1, 2, 3].flatMap((s) => [fakeRun('offline', 'offline', s, 0.7, 0.3, 100), fakeRun('iterative', 'iterative', s, 0.55, 0.1, 120), fakeRun('streaming', 'streaming', s, 0.5, 0.1, 60)]);
  assert.match(verdict(context(flipped)).join('\n'), /\*\*Our data does not reproduce the paper's ordering online > offline\*\*/);

  const ctx = context(online);
  const md = renderMarkdown(ctx, 'plots', Object.keys(renderPlots(ctx)));
  assert.match(md, /^\| iterative \| 3 \| 0\.300 ± 0\.000 \[0\.300, 0\.300\] \| 0\.700 ± 0\.000/m);
  assert.match(md, /!\[win rate over time\]\(plots\/win_rate_over_time\.svg\)/);
  // Where the time went: streaming's work (0.8 x 60 + 5 + 20 + 3 = 76 s) over its 60 s wall-clock.
  assert.match(md, /^\| streaming \| 60 ± 0 \[60, 60\] \| 48\.0 ± 0\.0 \[48\.0, 48\.0\] \| 5\.0 .*\| 1\.27 \|$/m);
  assert.equal(aggregate(online).length, 3);
  // A run that failed is named at the top; the experiment went on without it.
  const withFailure = renderMarkdown({ ...ctx, failed: [{ id: 'streaming-seed4', error: 'panicked at step.rs:17' }] }, 'plots', []);
  assert.match(withFailure, /\*\*1 run\(s\) failed and are left out\*\*: streaming-seed4 \(panicked at step\.rs:17\)/);
});
