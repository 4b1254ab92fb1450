// Duplicate deliveries never count a pair twice in training: redeliveries after an ack timeout, duplicate publishes of one
// pair id (before, during and long after the checkpoint that covered it), and duplicates seen by a restarted learner.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { Learner } from '../../src/actors/learner.js';
import { FakeClock, untilFake } from '../helpers/fake_clock.js';
import type { LearnerState } from '../../src/actors/learner_state.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import type { InProcessBus } from '../../src/streams/inprocess/bus.js';
import { bus as makeBus, config, DISK, FakeLearnerPort, pair, until } from '../actors/fakes.js';
import { pack } from './hostile.js';

function learnerCfg(over: Record<string, unknown>) {
  return config({ learner: { batchSize: 2, publishEvery: 1000, checkpointEvery: 1, totalSteps: 1000, maxPolicyLag: 1000, ...over } }).learner;
}

const trainedIds = (port: FakeLearnerPort): string[] => port.trained.flatMap((s) => s.pairIds);

/** Appends a second, separate message for the same pair (another msgId), as a judge retrying without dedup would. */
const duplicate = (bus: InProcessBus, id: string, n: number): Promise<void> => bus.publishRaw('pairs', pack(pair(id, 0)), { msgId: `${id}-dup-${n}` });

describe('duplicate pairs', () => {
  it('a pair redelivered after its ack timeout joins its first delivery and is trained once', async () => {
    // ackWaitMs 150 and no heartbeat: held pairs time out and come back while the learner still holds them. Time is
    // the fake clock's, moved by the test.
    const clock = new FakeClock();
    const bus = makeBus('test', { ackWaitMs: 150, maxDeliver: 20 }, clock);
    const port = new FakeLearnerPort();
    const metrics = new MetricsRegistry();
    const learner = new Learner(
      { bus, port, clock, metrics },
      { learnerId: 'l', config: learnerCfg({ batchSize: 4, checkpointEvery: 3, totalSteps: 3 }), checkpointDir: 'rel-dup-redeliver', ackWaitMs: 150, heartbeatMs: 60_000, starvedCheckpointMs: 60_000 },
    );
    try {
      learner.start();
      for (let i = 0; i < 6; i++) await bus.publish('pairs', pair(`p${i}`, 0), { msgId: `p${i}` });
      await until(() => learner.step === 1, 5000, 'the first step');
      // p0..p3 are trained and held unacked, p4 and p5 wait for a batch: all six time out and are redelivered.
      await untilFake(clock, () => (bus.counters().delivered.pairs ?? 0) >= 12, 'redeliveries of the six held pairs');
      for (let i = 6; i < 12; i++) await bus.publish('pairs', pair(`p${i}`, 0), { msgId: `p${i}` });
      await learner.finished;
      const ids = trainedIds(port);
      assert.equal(learner.step, 3);
      assert.deepEqual([...ids].sort(), Array.from({ length: 12 }, (_, i) => `p${i}`).sort(), 'each pair trained exactly once');
      assert.equal(metrics.snapshot().learner_pairs_trained_total, 12);
      assert.ok(metrics.snapshot().learner_pairs_duplicate_total! >= 6, `duplicates counted: ${metrics.snapshot().learner_pairs_duplicate_total}`);
      await untilFake(clock, () => (bus.counters().pending['pairs/learner'] ?? 0) === 0, 'nothing left to redeliver');
      assert.equal(bus.counters().deadLettered.pairs ?? 0, 0, 'redeliveries were absorbed, not dead-lettered');
    } finally {
      await learner.stop().catch(() => undefined);
      await bus.close();
    }
  });

  it('a publish repeating the msgId of a pair is stored once (the judge publishes with msgId = pairId)', async () => {
    const bus = makeBus('test');
    try {
      await bus.publish('pairs', pair('p:g:q1:0', 0), { msgId: 'p:g:q1:0' });
      await bus.publish('pairs', pair('p:g:q1:0', 0), { msgId: 'p:g:q1:0' });
      assert.equal(bus.counters().published.pairs, 1);
    } finally {
      await bus.close();
    }
  });

  it('a duplicate of a pair id is never trained again: in the batch, held, just covered, or many checkpoints later', async () => {
    const bus = makeBus('test');
    const port = new FakeLearnerPort();
    const metrics = new MetricsRegistry();
    const learner = new Learner(
      { bus, port, clock: systemClock, metrics },
      { learnerId: 'l', config: learnerCfg({ batchSize: 2, checkpointEvery: 2 }), checkpointDir: 'rel-dup-publish', starvedCheckpointMs: 60_000 },
    );
    const steps = (n: number): Promise<void> => until(() => learner.step >= n, 5000, `step ${n}`);
    try {
      learner.start();
      await bus.publish('pairs', pair('a', 0));
      await duplicate(bus, 'a', 1); // while 'a' waits in the batch
      await bus.publish('pairs', pair('b', 0));
      await steps(1);
      await duplicate(bus, 'a', 2); // trained, held until the checkpoint
      await bus.publish('pairs', pair('c', 0));
      await bus.publish('pairs', pair('d', 0));
      await steps(2); // checkpoint: a..d acked
      await duplicate(bus, 'b', 1); // covered by the checkpoint just written
      for (let i = 0; i < 8; i++) await bus.publish('pairs', pair(`e${i}`, 0));
      await steps(6); // two more checkpoints
      await duplicate(bus, 'a', 3); // long after: must still be recognised
      await duplicate(bus, 'c', 1);
      await bus.publish('pairs', pair('f0', 0));
      await bus.publish('pairs', pair('f1', 0));
      await steps(7);
      const ids = trainedIds(port);
      assert.equal(new Set(ids).size, ids.length, `a pair was trained twice: ${ids.join(', ')}`);
      assert.equal(ids.length, 14);
      assert.equal(metrics.snapshot().learner_pairs_trained_total, 14);
      assert.equal(metrics.snapshot().learner_pairs_duplicate_total, 5);
      await until(() => (bus.counters().acked.pairs ?? 0) >= 3 + 12, 2000, 'duplicates of covered pairs acked');
    } finally {
      await learner.stop().catch(() => undefined);
      await bus.close();
    }
  });

  it('a restarted learner recognises duplicates of pairs covered by checkpoints before its last one', async () => {
    const bus = makeBus('test');
    const cfg = learnerCfg({ batchSize: 2, checkpointEvery: 1 });
    const portA = new FakeLearnerPort();
    const a = new Learner({ bus, port: portA, clock: systemClock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: cfg, checkpointDir: 'rel-dup-restart', starvedCheckpointMs: 60_000 });
    a.start();
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) await bus.publish('pairs', pair(id, 0));
    await until(() => a.step >= 3, 5000, 'three steps, three checkpoints');
    await a.stop();
    const saved = DISK.get('rel-dup-restart')!.state as unknown as LearnerState;
    assert.deepEqual([...saved.ackedAfterCheckpoint].sort(), ['e', 'f'], 'the last checkpoint names its own pairs');

    const portB = new FakeLearnerPort();
    const metricsB = new MetricsRegistry();
    const b = new Learner({ bus, port: portB, clock: systemClock, metrics: metricsB }, { learnerId: 'l', config: cfg, checkpointDir: 'rel-dup-restart', starvedCheckpointMs: 60_000 });
    try {
      b.start();
      for (const id of ['a', 'c', 'f']) await duplicate(bus, id, 1);
      await bus.publish('pairs', pair('g', 0));
      await bus.publish('pairs', pair('h', 0));
      await until(() => b.step >= 4, 5000, 'one step after the restore');
      assert.deepEqual(trainedIds(portB).sort(), ['g', 'h']);
      assert.equal(metricsB.snapshot().learner_pairs_duplicate_total, 3);
    } finally {
      await b.stop().catch(() => undefined);
      await bus.close();
    }
  });
});
