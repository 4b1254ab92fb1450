// The aggregator's rates, liveness, histograms, bus view and series, driven by a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsAggregator } from '../../src/monitor/aggregator.js';
import { parseBucketName } from '../../src/monitor/metric_names.js';
import type { MetricsMsg } from '../../src/streams/topics.js';

function fakeClock(start = 1_000_000): { now: () => number; set(t: number): void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v) };
}

function msg(actorId: string, role: string, ts: number, values: Record<string, number>, state?: string): MetricsMsg {
  return { type: 'metrics', v: 1, runId: 'r1', actorId, role, ts, values, ...(state ? { state } : {}) };
}

test('counter rates follow the sliding window and sum over actors', () => {
  const clock = fakeClock(0);
  const agg = new MetricsAggregator({ runId: 'r1', intervalMs: 1000, windowMs: 5000, now: clock.now });
  // gen-0 makes 10 samples/s, gen-1 makes 4 samples/s; judge makes 2 pairs/s; learner 0.5 steps/s.
  for (let s = 0; s <= 20; s++) {
    const ts = s * 1000;
    clock.set(ts);
    agg.ingest(msg('gen-0', 'generator', ts, { generator_samples_total: 10 * s, generator_tokens_total: 80 * s }));
    agg.ingest(msg('gen-1', 'generator', ts, { generator_samples_total: 4 * s, generator_tokens_total: 32 * s }));
    agg.ingest(msg('judge-0', 'judge', ts, { judge_pairs_total: 2 * s }));
    agg.ingest(msg('learner-0', 'learner', ts, { learner_steps_total: Math.floor(s / 2) }));
  }
  const snap = agg.snapshot();
  assert.equal(snap.rates.samplesPerSec, 14);
  assert.equal(snap.rates.tokensPerSec, 112);
  assert.equal(snap.rates.pairsPerSec, 2);
  // The window starts at the point at 15 s (steps 7) and ends at 20 s (steps 10): 3 steps in 5 s.
  assert.ok(Math.abs(snap.rates.stepsPerSec - 0.6) < 1e-9, `steps/s ${snap.rates.stepsPerSec}`);
  assert.ok(Math.abs(snap.rates.pairsPerStep! - 2 / 0.6) < 1e-9);
  assert.deepEqual(snap.totals, { samples: 280, tokens: 2240, pairs: 40, steps: 10 });
  const gen0 = snap.actors.find((a) => a.actorId === 'gen-0')!;
  assert.equal(gen0.rates['generator_samples_total'], 10);
  assert.deepEqual(gen0.highlights[0], ['samples/s', 10]);

  // A burst: gen-0 doubles its rate; after one window only the new rate remains.
  for (let s = 21; s <= 26; s++) {
    clock.set(s * 1000);
    agg.ingest(msg('gen-0', 'generator', s * 1000, { generator_samples_total: 200 + 20 * (s - 20) }));
    agg.ingest(msg('gen-1', 'generator', s * 1000, { generator_samples_total: 4 * s }));
  }
  assert.equal(agg.snapshot().rates.samplesPerSec, 24);
});

test('liveness: alive, stale after 3 intervals, dead after 10, stopped when the actor says so', () => {
  const clock = fakeClock(50_000);
  const agg = new MetricsAggregator({ intervalMs: 500, now: clock.now });
  agg.ingest(msg('gen-0', 'generator', 50_000, { generator_samples_total: 1 }));
  agg.ingest(msg('gen-0', 'generator', 50_500, { generator_samples_total: 6 }));
  agg.ingest(msg('learner-0', 'learner', 50_500, { learner_steps_total: 3 }, 'stopped'));
  const live = (t: number): string => {
    clock.set(t);
    return agg.snapshot().actors.find((a) => a.actorId === 'gen-0')!.liveness;
  };
  assert.equal(live(50_500), 'alive');
  assert.equal(live(50_500 + 1500), 'alive');
  assert.equal(live(50_500 + 1501), 'stale');
  assert.equal(live(50_500 + 5000), 'stale');
  assert.equal(live(50_500 + 5001), 'dead');
  const snap = agg.snapshot();
  assert.deepEqual(snap.counts, { alive: 0, stale: 0, dead: 1, stopped: 1 });
  // A silent actor contributes no rate, but its count stays in the totals.
  assert.equal(snap.rates.samplesPerSec, 0);
  assert.equal(snap.totals.samples, 6);
  assert.equal(snap.actors.find((a) => a.actorId === 'gen-0')!.ageMs, 5001);
});

test('a counter that goes down (actor restart) keeps totals monotonic and the rate positive', () => {
  const clock = fakeClock(0);
  const agg = new MetricsAggregator({ intervalMs: 1000, windowMs: 10_000, now: clock.now });
  const seq = [0, 10, 20, 30, 5, 15]; // restart after 30: the new process counts from 0 again
  seq.forEach((v, i) => agg.ingest(msg('gen-0', 'generator', i * 1000, { generator_samples_total: v })));
  clock.set(5000);
  const snap = agg.snapshot();
  assert.equal(snap.totals.samples, 45);
  assert.equal(snap.rates.samplesPerSec, 9);
});

test('other runs and out-of-order messages are ignored; non-finite values are dropped', () => {
  const clock = fakeClock(10_000);
  const agg = new MetricsAggregator({ runId: 'r1', intervalMs: 1000, now: clock.now });
  assert.equal(agg.ingest({ ...msg('gen-0', 'generator', 10_000, { generator_samples_total: 5 }), runId: 'other' }), false);
  assert.equal(agg.ingest(msg('gen-0', 'generator', 10_000, { generator_samples_total: 5, generator_x_ms: Number.NaN })), true);
  assert.equal(agg.ingest(msg('gen-0', 'generator', 9_000, { generator_samples_total: 1 })), false);
  assert.equal(agg.ignored, 2);
  const a = agg.snapshot().actors[0]!;
  assert.deepEqual(a.values, { generator_samples_total: 5 });
});

test('policy-lag histogram merges actors and gives mean, quantiles and the windowed mean', () => {
  assert.deepEqual(parseBucketName('learner_policy_lag_bucket_le_2_5'), { base: 'learner_policy_lag', le: 2.5 });
  assert.deepEqual(parseBucketName('x_wait_seconds_bucket_le_0_005'), { base: 'x_wait_seconds', le: 0.005 });
  assert.equal(parseBucketName('learner_loss'), undefined);
  const clock = fakeClock(0);
  const agg = new MetricsAggregator({ intervalMs: 1000, windowMs: 4000, now: clock.now });
  // Cumulative buckets (le 0, 1, 2, 4): lags observed so far {0 x2, 1 x3, 3 x5} = 10 observations, sum 17.
  const lag = (count: number, sum: number, b: number[], max: number): Record<string, number> => ({
    learner_policy_lag_count: count,
    learner_policy_lag_sum: sum,
    learner_policy_lag_max: max,
    learner_policy_lag_bucket_le_0: b[0]!,
    learner_policy_lag_bucket_le_1: b[1]!,
    learner_policy_lag_bucket_le_2: b[2]!,
    learner_policy_lag_bucket_le_4: b[3]!,
  });
  agg.ingest(msg('learner-0', 'learner', 0, lag(10, 17, [2, 5, 5, 10], 3)));
  // Four seconds later: 10 more observations, all of lag 1 (sum +10).
  clock.set(4000);
  agg.ingest(msg('learner-0', 'learner', 4000, lag(20, 27, [2, 15, 15, 20], 3)));
  const h = agg.snapshot().policy.lag!;
  assert.deepEqual(h.bounds, [0, 1, 2, 4]);
  assert.deepEqual(h.cumulative, [2, 15, 15, 20]);
  assert.equal(h.count, 20);
  assert.equal(h.mean, 27 / 20);
  assert.equal(h.p50, 1);
  // The p90 falls in the bucket le=4, but nothing above 3 was seen: the estimate is clamped to the max.
  assert.equal(h.p90, 3);
  assert.equal(h.max, 3);
  assert.equal(h.recentMean, 1);
  // The histogram's _count and _sum are tracked as counters, the _max as a gauge.
  assert.equal(agg.snapshot().actors[0]!.rates['learner_policy_lag_count'], 2.5);
});

test('quality, policy and sync numbers come from the actor that reported last', () => {
  const clock = fakeClock(2000);
  const agg = new MetricsAggregator({ intervalMs: 1000, now: clock.now });
  agg.ingest(
    msg('learner-0', 'learner', 1000, {
      learner_loss: 0.69,
      learner_reward_margin: 0.01,
      learner_reward_accuracy: 0.5,
      learner_policy_version: 3,
      learner_publish_seconds_count: 2,
      learner_publish_seconds_sum: 0.08,
      learner_publish_seconds_bucket_le_0_05: 2,
    }),
  );
  agg.ingest(msg('gen-0', 'generator', 1200, { generator_weight_load_seconds_count: 4, generator_weight_load_seconds_sum: 0.02, generator_weight_load_seconds_bucket_le_0_01: 4 }));
  agg.ingest(msg('eval-0', 'evaluator', 1500, { evaluator_gold_reward: 0.2, evaluator_proxy_reward: 0.4, evaluator_kl_nats: 0.05, evaluator_win_rate: 0.55 }));
  agg.ingest(msg('judge-0', 'judge', 1600, { judge_score_mean: 0.3 }));
  agg.ingest(msg('learner-1', 'learner', 2000, { learner_loss: 0.6 }));
  const s = agg.snapshot();
  assert.equal(s.quality.loss, 0.6);
  assert.equal(s.quality.margin, 0.01);
  assert.equal(s.quality.goldReward, 0.2);
  assert.equal(s.quality.kl, 0.05);
  assert.equal(s.quality.winRate, 0.55);
  assert.equal(s.quality.proxyReward, 0.4);
  assert.equal(s.quality.judgeScore, 0.3);
  assert.equal(s.policy.version, 3);
  // One message per actor: no window rate yet, so the run means are used: 40 ms publish + 5 ms load.
  assert.ok(Math.abs(s.policy.weightPublishMs! - 40) < 1e-9);
  assert.ok(Math.abs(s.policy.weightLoadMs! - 5) < 1e-9);
  assert.ok(Math.abs(s.policy.weightSyncMs! - 45) < 1e-9);
});

test('bus counters become per-consumer queue depth and dead-letter totals', () => {
  const clock = fakeClock(0);
  const agg = new MetricsAggregator({ intervalMs: 1000, now: clock.now });
  assert.equal(agg.snapshot().streams.observedAt, null);
  agg.observeBus({
    published: { samples: 40, pairs: 12 },
    delivered: { samples: 38 },
    acked: { samples: 30 },
    deadLettered: { samples: 2, pairs: 1 },
    pending: { 'samples/judge': 7, 'pairs/learner': 3, 'metrics/monitor': 4 },
  });
  const st = agg.snapshot().streams;
  // The metrics topic's backlog is the monitor's own, not the pipeline's.
  assert.equal(st.pendingTotal, 10);
  assert.equal(st.deadLetters, 3);
  assert.deepEqual(st.consumers, [
    { topic: 'metrics', durable: 'monitor', pending: 4 },
    { topic: 'pairs', durable: 'learner', pending: 3 },
    { topic: 'samples', durable: 'judge', pending: 7 },
  ]);
  assert.deepEqual(st.topics.find((t) => t.topic === 'samples'), { topic: 'samples', published: 40, delivered: 38, acked: 30, deadLettered: 2 });
});

test('series are bounded ring buffers and can be read from a point on', () => {
  const clock = fakeClock(0);
  const agg = new MetricsAggregator({ intervalMs: 1000, historyLength: 5, now: clock.now });
  for (let s = 0; s < 8; s++) {
    clock.set(s * 1000);
    agg.ingest(msg('gen-0', 'generator', s * 1000, { generator_samples_total: 3 * s }));
    agg.tick();
  }
  const all = agg.snapshot({ series: 'all' }).series!;
  assert.deepEqual(all.t, [3000, 4000, 5000, 6000, 7000]);
  assert.deepEqual(all.samplesPerSec, [3, 3, 3, 3, 3]);
  assert.deepEqual(all.loss, [null, null, null, null, null]);
  assert.equal(all.actorsAlive.at(-1), 1);
  assert.deepEqual(agg.snapshot({ series: { since: 5000 } }).series!.t, [6000, 7000]);
  assert.equal(agg.snapshot().series, undefined);
});
