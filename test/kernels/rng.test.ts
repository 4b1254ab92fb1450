// Seeded randomness: same seed, same stream; different labels, different streams.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveSeed, Rng } from '../../src/kernels/rng.js';

test('the same seed gives the same stream, and uniforms lie in [0, 1)', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 1000 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b.next()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
});

test('derived seeds differ by label and are stable', () => {
  assert.equal(deriveSeed(1, 'gen', 0), deriveSeed(1, 'gen', 0));
  assert.notEqual(deriveSeed(1, 'gen', 0), deriveSeed(1, 'gen', 1));
  assert.notEqual(deriveSeed(1, 'gen'), deriveSeed(2, 'gen'));
});

test('shuffle is a permutation and normal() has unit variance', () => {
  const r = new Rng(7);
  const xs = r.shuffle(Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual([...xs].sort((p, q) => p - q), Array.from({ length: 100 }, (_, i) => i));
  const zs = Array.from({ length: 20000 }, () => r.normal());
  const m = zs.reduce((s, z) => s + z, 0) / zs.length;
  const v = zs.reduce((s, z) => s + (z - m) ** 2, 0) / zs.length;
  assert.ok(Math.abs(m) < 0.05 && Math.abs(v - 1) < 0.05, `mean ${m} var ${v}`);
});
