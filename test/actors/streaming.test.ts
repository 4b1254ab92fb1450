// End to end on the in-process bus with fake ports: prompts -> samples -> pairs -> steps -> versions -> generators, in each mode.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLocalCluster } from '../../src/run/local_cluster.js';
import type { EvalResponse } from '../../src/actors/evaluator.js';
import type { SampleGroupMsg } from '../../src/streams/topics.js';
import type { InProcessBus } from '../../src/streams/inprocess/bus.js';
import { bus as makeBus, config, decode, FakeLearnerPort, FakePolicy, FakeScorer, prompts, until } from './fakes.js';

/** Reads every sample group from a separate durable, so the test sees what the judges saw. */
function observe(bus: InProcessBus): { groups: SampleGroupMsg[]; stop: () => Promise<void> } {
  const groups: SampleGroupMsg[] = [];
  const sub = bus.consume('samples', { durable: 'observer', maxAckPending: 10_000 });
  const loop = (async () => {
    for await (const d of sub) {
      groups.push(d.data);
      await d.ack();
    }
  })();
  return { groups, stop: async () => { await sub.stop(); await loop; } };
}

test('streaming: samples flow, the learner steps, versions advance, generators pick them up, staleness is bounded', async () => {
  const bus = makeBus('stream');
  const seen = observe(bus);
  const cfg = config({
    run: { mode: 'streaming', prompts: 400 },
    generator: { count: 2, samplesPerPrompt: 4, promptsPerBatch: 2, maxNewTokens: 6 },
    judge: { count: 1, batchSize: 8 },
    learner: { batchSize: 4, publishEvery: 1, checkpointEvery: 2, totalSteps: 12, maxPolicyLag: 2, stalePairs: 'drop' },
    monitor: { intervalMs: 50 },
  });
  const policies: FakePolicy[] = [];
  const port = new FakeLearnerPort(15);
  const cluster = await startLocalCluster(
    cfg,
    bus,
    {
      policy: () => {
        const p = new FakePolicy(5);
        policies.push(p);
        return p;
      },
      scorer: () => new FakeScorer(),
      learner: port,
      decode,
    },
    { prompts: prompts(20), checkpointDir: 'ck-stream' },
  );
  const s = await cluster.done;
  await seen.stop();
  assert.equal(s.steps, 12, 'ends after learner.totalSteps');
  assert.equal(port.steps, 12);
  assert.ok(s.version >= 12, `version ${s.version}`);
  // Generators loaded published versions between batches, and later samples carry them.
  const loaded = policies.flatMap((p) => p.loads);
  assert.ok(loaded.length > 0 && Math.max(...loaded) >= 2, `loads ${loaded.join(',')}`);
  const versions = seen.groups.map((g) => g.policyVersion);
  assert.equal(versions[0], 0);
  assert.ok(Math.max(...versions) >= 2, `sample versions ${[...new Set(versions)].join(',')}`);
  for (const g of seen.groups) assert.ok(g.samples.every((x) => x.policyVersion === g.policyVersion && x.text === decode(x.responseTokens)));
  // Every pair trained on was within maxPolicyLag; the others were dropped and counted.
  const lm = s.metrics.learner!;
  const beyond = lm.learner_policy_lag_count! - lm.learner_policy_lag_bucket_le_2!;
  assert.equal(lm.learner_pairs_stale_dropped_total ?? 0, beyond);
  assert.equal(s.pairsTrained, 48);
  assert.ok(port.trained.every((st) => st.weights.every((w) => w === 1)));
  // Metrics went out on the bus under actor_noun_unit names.
  assert.ok((bus.counters().published.metrics ?? 0) > 0);
  assert.ok(s.samplesGenerated >= 4 * 12, `samples ${s.samplesGenerated}`);
  await bus.close();
});

test('iterative: each iteration generates with the previous iteration\'s version, then trains on its own new pairs', async () => {
  const bus = makeBus('iter');
  const seen = observe(bus);
  const cfg = config({
    run: { mode: 'iterative', iterations: 3, prompts: 24 },
    generator: { count: 2, samplesPerPrompt: 4, promptsPerBatch: 3, maxNewTokens: 6 },
    learner: { batchSize: 4, checkpointEvery: 1000, publishEvery: 1000, epochsPerPhase: 2 },
    monitor: { intervalMs: 1000 },
  });
  const port = new FakeLearnerPort();
  const cluster = await startLocalCluster(cfg, bus, { policy: () => new FakePolicy(2), scorer: () => new FakeScorer(), learner: port, decode }, { prompts: prompts(10), checkpointDir: 'ck-iter' });
  const s = await cluster.done;
  await until(() => seen.groups.length === 24, 2000, 'all groups observed');
  await seen.stop();
  assert.equal(s.promptsPublished, 24);
  assert.equal(s.samplesScored, 24 * 4, 'labels used: every sample scored once');
  assert.equal(s.version, 3, 'one version per iteration');
  const byVersion = new Map<number, number>();
  for (const g of seen.groups) byVersion.set(g.policyVersion, (byVersion.get(g.policyVersion) ?? 0) + 1);
  assert.deepEqual([...byVersion.entries()].sort(), [[0, 8], [1, 8], [2, 8]]);
  // Two epochs over each iteration's pairs, in batches of 4 (a smaller last batch included).
  const perIteration = port.trained.reduce((n, st) => n + st.pairIds.length, 0) / 2;
  assert.equal(perIteration, s.pairs);
  assert.equal(s.pairsDroppedStale, 0);
  await bus.close();
});

test('offline: one dataset from the SFT policy, same prompt and label budget', async () => {
  const bus = makeBus('offline');
  // checkpointEvery 1 makes the learner's unacked window (batchSize * (checkpointEvery + 2) = 12) smaller than the phase (24):
  // the phase must be taken while it is labelled, acking as it checkpoints, not held whole.
  const cfg = config({ run: { mode: 'offline', prompts: 24 }, generator: { samplesPerPrompt: 4, promptsPerBatch: 4 }, learner: { batchSize: 4, checkpointEvery: 1 } });
  const port = new FakeLearnerPort();
  const cluster = await startLocalCluster(cfg, bus, { policy: () => new FakePolicy(), scorer: () => new FakeScorer(), learner: port, decode }, { prompts: prompts(10), checkpointDir: 'ck-off' });
  const s = await cluster.done;
  assert.equal(s.promptsPublished, 24);
  assert.equal(s.samplesScored, 96);
  assert.equal(s.version, 1);
  assert.equal(s.steps, Math.ceil(s.pairs / 4));
  assert.equal(bus.counters().acked.pairs, s.pairs, 'every pair acked after the final checkpoint');
  assert.ok(s.pairs > 12, `the phase (${s.pairs} pairs) is larger than the unacked window`);
  // One per step, and the last again once the phase's version is published, so it records version 1.
  assert.equal(port.checkpoints, s.steps + 1);
  await bus.close();
});

test('stop() drains a running cluster: in-flight work finishes, trained pairs are checkpointed and acked', async () => {
  const bus = makeBus('stopping');
  const cfg = config({
    run: { mode: 'streaming', prompts: 100_000 },
    generator: { count: 2, samplesPerPrompt: 4, promptsPerBatch: 2, maxNewTokens: 6 },
    learner: { batchSize: 4, publishEvery: 1, checkpointEvery: 1000, totalSteps: 100_000 },
  });
  const port = new FakeLearnerPort(10);
  const cluster = await startLocalCluster(cfg, bus, { policy: () => new FakePolicy(5), scorer: () => new FakeScorer(), learner: port, decode }, { prompts: prompts(20), checkpointDir: 'ck-stop' });
  await until(() => cluster.learner.step >= 3, 5000, 'three steps');
  const s = await cluster.stop();
  assert.ok(s.steps >= 3);
  assert.equal(port.checkpoints, 1, 'stop() checkpointed (checkpointEvery is far away)');
  assert.equal(s.metrics.learner!.learner_pairs_acked_total, s.pairsTrained, 'every trained pair acked after that checkpoint');
  assert.equal(bus.counters().acked.pairs, s.pairsTrained + (s.metrics.learner!.learner_pairs_stale_dropped_total ?? 0));
  assert.ok([...cluster.generators, ...cluster.judges].every((a) => a.state === 'stopped'));
  assert.equal(cluster.learner.state, 'stopped');
  assert.equal(cluster.learner.held, 0);
  await bus.close();
});

test('the evaluation of SFT is the same in runs with different compute.seed, and every evaluated response reaches the sink', async () => {
  const run = async (seed: number): Promise<{ sftGold: number; rows: EvalResponse[]; version: number }> => {
    const bus = makeBus(`seed-${seed}`);
    const cfg = config({ compute: { seed }, run: { mode: 'offline', prompts: 8 }, generator: { samplesPerPrompt: 4, promptsPerBatch: 4 }, learner: { batchSize: 4 }, evaluator: { prompts: 5, maxNewTokens: 6 } });
    const rows: EvalResponse[] = [];
    const gold = async (items: { tokens: number[] }[]): Promise<number[]> => items.map((x) => x.tokens.reduce((a, t) => a + t, 0) / (1 + x.tokens.length));
    const cluster = await startLocalCluster(
      cfg,
      bus,
      { policy: () => new FakePolicy(), scorer: () => new FakeScorer(), learner: new FakeLearnerPort(), decode, gold },
      { prompts: prompts(10), evalPrompts: prompts(5), checkpointDir: `ck-seed-${seed}`, onEvalResponses: async (r) => void rows.push(...r) },
    );
    const s = await cluster.done;
    await bus.close();
    return { sftGold: s.evals[0]!.sftGoldReward, rows, version: s.version };
  };
  const a = await run(11);
  const b = await run(12);
  assert.equal(a.sftGold, b.sftGold);
  const sft = (r: EvalResponse[]): string[] => r.filter((x) => x.version === 0).map((x) => x.response);
  assert.equal(sft(a.rows).length, 5);
  assert.deepEqual(sft(a.rows), sft(b.rows));
  assert.equal(a.rows.filter((x) => x.version === a.version).length, 5, 'the final version is evaluated and written too');
});
