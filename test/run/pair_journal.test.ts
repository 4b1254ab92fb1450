// The pair journal: each pair once by id and content, a torn last frame dropped and overwritten, journaled on delivery.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { journalPairs, pairDigest, PairJournal, readPairJournal } from '../../src/run/pair_journal.js';
import { bus as inprocessBus, pair } from '../actors/fakes.js';

const journalPath = (): string => join(mkdtempSync(join(tmpdir(), 'rlhf-journal-')), 'pairs.log');

test('a pair is written once per content; a new pair under an old id is kept beside it, and both are found by digest', () => {
  const file = journalPath();
  const j = new PairJournal(file);
  const a = pair('a', 0);
  j.append(a);
  j.append(a);
  j.append(pair('b', 1));
  const a2 = { ...pair('a', 3), margin: 2 };
  j.append(a2);
  j.close();
  assert.equal(new PairJournal(file).size, 3, 'reopened: the same three pairs');
  const read = readPairJournal(file);
  assert.equal(read.size, 3);
  assert.deepEqual(read.get('a', pairDigest(a)), a);
  assert.deepEqual(read.get('a', pairDigest(a2)), a2);
  assert.notEqual(pairDigest(a), pairDigest(a2));
  assert.deepEqual(read.get('b'), pair('b', 1));
  assert.equal(read.get('c'), undefined);
  assert.deepEqual([...read.ids()].sort(), ['a', 'b']);
});

test('a frame a crash cut short is ignored by readers and overwritten by the next append', () => {
  const file = journalPath();
  const j = new PairJournal(file);
  j.append(pair('a', 0));
  j.append(pair('b', 0));
  j.close();
  const whole = statSync(file).size;
  truncateSync(file, whole - 5);
  assert.deepEqual([...readPairJournal(file).ids()], ['a'], 'the torn frame is not read');
  appendFileSync(file, Buffer.from([1, 2, 3]));
  const again = new PairJournal(file);
  assert.equal(again.size, 1);
  again.append(pair('c', 0));
  again.close();
  assert.deepEqual([...readPairJournal(file).ids()], ['a', 'c'], 'the append starts where the last whole frame ended');
});

test('journalPairs writes every pair delivered on the pairs topic before the consumer sees it', async () => {
  const file = journalPath();
  const journal = new PairJournal(file);
  const raw = inprocessBus();
  const bus = journalPairs(raw, journal);
  for (const id of ['p1', 'p2', 'p3']) await bus.publish('pairs', pair(id, 0), { msgId: id });
  const seen: string[] = [];
  const sub = bus.consume('pairs', { durable: 'learner' });
  for await (const d of sub) {
    // Already in the journal (unsynced until the ledger's checkpoint hook, but written) when delivered.
    assert.ok(readPairJournal(file).get(d.data.pairId), `${d.data.pairId} journaled before delivery`);
    seen.push(d.data.pairId);
    await d.ack();
    if (seen.length === 3) break;
  }
  await sub.stop();
  assert.deepEqual(seen, ['p1', 'p2', 'p3']);
  journal.close();
  await raw.close();
});
