// Global-norm clipping: the norm, the clipped norm, ownership of the returned tensors, no leaks.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { clipByGlobalNorm, globalNorm, globalNormScalar } from '../../src/kernels/clip.js';

before(async () => {
  await initBackend('wasm');
});

// sqrt(3^2 + 4^2 + 12^2) = 13
const make = () => ({ a: tf.tensor2d([3, 0, 0, 4], [2, 2]), b: tf.tensor1d([12]) });

test('global norm over all gradients', () => {
  const g = make();
  assert.ok(Math.abs(globalNorm(g) - 13) < 1e-6);
  const s = globalNormScalar(g);
  assert.ok(Math.abs(s.dataSync()[0]! - 13) < 1e-6);
  s.dispose();
  assert.equal(globalNorm({}), 0);
  tf.dispose(Object.values(g));
});

test('clipping scales to exactly maxNorm and keeps directions', () => {
  const g = make();
  const start = tf.memory().numTensors;
  const { grads, norm } = clipByGlobalNorm(g, 6.5);
  assert.ok(Math.abs(norm - 13) < 1e-6, 'reports the norm before clipping');
  assert.ok(Math.abs(globalNorm(grads) - 6.5) < 1e-5);
  assert.deepEqual(Array.from(grads.a!.dataSync()), [1.5, 0, 0, 2]);
  assert.deepEqual(Array.from(grads.b!.dataSync()), [6]);
  assert.deepEqual(Array.from(g.a.dataSync()), [3, 0, 0, 4], 'inputs are untouched');
  tf.dispose(Object.values(grads));
  assert.equal(tf.memory().numTensors, start);
  tf.dispose(Object.values(g));
});

test('below the limit, or with clipping off, gradients pass unchanged as tensors the caller owns', () => {
  const g = make();
  for (const maxNorm of [20, 0]) {
    const start = tf.memory().numTensors;
    const { grads, norm } = clipByGlobalNorm(g, maxNorm);
    assert.ok(Math.abs(norm - 13) < 1e-6);
    assert.notEqual(grads.a, g.a);
    assert.deepEqual(Array.from(grads.a!.dataSync()), [3, 0, 0, 4]);
    tf.dispose(Object.values(grads));
    assert.equal(tf.memory().numTensors, start);
    assert.deepEqual(Array.from(g.b.dataSync()), [12], 'disposing the outputs leaves the inputs alive');
  }
  assert.throws(() => clipByGlobalNorm(g, -1), /maxNorm must be a finite number >= 0 \(0 disables clipping\); got -1/);
  tf.dispose(Object.values(g));
});
