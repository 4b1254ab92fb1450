// The custom matMul matches tf.matMul in value and gradient for every transpose combination and batch layout.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { columnSum, linear, matMul, MatMulError } from '../../src/kernels/matmul.js';
import { assertGradClose } from './grad_check.js';

before(async () => {
  await initBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

const COMBOS: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

/** Shapes of a and b for a [batch..., m, k] x [batch..., k, n] product under the given transposes. */
function shapes(batch: number[], m: number, k: number, n: number, tA: boolean, tB: boolean): [number[], number[]] {
  return [
    [...batch, ...(tA ? [k, m] : [m, k])],
    [...batch, ...(tB ? [n, k] : [k, n])],
  ];
}

for (const batch of [[], [3], [2, 3]]) {
  for (const [tA, tB] of COMBOS) {
    test(`value and gradient equal tf.matMul: batch [${batch}], transposeA=${tA}, transposeB=${tB}`, () => {
      const before = tf.memory().numTensors;
      const [sa, sb] = shapes(batch, 5, 7, 4, tA, tB);
      const a = tf.randomNormal(sa, 0, 1, 'float32', 1);
      const b = tf.randomNormal(sb, 0, 1, 'float32', 2);
      const w = tf.randomNormal([...batch, 5, 4], 0, 1, 'float32', 3); // weights the output so every entry matters
      const ours = matMul(a, b, tA, tB);
      const ref = tf.matMul(a, b, tA, tB);
      assert.ok(maxAbsDiff(ours, ref) < 1e-5);
      const loss = (mm: typeof matMul) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(mm(x, y, tA, tB), w)) as tf.Scalar;
      const [ga, gb] = tf.grads(loss(matMul))([a, b]);
      const [ra, rb] = tf.grads(loss(tf.matMul as typeof matMul))([a, b]);
      assert.ok(maxAbsDiff(ga!, ra!) < 1e-4, 'd/da');
      assert.ok(maxAbsDiff(gb!, rb!) < 1e-4, 'd/db');
      assertGradClose(loss(matMul), [a, b], { seed: 7, samples: 4 });
      tf.dispose([a, b, w, ours, ref, ga!, gb!, ra!, rb!]);
      assert.equal(tf.memory().numTensors, before, 'no tensors leak');
    });
  }
}

test('a batched a times a 2-D b folds the batch into rows and matches tf.matMul, with gradients', () => {
  for (const tB of [false, true]) {
    const a = tf.randomNormal([2, 3, 6], 0, 1, 'float32', 4);
    const b = tf.randomNormal(tB ? [5, 6] : [6, 5], 0, 1, 'float32', 5);
    const ours = matMul(a, b, false, tB);
    assert.deepEqual(ours.shape, [2, 3, 5]);
    assert.ok(maxAbsDiff(ours, tf.matMul(a, b, false, tB)) < 1e-5);
    assertGradClose((x, y) => tf.sum(tf.square(matMul(x!, y!, false, tB))) as tf.Scalar, [a, b], { seed: 9, samples: 4 });
    tf.dispose([a, b, ours]);
  }
});

test('mismatched shapes raise a MatMulError naming them', () => {
  const a = tf.zeros([2, 3]);
  const b = tf.zeros([4, 5]);
  assert.throws(() => matMul(a, b), (e: Error) => e instanceof MatMulError && /\[2,3\]/.test(e.message) && /\[4,5\]/.test(e.message));
  const c = tf.zeros([2, 3, 4]);
  const d = tf.zeros([3, 4, 5]);
  assert.throws(() => matMul(c, d), MatMulError);
  tf.dispose([a, b, c, d]);
});

test('linear equals x W + b, folds batch dims, and its gradient (bias via column sums) matches finite differences', () => {
  const before = tf.memory().numTensors;
  const x = tf.randomNormal([2, 3, 6], 0, 1, 'float32', 11);
  const w = tf.randomNormal([6, 4], 0, 1, 'float32', 12);
  const b = tf.randomNormal([4], 0, 1, 'float32', 13);
  const proj = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 14);
  const y = linear(x, w, b);
  assert.deepEqual(y.shape, [2, 3, 4]);
  assert.ok(tf.tidy(() => maxAbsDiff(tf.reshape(y, [6, 4]), tf.add(tf.matMul(tf.reshape(x, [6, 6]), w), b))) < 1e-5);
  assertGradClose((xs, ws, bs) => tf.sum(tf.mul(linear(xs!, ws!, bs!), proj)) as tf.Scalar, [x, w, b], { seed: 15, samples: 5 });
  assert.deepEqual(tf.tidy(() => Array.from(columnSum(tf.tensor2d([[1, 2], [3, 4], [5, 6]])).dataSync())), [9, 12]);
  tf.dispose([x, w, b, proj, y]);
  assert.equal(tf.memory().numTensors, before);
});
