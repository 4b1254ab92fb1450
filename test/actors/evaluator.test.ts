// The evaluator: a baseline at version 0, then every N versions; win rate against fixed SFT samples, proxy reward, length, KL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { Evaluator, klTerms, type EvalResponse } from '../../src/actors/evaluator.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { bus as makeBus, config, decode, FakePolicy, FakeScorer, prompts, until } from './fakes.js';

test('evaluates version 0 and then every everyVersions versions, with win rate, KL and metrics', async () => {
  const bus = makeBus('test');
  const policy = new FakePolicy();
  const reference = new FakePolicy();
  const metrics = new MetricsRegistry();
  const rows: EvalResponse[] = [];
  const ev = new Evaluator(
    { bus, policy, reference, scorer: new FakeScorer(), gold: async (items) => items.map((x) => x.tokens.length), decode, clock: systemClock, metrics, onResponses: async (r) => void rows.push(...r) },
    { evaluatorId: 'ev', config: config({ evaluator: { everyVersions: 2, prompts: 8, maxNewTokens: 5 } }).evaluator, prompts: prompts(20), topK: 0, topP: 1 },
  );
  ev.start();
  await until(() => ev.reports.length === 1, 2000, 'baseline');
  const base = ev.reports[0]!;
  assert.equal(base.version, 0);
  assert.equal(base.prompts, 8);
  assert.equal(base.winRateVsSft, 0.5, 'same weights and seed as the SFT samples: every prompt ties');
  assert.equal(base.kl, 0);
  assert.equal(base.klK3, 0);
  for (let v = 1; v <= 5; v++) await bus.weights.put(v, v * 10, new Uint8Array([v]));
  await until(() => ev.reports.at(-1)!.version >= 4, 2000, 'version 4 evaluated');
  await ev.stop();
  const versions = ev.reports.map((r) => r.version);
  assert.ok(versions.every((v, i) => i === 0 || v - versions[i - 1]! >= 2), `every 2 versions at least: ${versions.join(',')}`);
  const last = ev.reports.at(-1)!;
  assert.equal(last.step, last.version * 10);
  // FakePolicy's log-ratio to the reference is 0.01 * version per response token.
  assert.ok(Math.abs(last.kl! - 0.01 * last.version * last.responseTokens) < 1e-9);
  // k3 per token with log r = -0.01 * version: (r - 1) - log r, summed over the response.
  const d = -0.01 * last.version;
  assert.ok(Math.abs(last.klK3! - (Math.expm1(d) - d) * last.responseTokens) < 1e-9);
  assert.ok(last.klK3! > 0 && last.klK3! < last.kl!, 'for a small drift k3 is about half the squared log-ratio, below the log-ratio');
  // Every evaluation's responses, one row per prompt, with the SFT answer beside it.
  assert.equal(rows.length, ev.reports.length * 8);
  const lastRows = rows.filter((r) => r.version === last.version);
  assert.equal(lastRows.length, 8);
  assert.equal(lastRows.reduce((s, r) => s + r.gold, 0) / 8, last.goldReward);
  assert.equal(lastRows.reduce((s, r) => s + r.win, 0) / 8, last.winRateVsSft);
  const sftRows = rows.filter((r) => r.version === 0);
  assert.deepEqual(sftRows.map((r) => r.response), sftRows.map((r) => r.sftResponse));
  assert.equal(lastRows[0]!.prompt, prompts(20)[0]!.text);
  assert.equal(lastRows[0]!.response.length, lastRows[0]!.responseTokens);
  assert.ok(last.goldReward > 0 && last.winRateVsSft >= 0 && last.winRateVsSft <= 1);
  const snap = metrics.snapshot();
  assert.equal(snap.evaluator_evaluations_total, ev.reports.length);
  assert.equal(snap.evaluator_policy_version, last.version);
  assert.equal(snap.evaluator_win_rate, last.winRateVsSft);
  const final = await ev.evaluateLatest();
  assert.equal(final!.version, 5);
  await bus.close();
});

test('a version the store dropped before it was evaluated is replaced by the newest', async () => {
  const bus = makeBus('test', { weightsKept: 2 });
  const ev = new Evaluator(
    { bus, policy: new FakePolicy(), reference: new FakePolicy(), scorer: new FakeScorer(), gold: async (items) => items.map((x) => x.tokens.length), decode, clock: systemClock, metrics: new MetricsRegistry() },
    { evaluatorId: 'ev', config: config({ evaluator: { everyVersions: 1, prompts: 4, maxNewTokens: 3 } }).evaluator, prompts: prompts(4), topK: 0, topP: 1 },
  );
  for (let v = 1; v <= 3; v++) await bus.weights.put(v, v * 10, new Uint8Array([v]));
  const r = await ev.evaluateVersion(1);
  assert.equal(r.version, 3);
  assert.equal(r.step, 30);
  await assert.rejects(ev.evaluateVersion(7), /weights version 7 is not in the weight store/);
  await bus.close();
});

test('klTerms: the log-ratio and the summed k3 of one response; k3 is never negative', () => {
  const lp = [-1, -2, -0.5];
  const lr = [-1.5, -1, -0.5];
  const { logRatio, k3 } = klTerms(lp, lr);
  assert.ok(Math.abs(logRatio - (0.5 - 1 + 0)) < 1e-12);
  const expected = [-0.5, 1, 0].reduce((s, d) => s + Math.exp(d) - 1 - d, 0);
  assert.ok(Math.abs(k3 - expected) < 1e-12);
  assert.ok(k3 > 0);
  assert.throws(() => klTerms([1], [1, 2]), /differ in length/);
});

test('the SFT baseline does not depend on compute.seed: evaluator.seed alone fixes its samples', async () => {
  const baseline = async (evalSeed: number): Promise<number[][]> => {
    const ev = new Evaluator(
      { bus: makeBus('test'), policy: new FakePolicy(), reference: new FakePolicy(), scorer: new FakeScorer(), gold: async (items) => items.map((x) => x.tokens.length), decode, clock: systemClock, metrics: new MetricsRegistry() },
      { evaluatorId: 'ev', config: config({ evaluator: { prompts: 6, maxNewTokens: 8, seed: evalSeed } }).evaluator, prompts: prompts(6), topK: 0, topP: 1 },
    );
    return (await ev.baseline()).responses;
  };
  assert.deepEqual(await baseline(0), await baseline(0));
  assert.notDeepEqual(await baseline(0), await baseline(1));
});
