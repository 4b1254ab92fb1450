// The learner: acks only what a checkpoint covers, skips redelivered pairs it already trained on, and applies the staleness policy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { Learner } from '../../src/actors/learner.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { FakeClock, untilFake } from '../helpers/fake_clock.js';
import { bus as makeBus, config, DISK, FakeLearnerPort, pair, until } from './fakes.js';

function learnerCfg(over: Record<string, unknown>) {
  return config({ learner: { batchSize: 2, publishEvery: 1, checkpointEvery: 3, totalSteps: 100, maxPolicyLag: 2, ...over } }).learner;
}

test('pairs are acked only once a checkpoint covers the step that used them', async () => {
  const bus = makeBus('test');
  const port = new FakeLearnerPort();
  const metrics = new MetricsRegistry();
  const learner = new Learner({ bus, port, clock: systemClock, metrics }, { learnerId: 'l', config: learnerCfg({}), checkpointDir: 'ck-ack', starvedCheckpointMs: 60_000 });
  learner.start();
  for (let i = 0; i < 4; i++) await bus.publish('pairs', pair(`p${i}`, 0), { msgId: `p${i}` });
  await until(() => learner.step === 2, 5000, 'two steps');
  // Two steps trained, four pairs used, none covered by a checkpoint yet.
  assert.equal(bus.counters().acked.pairs ?? 0, 0);
  assert.equal(learner.version, 2, 'publishEvery 1: a version per step');
  for (let i = 4; i < 6; i++) await bus.publish('pairs', pair(`p${i}`, 0), { msgId: `p${i}` });
  await until(() => (bus.counters().acked.pairs ?? 0) === 6, 5000, 'acks after the checkpoint at step 3');
  assert.equal(port.checkpoints, 1);
  assert.deepEqual((DISK.get('ck-ack')!.state as { ackedAfterCheckpoint: string[] }).ackedAfterCheckpoint.sort(), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
  assert.equal(metrics.snapshot().learner_pairs_acked_total, 6);
  await learner.stop();
  await bus.close();
});

test('after a crash between checkpoint and acks, redelivered pairs already trained on are acked and skipped, not trained twice', async () => {
  // Time is the fake clock's: the redeliveries after ackWaitMs and the starved checkpoint come when the test moves it.
  const clock = new FakeClock();
  const bus = makeBus('test', { ackWaitMs: 150 }, clock);
  const portA = new FakeLearnerPort();
  portA.crashAfterCheckpoint = 1;
  const a = new Learner({ bus, port: portA, clock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: learnerCfg({ maxPolicyLag: 100 }), checkpointDir: 'ck-crash', heartbeatMs: 50 });
  a.start();
  for (let i = 0; i < 8; i++) await bus.publish('pairs', pair(`p${i}`, 0), { msgId: `p${i}` });
  await assert.rejects(a.finished, /simulated crash/);
  await a.stop().catch(() => undefined);
  assert.equal(bus.counters().acked.pairs ?? 0, 0, 'the crash came before any ack');
  assert.equal(DISK.get('ck-crash')!.step, 3);

  const portB = new FakeLearnerPort();
  const metricsB = new MetricsRegistry();
  const b = new Learner({ bus, port: portB, clock, metrics: metricsB }, { learnerId: 'l', config: learnerCfg({ maxPolicyLag: 100 }), checkpointDir: 'ck-crash', starvedCheckpointMs: 300, heartbeatMs: 50 });
  b.start();
  await untilFake(clock, () => (bus.counters().acked.pairs ?? 0) >= 8, 'every pair acked once');
  assert.equal(b.step, 4, 'restored at step 3, one more step on the two pairs the checkpoint did not cover');
  const retrained = portB.trained.flatMap((s) => s.pairIds).sort();
  assert.deepEqual(retrained, ['p6', 'p7']);
  assert.equal(metricsB.snapshot().learner_pairs_duplicate_total, 6);
  assert.equal(metricsB.snapshot().learner_restores_total, 1);
  // Versions 1..3 were published before the crash (the checkpoint holds version 3); step 4 publishes version 4.
  assert.equal(b.version, 4);
  await b.stop();
  await bus.close();
});

test("'drop' acks and counts stale pairs; 'downweight' trains them with weight 0.5^(lag - maxPolicyLag)", async () => {
  for (const policy of ['drop', 'downweight'] as const) {
    const bus = makeBus(`stale-${policy}`);
    // Version 10 is already announced: the learner starts from it (and republishes its weights as 11).
    await bus.weights.put(10, 0, new Uint8Array([1]));
    const port = new FakeLearnerPort();
    const metrics = new MetricsRegistry();
    const learner = new Learner(
      { bus, port, clock: systemClock, metrics },
      { learnerId: 'l', config: learnerCfg({ stalePairs: policy, publishEvery: 1000, checkpointEvery: 1000, batchSize: 3 }), checkpointDir: `ck-stale-${policy}`, starvedCheckpointMs: 60_000 },
    );
    learner.start();
    await until(() => learner.version === 11, 2000, 'restore');
    const versions = [11, 9, 7, 10, 6, 11];
    for (const [i, v] of versions.entries()) await bus.publish('pairs', pair(`s${i}`, 11, v, `stale-${policy}`), { msgId: `s${i}` });
    if (policy === 'drop') {
      // lags 0, 2, 4, 1, 5, 0: two beyond maxPolicyLag 2 are dropped; the other four make one full batch of 3.
      await until(() => learner.step === 1 && metrics.snapshot().learner_pairs_stale_dropped_total === 2, 3000, 'drop');
      assert.equal(bus.counters().acked.pairs, 2, 'the dropped pairs are acked at once');
      assert.ok(port.trained[0]!.weights.every((w) => w === 1));
      assert.deepEqual(port.trained[0]!.pairIds, ['s0', 's1', 's3']);
    } else {
      await until(() => learner.step === 2, 3000, 'downweight');
      assert.deepEqual(port.trained.map((s) => s.weights), [[1, 1, 0.25], [1, 0.125, 1]]);
      assert.equal(metrics.snapshot().learner_pairs_downweighted_total, 2);
    }
    const snap = metrics.snapshot();
    assert.equal(snap.learner_policy_lag_count, 6);
    assert.equal(snap.learner_policy_lag_bucket_le_2, 4);
    await learner.stop();
    await bus.close();
  }
});

test('a learner restored from a checkpoint onto an empty weight store announces the restored weights, so generators do not restart from version 0', async () => {
  const busA = makeBus('test');
  const portA = new FakeLearnerPort();
  const cfg = learnerCfg({ checkpointEvery: 2, maxPolicyLag: 1 });
  const a = new Learner({ bus: busA, port: portA, clock: systemClock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: cfg, checkpointDir: 'ck-empty-store', heartbeatMs: 50 });
  a.start();
  for (let i = 0; i < 4; i++) await busA.publish('pairs', pair(`p${i}`, i < 2 ? 0 : 1), { msgId: `p${i}` });
  await until(() => portA.checkpoints === 1, 5000, 'the checkpoint at step 2');
  await a.stop();
  await busA.close();
  assert.equal((DISK.get('ck-empty-store')!.state as { version: number }).version, 2);

  // A new process: a fresh in-process bus whose weight store is empty, the checkpoint on disk.
  const busB = makeBus('test');
  const b = new Learner({ bus: busB, port: new FakeLearnerPort(), clock: systemClock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: cfg, checkpointDir: 'ck-empty-store', heartbeatMs: 50 });
  await b.init();
  const latest = await busB.weights.latest();
  assert.equal(latest?.version, 3, 'the restored weights (checkpoint version 2) announced as version 3');
  assert.equal(latest?.step, 2);
  assert.equal(b.version, 3);
  // A pair sampled from the announced version is fresh and trains.
  b.start();
  for (let i = 4; i < 6; i++) await busB.publish('pairs', pair(`p${i}`, 3), { msgId: `p${i}` });
  await until(() => b.step === 3, 5000, 'a step after the restore');
  await b.stop();
  await busB.close();
});

test('pairs redelivered after a learner crash keep their lag: measured at the restored version, not at versions announced since', async () => {
  const bus = makeBus('test', { ackWaitMs: 2000 });
  const portA = new FakeLearnerPort();
  portA.crashAfterCheckpoint = 1;
  const cfg = learnerCfg({ maxPolicyLag: 2, checkpointEvery: 3 });
  for (let i = 0; i < 6; i++) await bus.publish('pairs', pair(`p${i}`, 0), { msgId: `p${i}` });
  // Sampled from version 2 and taken by the first learner at version 3: lag 1.
  for (let i = 6; i < 8; i++) await bus.publish('pairs', pair(`p${i}`, 2), { msgId: `p${i}` });
  const a = new Learner({ bus, port: portA, clock: systemClock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: cfg, checkpointDir: 'ck-lag-redelivery', heartbeatMs: 50 });
  a.start();
  await assert.rejects(a.finished, /simulated crash/);
  await a.stop().catch(() => undefined);
  // The first learner had announced two more versions before it died; their steps are lost with it.
  await bus.weights.put(4, 4, new Uint8Array([4]));
  await bus.weights.put(5, 5, new Uint8Array([5]));

  const portB = new FakeLearnerPort();
  const metricsB = new MetricsRegistry();
  const b = new Learner({ bus, port: portB, clock: systemClock, metrics: metricsB }, { learnerId: 'l', config: cfg, checkpointDir: 'ck-lag-redelivery', starvedCheckpointMs: 300, heartbeatMs: 50 });
  b.start();
  await until(() => portB.trained.length > 0 || (metricsB.snapshot().learner_pairs_stale_dropped_total ?? 0) > 0, 8000, 'the redelivered pairs');
  // Restored at version 3, it announces 6 (past the lost 4 and 5); against 6 the pairs' lag would be 4 > maxPolicyLag.
  assert.equal(b.version, 7, 'announced 6 at restore, 7 after the step on the redelivered pairs');
  assert.equal(metricsB.snapshot().learner_pairs_stale_dropped_total ?? 0, 0, 'lag 1 as at first delivery, not 4');
  assert.deepEqual(portB.trained.flatMap((s) => s.pairIds).sort(), ['p6', 'p7']);
  await b.stop();
  await bus.close();
});

test('a phase whose last step falls on a checkpoint step records the version it publishes at its end, not the one before', async () => {
  const bus = makeBus('test');
  const port = new FakeLearnerPort();
  const learner = new Learner({ bus, port, clock: systemClock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: learnerCfg({ checkpointEvery: 2, maxPolicyLag: 100 }), checkpointDir: 'ck-phase-version' });
  for (let i = 0; i < 4; i++) await bus.publish('pairs', pair(`v${i}`, 0), { msgId: `v${i}` });
  const first = await learner.trainPhase(4, 1);
  assert.deepEqual([first.steps, first.version], [2, 1]);
  assert.equal((DISK.get('ck-phase-version')!.state as { version: number }).version, 1, 'the checkpoint at step 2 was written before version 1 was published');
  for (let i = 4; i < 8; i++) await bus.publish('pairs', pair(`v${i}`, 1), { msgId: `v${i}` });
  const second = await learner.trainPhase(4, 1);
  assert.equal(second.version, 2);
  assert.equal((DISK.get('ck-phase-version')!.state as { version: number }).version, 2);
  await learner.stop();
  await bus.close();
});

test("learner.phaseStart labelled takes no pair before the phase's count is known; arrival trains as pairs come", async () => {
  for (const phaseStart of ['labelled', 'arrival'] as const) {
    const bus = makeBus('test');
    // GEMM threads the phase sets: the paper's loop takes phaseThreads while it trains, then puts the count back.
    const threads: number[] = [];
    const port = Object.assign(new FakeLearnerPort(), {
      setThreads: async (n: number) => {
        threads.push(n);
        return threads.length === 1 ? 1 : 3;
      },
    });
    const cfg = learnerCfg({ checkpointEvery: 100, maxPolicyLag: 100, phaseStart, phaseThreads: 3 });
    const clock = new FakeClock();
    const learner = new Learner({ bus, port, clock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: cfg, checkpointDir: `ck-phase-start-${phaseStart}` });
    for (let i = 0; i < 4; i++) await bus.publish('pairs', pair(`s${i}`, 0), { msgId: `s${i}` });
    let labelled!: (n: number) => void;
    const training = learner.trainPhase(new Promise<number>((r) => (labelled = r)), 1);
    if (phaseStart === 'labelled') {
      // Three fake seconds with every pair stored: time enough for two steps, were any allowed.
      for (let t = 0; t < 3000; t += 10) await clock.advance(10);
      assert.equal(learner.step, 0, 'no step while the phase is still being labelled');
    } else {
      await untilFake(clock, () => learner.step === 2, 'two steps');
      assert.equal(learner.step, 2, 'two full batches trained before the labels were all in');
    }
    labelled(4);
    let done = false;
    void training.then(() => (done = true));
    await untilFake(clock, () => done, 'the phase to finish');
    const r = await training;
    assert.deepEqual([r.pairs, r.steps], [4, 2]);
    assert.deepEqual(port.trained.flatMap((s) => s.pairIds), ['s0', 's1', 's2', 's3'], 'the same pairs in the same order either way');
    assert.deepEqual(threads, phaseStart === 'labelled' ? [3, 1] : [], 'three GEMM threads while the labelled phase trained, then one again');
    await learner.stop();
    await bus.close();
  }
});

test('pairs fetched while a phase waits for its labels are kept past the ack wait, not redelivered', async () => {
  const clock = new FakeClock();
  const bus = makeBus('test', { ackWaitMs: 150 }, clock);
  const port = new FakeLearnerPort();
  const metrics = new MetricsRegistry();
  const cfg = learnerCfg({ checkpointEvery: 100, maxPolicyLag: 100, phaseStart: 'labelled' });
  const learner = new Learner({ bus, port, clock, metrics }, { learnerId: 'l', config: cfg, checkpointDir: 'ck-phase-wait', heartbeatMs: 50 });
  for (let i = 0; i < 4; i++) await bus.publish('pairs', pair(`w${i}`, 0), { msgId: `w${i}` });
  let labelled!: (n: number) => void;
  const training = learner.trainPhase(new Promise<number>((r) => (labelled = r)), 1);
  // Ten ack waits pass while the phase is labelled.
  for (let i = 0; i < 30; i++) await clock.advance(50);
  assert.equal(learner.step, 0);
  labelled(4);
  await untilFake(clock, () => learner.step === 2, 'the phase trained');
  const r = await training;
  assert.equal(r.pairs, 4);
  assert.equal(bus.counters().delivered.pairs, 4, 'each pair delivered once');
  assert.equal(metrics.snapshot().learner_pairs_duplicate_total ?? 0, 0);
  await learner.stop();
  await bus.close();
});
