// The evaluator: a baseline at version 0, then every N versions; win rate against fixed SFT samples, proxy reward, length, KL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { Evaluator } from '../../src/actors/evaluator.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { bus as makeBus, config, decode, FakePolicy, FakeScorer, prompts, until } from './fakes.js';

test('evaluates version 0 and then every everyVersions versions, with win rate, KL and metrics', async () => {
  const bus = makeBus('test');
  const policy = new FakePolicy();
  const reference = new FakePolicy();
  const metrics = new MetricsRegistry();
  const ev = new Evaluator(
    { bus, policy, reference, scorer: new FakeScorer(), gold: async (items) => items.map((x) => x.tokens.length), decode, clock: systemClock, metrics },
    { evaluatorId: 'ev', config: config({ evaluator: { everyVersions: 2, prompts: 8, maxNewTokens: 5 } }).evaluator, prompts: prompts(20), topK: 0, topP: 1, seed: 3 },
  );
  ev.start();
  await until(() => ev.reports.length === 1, 2000, 'baseline');
  const base = ev.reports[0]!;
  assert.equal(base.version, 0);
  assert.equal(base.prompts, 8);
  assert.equal(base.winRateVsSft, 0.5, 'same weights and seed as the SFT samples: every prompt ties');
  assert.equal(base.kl, 0);
  for (let v = 1; v <= 5; v++) await bus.weights.put(v, v * 10, new Uint8Array([v]));
  await until(() => ev.reports.at(-1)!.version >= 4, 2000, 'version 4 evaluated');
  await ev.stop();
  const versions = ev.reports.map((r) => r.version);
  assert.ok(versions.every((v, i) => i === 0 || v - versions[i - 1]! >= 2), `every 2 versions at least: ${versions.join(',')}`);
  const last = ev.reports.at(-1)!;
  assert.equal(last.step, last.version * 10);
  // FakePolicy's log-ratio to the reference is 0.01 * version per response token.
  assert.ok(Math.abs(last.kl! - 0.01 * last.version * last.responseTokens) < 1e-9);
  assert.ok(last.goldReward > 0 && last.winRateVsSft >= 0 && last.winRateVsSft <= 1);
  const snap = metrics.snapshot();
  assert.equal(snap.evaluator_evaluations_total, ev.reports.length);
  assert.equal(snap.evaluator_policy_version, last.version);
  assert.equal(snap.evaluator_win_rate, last.winRateVsSft);
  const final = await ev.evaluateLatest();
  assert.equal(final!.version, 5);
  await bus.close();
});
