// Single actors on the in-process bus: prompt epochs and dedup, generator stamping and draining stop(), judge pairing and dead letters, metrics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { Generator } from '../../src/actors/generator.js';
import { Judge, pairIdOf } from '../../src/actors/judge.js';
import { MetricsRegistry, MetricsReporter, MetricsError } from '../../src/actors/metrics.js';
import { epochOrder, PromptSource } from '../../src/actors/prompt_source.js';
import { overrideBus } from '../../src/run/resilient_bus.js';
import type { WeightStore } from '../../src/streams/bus.js';
import type { PairMsg, SampleGroupMsg } from '../../src/streams/topics.js';
import { bus as makeBus, config, decode, FakePolicy, FakeScorer, prompts, sampleGroup, until } from './fakes.js';

test('prompt source: seeded shuffled epochs up to the budget, and a republication is stored once', async () => {
  const bus = makeBus('test');
  const src = new PromptSource({ bus, clock: systemClock, metrics: new MetricsRegistry() }, { prompts: prompts(5), budget: 12, seed: 3, promptsPerSecond: 0 });
  src.start();
  await src.finished;
  assert.equal(src.published, 12);
  const got: string[] = [];
  const sub = bus.consume('prompts', { durable: 'reader' });
  for await (const d of sub) {
    got.push(`${d.data.promptId}:${d.data.epoch}`);
    await d.ack();
    if (got.length === 12) break;
  }
  const epoch0 = epochOrder(5, 3, 0).map((i) => `q${i}:0`);
  assert.deepEqual(got.slice(0, 5), epoch0);
  assert.deepEqual(new Set(got.slice(5, 10)).size, 5, 'epoch 1 covers every prompt once');
  assert.notDeepEqual(epochOrder(5, 3, 0), epochOrder(5, 3, 1));
  // A restarted source re-publishing from position 0 adds nothing (msgId = promptId:epoch).
  const again = new PromptSource({ bus, clock: systemClock, metrics: new MetricsRegistry() }, { prompts: prompts(5), budget: 12, seed: 3, promptsPerSecond: 0 });
  await again.publishNext(12);
  assert.equal(bus.counters().published.prompts, 12);
  await bus.close();
});

test('generator: one group of K stamped samples per prompt, acked after publishing; stop() finishes the batch in flight', async () => {
  const bus = makeBus('test');
  const cfg = config({ generator: { samplesPerPrompt: 3, promptsPerBatch: 2, maxNewTokens: 5 } }).generator;
  const policy = new FakePolicy(150);
  const metrics = new MetricsRegistry();
  const gen = new Generator({ bus, policy, decode, clock: systemClock, metrics }, { generatorId: 'g0', config: cfg, seed: 1 });
  const src = new PromptSource({ bus, clock: systemClock, metrics: new MetricsRegistry() }, { prompts: prompts(6), budget: 6, seed: 1, promptsPerSecond: 0 });
  await src.publishNext(6);
  gen.start();
  await until(() => policy.calls === 1, 2000, 'a batch in flight');
  await gen.stop();
  // The batch in flight completed: 2 groups published, its 2 prompts acked; the rest went back to the stream.
  const c = bus.counters();
  assert.equal(c.published.samples, 2);
  assert.equal(c.acked.prompts, 2);
  assert.equal(c.pending['prompts/generators'], 4);
  assert.equal(metrics.snapshot().generator_samples_total, 6);
  const sub = bus.consume('samples', { durable: 'reader' });
  const groups: SampleGroupMsg[] = [];
  for await (const d of sub) {
    groups.push(d.data);
    await d.ack();
    if (groups.length === 2) break;
  }
  for (const g of groups) {
    assert.equal(g.groupId, `g:${g.promptId}:0`);
    assert.equal(g.samples.length, 3);
    g.samples.forEach((s, k) => {
      assert.equal(s.sampleId, `${g.groupId}:${k}`);
      assert.equal(s.policyVersion, 0);
      assert.equal(s.generatorId, 'g0');
      assert.equal(s.text, decode(s.responseTokens));
      assert.ok(s.createdAt >= s.startedAt && s.createdAt - s.startedAt >= 100);
      assert.ok(s.responseTokens.length >= 1 && s.responseTokens.length <= 5);
    });
  }
  await bus.close();
});

test('generator: swaps weights between batches only, and stamps the version that sampled', async () => {
  const bus = makeBus('test');
  const cfg = config({ generator: { samplesPerPrompt: 2, promptsPerBatch: 1, maxNewTokens: 3 } }).generator;
  const policy = new FakePolicy(60);
  const gen = new Generator({ bus, policy, decode, clock: systemClock, metrics: new MetricsRegistry() }, { generatorId: 'g0', config: cfg, seed: 1, lingerMs: 0 });
  const versions: number[] = [];
  const origGenerate = policy.generate.bind(policy);
  policy.generate = async (...args) => {
    const v = policy.version;
    const r = await origGenerate(...args);
    // The weights the batch started with are the weights it finished with.
    assert.equal(policy.version, v);
    versions.push(v);
    return r;
  };
  const src = new PromptSource({ bus, clock: systemClock, metrics: new MetricsRegistry() }, { prompts: prompts(4), budget: 4, seed: 1, promptsPerSecond: 0 });
  await src.publishNext(4);
  gen.start();
  await until(() => policy.calls === 1, 2000, 'first batch');
  await bus.weights.put(1, 5, new Uint8Array([9]));
  await bus.weights.put(2, 10, new Uint8Array([9]));
  await until(() => gen.promptsSettled === 4, 3000, 'all prompts');
  await gen.stop();
  assert.equal(versions[0], 0);
  assert.equal(versions.at(-1), 2);
  assert.ok(policy.loads.includes(2));
  await bus.close();
});

test('generator: a version the store dropped before it was fetched is replaced by the latest', async () => {
  const bus = makeBus('test', { weightsKept: 2 });
  const first = await bus.weights.put(1, 5, new Uint8Array([1]));
  await bus.weights.put(2, 10, new Uint8Array([2]));
  await bus.weights.put(3, 15, new Uint8Array([3]));
  // The announcement of v1 was read before v2 and v3 were stored (and v1 dropped).
  const weights: WeightStore = { put: (...a) => bus.weights.put(...a), get: (v) => bus.weights.get(v), latest: async () => first, watch: (s) => bus.weights.watch(s) };
  const stale = overrideBus(bus, { weights });
  const policy = new FakePolicy(60);
  const cfg = config({ generator: { samplesPerPrompt: 2, promptsPerBatch: 1, maxNewTokens: 3 } }).generator;
  const gen = new Generator({ bus: stale, policy, decode, clock: systemClock, metrics: new MetricsRegistry() }, { generatorId: 'g0', config: cfg, seed: 1, lingerMs: 0 });
  assert.equal(await gen.syncWeights(true), 3);
  assert.deepEqual(policy.loads, [3]);
  await bus.close();
});

test('judge: best-vs-worst pairs with deterministic ids, ties dropped, malformed groups dead-lettered', async () => {
  const bus = makeBus('test');
  const metrics = new MetricsRegistry();
  // Score = first token id, so each group's ranking is known.
  const judge = new Judge(
    { bus, scorer: new FakeScorer((r) => r[0] ?? 0), clock: systemClock, metrics },
    { judgeId: 'j0', config: config({ judge: { batchSize: 8 } }).judge, seed: 1, samplesPerPrompt: 3 },
  );
  const group = (id: string, firsts: number[], promptId = id): SampleGroupMsg => sampleGroup({ groupId: `g:${id}:0`, promptId, policyVersion: 4, firsts, samplePromptId: id });
  await bus.publish('samples', group('a', [3, 7, 1]));
  await bus.publish('samples', group('b', [5, 5, 5]));
  await bus.publish('samples', group('c', [2, 4, 6], 'other'));
  judge.start();
  await until(() => judge.groupsSettled === 3, 3000, 'three groups');
  await judge.stop();
  const c = bus.counters();
  assert.equal(c.published.pairs, 1);
  assert.equal(c.deadLettered.samples, 1);
  assert.equal(c.acked.samples, 2);
  const snap = metrics.snapshot();
  assert.equal(snap.judge_ties_total, 1);
  assert.equal(snap.judge_pairs_total, 1);
  assert.equal(snap.judge_groups_invalid_total, 1);
  const sub = bus.consume('pairs', { durable: 'reader' });
  let p: PairMsg | undefined;
  for await (const d of sub) {
    p = d.data;
    await d.ack();
    break;
  }
  assert.equal(p!.pairId, pairIdOf('g:a:0'));
  assert.equal(p!.chosen.sampleId, 'g:a:0:1');
  assert.equal(p!.rejected.sampleId, 'g:a:0:2');
  assert.equal(p!.margin, 6);
  assert.equal(p!.chosen.policyVersion, 4);
  assert.equal(p!.judgeModel, 'fake-rm');
  await bus.close();
});

test('metrics: counters, gauges, cumulative histograms; names checked; the reporter publishes MetricsMsg', async () => {
  const r = new MetricsRegistry();
  r.counter('learner_steps_total').inc(3);
  r.gauge('learner_loss').set(0.5);
  const h = r.histogram('learner_policy_lag', [0, 1, 2.5]);
  [0, 1, 1, 2, 7].forEach((v) => h.observe(v));
  const s = r.snapshot();
  assert.equal(s.learner_steps_total, 3);
  assert.equal(s.learner_loss, 0.5);
  assert.deepEqual([s.learner_policy_lag_bucket_le_0, s.learner_policy_lag_bucket_le_1, s.learner_policy_lag_bucket_le_2_5, s.learner_policy_lag_bucket_le_inf], [1, 3, 4, 5]);
  assert.equal(s.learner_policy_lag_sum, 11);
  assert.equal(s.learner_policy_lag_max, 7);
  assert.throws(() => r.counter('Steps'), MetricsError);
  assert.throws(() => r.gauge('learner_steps_total'), /another kind/);
  assert.throws(() => r.counter('learner_x_total').inc(-1), /only goes up/);
  const bus = makeBus('test');
  const rep = new MetricsReporter(bus, r, { actorId: 'learner', role: 'learner', intervalMs: 10_000, state: () => 'running' });
  rep.start();
  await rep.stop();
  const sub = bus.consume('metrics', { durable: 'reader' });
  for await (const d of sub) {
    assert.equal(d.data.actorId, 'learner');
    assert.equal(d.data.state, 'running');
    assert.equal(d.data.values.learner_steps_total, 3);
    await d.ack();
    break;
  }
  await bus.close();
});
