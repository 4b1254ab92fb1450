// The whole experiment through the real CLI on the tiny config: every arm x seed runs, results.json/results.md/plots and the docs copy are written.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

const FIGURES = [
  'goldReward',
  'winRateVsSft',
  'proxyReward',
  'kl',
  'responseTokens',
  'sftGoldReward',
  'wallSeconds',
  'samplesPerSecond',
  'pairsPerSecond',
  'stepsPerSecond',
  'processShare',
] as const;

test('rlhf-stream experiment on the tiny config runs every arm and seed and writes the table, the json and the plots', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlhf-exp-'));
  const docs = join(dir, 'docs');
  const r = spawnSync(
    process.execPath,
    [cli, 'experiment', '--config', 'config/experiment_tiny.yaml', '--id', 't', '--set', `run.cacheDir=${join(dir, 'cache')}`, '--set', `run.dir=${join(dir, 'runs')}`, '--set', `experiment.docsDir=${docs}`],
    { encoding: 'utf8', timeout: 400_000 },
  );
  assert.equal(r.status, 0, r.stderr.slice(-4000));
  const exp = join(dir, 'runs', 'experiment-t');
  const results = JSON.parse(readFileSync(join(exp, 'results.json'), 'utf8'));

  // Every main arm x seed, then one run of each ablation (experiment_tiny.yaml: 3 seeds, ablationSeeds 1).
  const ids = results.runs.map((x: { id: string }) => x.id).sort();
  const expected = ['offline', 'iterative', 'streaming'].flatMap((a) => [7, 8, 9].map((s) => `${a}-seed${s}`));
  expected.push('iterative_pairwise-seed7', 'iterative_length-penalty-seed7');
  assert.deepEqual(ids, expected.sort());
  assert.equal(results.planned, expected.length);
  for (const run of results.runs) {
    for (const k of FIGURES) assert.ok(Number.isFinite(run[k]), `${run.id}.${k} = ${run[k]}`);
    assert.ok(run.wallSeconds > 0 && run.samplesPerSecond > 0 && run.stepsPerSecond > 0, run.id);
    // Equal budgets: every run saw the whole prompt budget and scored K samples per prompt.
    assert.equal(run.promptsSeen, 32, run.id);
    assert.equal(run.labelsUsed, 32 * 4, run.id);
    assert.ok(run.steps >= 8, `${run.id} took ${run.steps} learner steps`);
    assert.equal(run.coreBusy.length, cpus().length, `${run.id} sampled every core`);
    for (const b of run.coreBusy) assert.ok(b >= 0 && b <= 1, `${run.id} core busy ${b}`);
    assert.ok(run.evals.length >= 2, `${run.id} was evaluated at SFT and at the end`);
    assert.equal(run.evals[0].version, 0);
    assert.ok(existsSync(join(exp, run.dir, 'metrics.jsonl')), `${run.id} keeps its raw metrics log`);
    assert.ok(existsSync(join(exp, run.dir, 'responses.jsonl')), `${run.id} keeps its evaluated responses`);
    assert.equal(run.promptEvals.length, run.evals.length, `${run.id}: per-prompt scores of every evaluation`);
    assert.ok(run.examples.length > 0 && typeof run.examples[0].response === 'string', `${run.id} examples`);
    assert.equal(run.task, 'positive-vader');
  }
  const arms = results.aggregates.map((a: { arm: string }) => a.arm);
  assert.deepEqual(arms, ['offline', 'iterative', 'streaming', 'iterative+pairwise', 'iterative+length-penalty']);
  for (const a of results.aggregates.filter((x: { group: string }) => x.group === 'main')) assert.equal(a.figures.goldReward.n, 3, a.arm);
  for (const k of ['bt', 'pairwise']) assert.ok(Number.isFinite(results.stages.rm[k].heldOutAccuracy), `${k} held-out accuracy`);

  const md = readFileSync(join(exp, 'results.md'), 'utf8');
  assert.match(md, /\| arm \| seeds \| gold reward \| win rate vs SFT \| proxy reward \| KL to ref \(nats\) \| response tokens \| wall-clock \(s\) \|/);
  for (const arm of ['offline', 'iterative', 'streaming']) assert.match(md, new RegExp(`^\\| ${arm} \\| 3 \\| `, 'm'));
  assert.match(md, /online > offline/);
  assert.match(md, /## Proxy model: Bradley-Terry reward model vs pairwise preference model/);
  assert.match(md, /## Length penalty on vs off/);
  assert.match(md, /s of which went to building or loading the cached stages/);
  assert.match(md, /## Gold reward and win rate with 95% intervals: equal budget and matched KL/);
  assert.match(md, /^\| streaming \| 3 \| [0-9.]+ \[[0-9.]+, [0-9.]+\] \|/m);
  assert.match(md, /Equal budget, gold win rate vs SFT \(bootstrap 95% over \d+ prompts and 3 seeds\)/);
  assert.match(md, /## Responses: the same held-out prompts, SFT and each arm's final policy/);
  // The judge that scored the arms, checked first: its agreement with the task's human pairs and the adversarial suite.
  assert.match(md, /## The gold judge/);
  assert.match(md, /^\| positive\.jsonl \| \d+\/32 \| [0-9.]+% \|$/m);
  assert.match(md, /^\| one fixed answer for every prompt \(harder probe\) \| [0-9.]+ \| [0-9.]+ \| \d+\/\d+ \|$/m);
  // The SFT baseline is sampled with evaluator.seed alone: the same in every run, whatever its compute.seed.
  assert.equal(new Set(results.runs.map((x: { sftGoldReward: number }) => x.sftGoldReward)).size, 1);

  const plots = readdirSync(join(exp, 'plots')).filter((f) => f.endsWith('.svg'));
  assert.ok(plots.length >= 6, `plots: ${plots.join(', ')}`);
  for (const p of plots) {
    const svg = readFileSync(join(exp, 'plots', p), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/, p);
    assert.match(svg, /<\/svg>$/, p);
    assert.match(md, new RegExp(`\\(plots/${p}\\)`), `results.md links ${p}`);
  }
  assert.match(readFileSync(join(exp, 'plots', 'win_rate_over_time.svg'), 'utf8'), /<polyline/);
  for (const p of ['gold_vs_kl_frontier.svg', 'gold_reward_over_steps.svg', 'proxy_reward_over_steps.svg']) assert.ok(plots.includes(p), p);

  // Work seconds by kind are recorded for every run (generation, scoring and learning all happened).
  for (const run of results.runs) assert.ok(run.generateSeconds > 0 && run.judgeSeconds > 0 && run.learnSeconds > 0, run.id);
  assert.match(md, /## Where the time went/);

  // --report writes the same outputs again from the folder's own records.
  const again = spawnSync(process.execPath, [cli, 'experiment', '--report', exp], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /11 runs re-rendered/);
  const md2 = readFileSync(join(exp, 'results.md'), 'utf8');
  assert.equal(md2.split('## Main results')[1], md.split('## Main results')[1], 'the tables are unchanged');

  // The docs copy links its own plot folder.
  const docsMd = readFileSync(join(docs, 'results.md'), 'utf8');
  for (const p of plots) {
    assert.ok(existsSync(join(docs, 'results', p)), `docs/results/${p}`);
    assert.match(docsMd, new RegExp(`\\(results/${p}\\)`));
  }
});
