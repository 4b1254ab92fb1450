// The trained-pairs ledger: one line per committed checkpoint, recovered after a crash between save and append, and
// the learner's bus that acks (never retrains) a pair some earlier checkpoint already holds.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { Learner } from '../../src/actors/learner.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { LedgeredLearnerPort, readLedger, skipTrainedPairs } from '../../src/run/trained_ledger.js';
import { pairDigest } from '../../src/run/pair_journal.js';
import { bus as inprocessBus, config, FakeLearnerPort, pair, until } from '../actors/fakes.js';

const ledgerPath = (): string => join(mkdtempSync(join(tmpdir(), 'rlhf-ledger-')), 'trained_pairs.jsonl');

test('each checkpoint appends the pairs it covers, with their lag and sample versions', async () => {
  const file = ledgerPath();
  let version = 3;
  const port = new LedgeredLearnerPort(new FakeLearnerPort(), file, () => version);
  await port.step([pair('a', 3), pair('b', 1, 2)], [1, 0.5]);
  await port.saveCheckpoint(`ck-ledger-${Date.now()}`, { step: 1, version: 3, ackedAfterCheckpoint: ['a', 'b'] });
  version = 4;
  await port.step([pair('c', 4)], [1]);
  await port.saveCheckpoint(`ck-ledger-${Date.now()}-2`, { step: 2, version: 4, ackedAfterCheckpoint: ['c'] });
  const lines = readLedger(file);
  assert.deepEqual(
    lines.map((l) => [l.step, l.version, l.source]),
    [
      [1, 3, 'checkpoint'],
      [2, 4, 'checkpoint'],
    ],
  );
  assert.deepEqual(lines[0]!.pairs, [
    { pairId: 'a', lag: 0, versions: [3, 3], weight: 1 },
    { pairId: 'b', lag: 2, versions: [1, 2], weight: 0.5 },
  ]);
  assert.deepEqual([...port.trained].sort(), ['a', 'b', 'c']);
  await assert.rejects(port.saveCheckpoint('ck-x', { step: 3, version: 4, ackedAfterCheckpoint: ['never-trained'] }), /covers pair never-trained, which no step of this process trained/);
});

test('a crash between the checkpoint write and the ledger append is repaired from the checkpoint at restart, once', async () => {
  const file = ledgerPath();
  const dir = `ck-ledger-crash-${Date.now()}`;
  const inner = new FakeLearnerPort();
  inner.crashAfterCheckpoint = 1;
  const a = new LedgeredLearnerPort(inner, file, () => 0);
  await a.step([pair('x', 0)], [1]);
  await assert.rejects(a.saveCheckpoint(dir, { step: 1, version: 0, ackedAfterCheckpoint: ['x'] }), /simulated crash/);
  assert.equal(readLedger(file).length, 0, 'the process died before the append');

  const b = new LedgeredLearnerPort(new FakeLearnerPort(), file, () => 0);
  const state = await b.loadCheckpoint(dir);
  assert.equal(state?.step, 1);
  assert.deepEqual(
    readLedger(file).map((l) => [l.step, l.source, l.pairs.map((p) => p.pairId)]),
    [[1, 'restore', ['x']]],
  );
  await new LedgeredLearnerPort(new FakeLearnerPort(), file, () => 0).loadCheckpoint(dir);
  assert.equal(readLedger(file).length, 1, 'a second restart adds nothing');
});

test('a pair redelivered after an older checkpoint trained it is acked and skipped, not trained again', async () => {
  const file = ledgerPath();
  const bus = inprocessBus('ledger-skip');
  const inner = new FakeLearnerPort();
  let learner: Learner | undefined;
  const port = new LedgeredLearnerPort(inner, file, () => learner?.version ?? 0);
  const skipped: string[] = [];
  const learnerBus = skipTrainedPairs(bus, port.trained, (p) => skipped.push(p.pairId));
  const cfg = config({ learner: { batchSize: 2, checkpointEvery: 1, publishEvery: 1, totalSteps: 3, maxPolicyLag: 100 } }).learner;
  learner = new Learner({ bus: learnerBus, port, clock: systemClock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: cfg, checkpointDir: `ck-skip-${Date.now()}`, starvedCheckpointMs: 60_000 });
  learner.start();
  for (const id of ['p1', 'p2', 'p3', 'p4']) await bus.publish('pairs', pair(id, 0, 0, 'ledger-skip'), { msgId: id });
  await until(() => learner!.step === 2, 5000, 'two steps');
  // p1 comes back as a server that lost its ack would send it: step 1's checkpoint holds it, step 2's does not.
  await bus.publish('pairs', pair('p1', 0, 0, 'ledger-skip'), { msgId: 'p1-again' });
  for (const id of ['p5', 'p6']) await bus.publish('pairs', pair(id, 0, 0, 'ledger-skip'), { msgId: id });
  await learner.finished;
  await learner.finish(false);
  assert.deepEqual(skipped, ['p1']);
  const trainedIds = inner.trained.flatMap((t) => t.pairIds);
  assert.deepEqual(trainedIds.sort(), ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  const ledgerIds = readLedger(file).flatMap((l) => l.pairs.map((p) => p.pairId));
  assert.deepEqual(ledgerIds.sort(), ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  assert.equal(bus.counters().acked.pairs, 7, 'the skipped redelivery was acked too');
  await bus.close();
});

test('a phase counts the pairs the ledger filter settled (trained before a crash, their acks lost) instead of waiting for them', async () => {
  const bus = inprocessBus('ledger-phase');
  const inner = new FakeLearnerPort();
  // Checkpoint-trained by the learner that died before its acks reached the server: still stored, delivered again.
  const trained = new Set(['q0', 'q1']);
  const skippedSeqs: number[] = [];
  const learnerBus = skipTrainedPairs(bus, trained, (_p, seq) => skippedSeqs.push(seq));
  const cfg = config({ learner: { batchSize: 2, checkpointEvery: 1, maxPolicyLag: 100 } }).learner;
  const learner = new Learner(
    { bus: learnerBus, port: inner, clock: systemClock, metrics: new MetricsRegistry() },
    { learnerId: 'l', config: cfg, checkpointDir: `ck-phase-skip-${Date.now()}`, phaseIdleTimeoutMs: 3000 },
  );
  for (const id of ['q0', 'q1', 'q2', 'q3', 'q4', 'q5']) await bus.publish('pairs', pair(id, 0, 0, 'ledger-phase'), { msgId: id });
  const t0 = Date.now();
  // The phase's count comes from the stream: 6 pairs, 2 of which never reach the learner.
  const r = await learner.trainPhase(6, 1, () => skippedSeqs.length);
  assert.ok(Date.now() - t0 < 3000, `the phase ended without waiting out its idle timeout (${Date.now() - t0} ms)`);
  assert.deepEqual([r.pairs, r.steps], [4, 2]);
  assert.equal(skippedSeqs.length, 2);
  assert.deepEqual(inner.trained.flatMap((t) => t.pairIds).sort(), ['q2', 'q3', 'q4', 'q5'], 'the already-trained pairs are not trained again');
  await learner.stop();
  await bus.close();
});

test('each ledger line lists its steps in order (pair ids, digests, loss weights) and every weights export with its sha256', async () => {
  const file = ledgerPath();
  let version = 0;
  let synced = 0;
  const port = new LedgeredLearnerPort(new FakeLearnerPort(), file, () => version, () => synced++);
  const [a, b, c] = [pair('a', 0), pair('b', 0), pair('c', 0)];
  await port.step([b, a], [1, 0.5]);
  const bytes = await port.exportWeights();
  version = 1;
  await port.step([c], [1]);
  await port.saveCheckpoint(`ck-ledger-steps-${Date.now()}`, { step: 2, version: 1, ackedAfterCheckpoint: ['b', 'a', 'c'] });
  assert.equal(synced, 1, 'the journal hook ran before the checkpoint');
  const [line] = readLedger(file);
  assert.deepEqual(line!.steps, [
    { step: 1, pairIds: ['b', 'a'], digests: [pairDigest(b), pairDigest(a)], weights: [1, 0.5] },
    { step: 2, pairIds: ['c'], digests: [pairDigest(c)], weights: [1] },
  ]);
  assert.deepEqual(line!.publishes, [{ step: 1, version: 1, sha256: createHash('sha256').update(bytes).digest('hex') }]);
});

test('a restart that rewrites a lost ledger line from the checkpoint keeps its steps and exports, and counts steps on from it', async () => {
  const file = ledgerPath();
  const dir = `ck-ledger-steps-crash-${Date.now()}`;
  const inner = new FakeLearnerPort();
  inner.crashAfterCheckpoint = 1;
  const a = new LedgeredLearnerPort(inner, file, () => 0);
  await a.step([pair('x', 0)], [1]);
  await a.exportWeights();
  await assert.rejects(a.saveCheckpoint(dir, { step: 1, version: 1, ackedAfterCheckpoint: ['x'] }), /simulated crash/);
  const b = new LedgeredLearnerPort(new FakeLearnerPort(), file, () => 1);
  await b.loadCheckpoint(dir);
  const [line] = readLedger(file);
  assert.equal(line!.source, 'restore');
  assert.deepEqual(line!.steps?.map((s) => [s.step, s.pairIds]), [[1, ['x']]]);
  assert.equal(line!.publishes?.length, 1);
  await b.step([pair('y', 1)], [1]);
  await b.saveCheckpoint(`${dir}-2`, { step: 2, version: 1, ackedAfterCheckpoint: ['y'] });
  assert.deepEqual(readLedger(file)[1]!.steps?.map((s) => s.step), [2], 'the restored learner numbers its steps after the checkpoint');
});
