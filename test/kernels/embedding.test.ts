// Embedding lookup equals gather, and its scatter-add gradient matches finite differences, repeated tokens included.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { embed } from '../../src/kernels/embedding.js';
import { assertGradClose } from './grad_check.js';

before(async () => {
  await initBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

test('forward equals tf.gather on the flattened tokens', () => {
  const table = tf.randomNormal([11, 6], 0, 1, 'float32', 1) as tf.Tensor2D;
  const tokens = tf.tensor2d([[0, 3, 3, 10], [7, 7, 7, 1]], [2, 4], 'int32');
  const out = embed(tokens, table);
  assert.deepEqual(out.shape, [2, 4, 6]);
  const ref = tf.reshape(tf.gather(table, tf.reshape(tokens, [8])), [2, 4, 6]);
  assert.deepEqual(Array.from(out.dataSync()), Array.from(ref.dataSync()));
  tf.dispose([table, tokens, out, ref]);
});

test('gradient adds the rows of repeated tokens and leaves unused rows at zero', () => {
  const table = tf.randomNormal([5, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
  const tokens = tf.tensor2d([[1, 1, 4]], [1, 3], 'int32');
  const g = tf.grad((t: tf.Tensor) => tf.sum(embed(tokens, t as tf.Tensor2D)))(table);
  assert.deepEqual(Array.from(g.dataSync()), [0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
  tf.dispose([table, tokens, g]);
});

test('gradient matches finite differences, and nothing leaks', () => {
  const before = tf.memory().numTensors;
  const table = tf.randomNormal([9, 4], 0, 1, 'float32', 3) as tf.Tensor2D;
  const tokens = tf.tensor2d([[2, 5, 2], [8, 0, 5]], [2, 3], 'int32');
  const w = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 4);
  const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.square(embed(tokens, t as tf.Tensor2D)), w)) as tf.Scalar;
  // Sample rows that are used (2, 5, 8, 0) and unused, through many coordinates.
  assertGradClose((t) => f(t!), [table], { seed: 5, samples: 20 });
  tf.dispose([table, tokens, w]);
  assert.equal(tf.memory().numTensors, before);
});
