// The pairing rule: best vs worst, best vs random, random pairs, the length penalty, and dropped ties.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choosePair, penalisedScores, PairingError } from '../../src/actors/pairing.js';

const base = { lengthPenalty: 0, minMargin: 1e-6, seed: 1 };

test('max_min picks the best and the worst of K', () => {
  const c = choosePair([0.2, 0.9, -0.5, 0.4], [3, 3, 3, 3], { ...base, rule: 'max_min' });
  assert.equal(c.kind, 'pair');
  if (c.kind !== 'pair') return;
  assert.equal(c.chosen, 1);
  assert.equal(c.rejected, 2);
  assert.ok(Math.abs(c.margin - 1.4) < 1e-12);
});

test('max_random keeps the best as chosen and draws every other response as rejected over seeds', () => {
  const scores = [0.1, 0.5, 0.3, 0.7, 0.2];
  const seen = new Set<number>();
  for (let seed = 0; seed < 200; seed++) {
    const c = choosePair(scores, [1, 1, 1, 1, 1], { ...base, rule: 'max_random', seed });
    assert.equal(c.kind, 'pair');
    if (c.kind !== 'pair') continue;
    assert.equal(c.chosen, 3);
    assert.notEqual(c.rejected, 3);
    seen.add(c.rejected);
  }
  assert.deepEqual([...seen].sort(), [0, 1, 2, 4]);
  // The same seed pairs alike (a redelivered group gets the same pair).
  assert.deepEqual(choosePair(scores, [1, 1, 1, 1, 1], { ...base, rule: 'max_random', seed: 9 }), choosePair(scores, [1, 1, 1, 1, 1], { ...base, rule: 'max_random', seed: 9 }));
});

test('random draws two distinct responses and chooses the higher-ranked one', () => {
  const scores = [0.1, 0.5, 0.3, 0.7];
  const pairs = new Set<string>();
  for (let seed = 0; seed < 300; seed++) {
    const c = choosePair(scores, [1, 1, 1, 1], { ...base, rule: 'random', seed });
    assert.equal(c.kind, 'pair');
    if (c.kind !== 'pair') continue;
    assert.notEqual(c.chosen, c.rejected);
    assert.ok(scores[c.chosen]! > scores[c.rejected]!);
    pairs.add(`${c.chosen}>${c.rejected}`);
  }
  assert.equal(pairs.size, 6, `all 6 unordered pairs occur: ${[...pairs].join(' ')}`);
});

test('the length penalty ranks by r - lambda * length and can flip the choice', () => {
  assert.deepEqual(penalisedScores([1, 2], [10, 30], 0.1), [0, -1]);
  const without = choosePair([1.0, 1.5], [5, 20], { ...base, rule: 'max_min' });
  const withPenalty = choosePair([1.0, 1.5], [5, 20], { ...base, rule: 'max_min', lengthPenalty: 0.05 });
  assert.ok(without.kind === 'pair' && without.chosen === 1);
  assert.ok(withPenalty.kind === 'pair' && withPenalty.chosen === 0 && withPenalty.rejected === 1);
  if (withPenalty.kind === 'pair') assert.ok(Math.abs(withPenalty.margin - 0.25) < 1e-12);
});

test('ties (margin below minMargin) are dropped', () => {
  assert.equal(choosePair([0.3, 0.3, 0.3], [1, 2, 3], { ...base, rule: 'max_min' }).kind, 'tie');
  const near = choosePair([0.3, 0.30001, 0.3], [1, 1, 1], { ...base, rule: 'max_min', minMargin: 0.001 });
  assert.equal(near.kind, 'tie');
  assert.ok(near.margin > 0 && near.margin < 0.001);
  assert.equal(choosePair([0.3, 0.30001], [1, 1], { ...base, rule: 'max_min', minMargin: 0 }).kind, 'pair');
});

test('bad inputs are errors naming the value', () => {
  assert.throws(() => choosePair([1], [1], { ...base, rule: 'max_min' }), PairingError);
  assert.throws(() => choosePair([1, Number.NaN], [1, 1], { ...base, rule: 'max_min' }), /finite/);
  assert.throws(() => choosePair([1, 2], [1, 1], { ...base, rule: 'best' as 'max_min' }), /one of max_min, max_random, random; got "best"/);
});
