// The fused native target-token log-probabilities (RlhfTokenLogProbs): against the tf-op version on stock wasm (the
// reference), forward and gradient, its gradient against finite differences, and a bad target's error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '../../src/kernels/gradients.js';
import { initBackend } from '../../src/kernels/backend.js';
import { lmLoss } from '../../src/kernels/lm_loss.js';
import { tokenLogProbs } from '../../src/kernels/logprobs.js';
import { disableNativeKernels, enableNativeKernels, loadAddon, nativeTokenLogProbs } from '../../src/kernels/native/index.js';
import { Rng } from '../../src/kernels/rng.js';
import { assertGradClose } from './grad_check.js';

const load = loadAddon();
const skip = load.addon === undefined ? `native addon not built, pure-wasm path only: ${load.reason}` : false;
if (skip) console.log(`skipping native log-probability tests: ${skip}`);

function randomTensor(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale), shape);
}

function maxAbsDiff(x: tf.Tensor, y: tf.Tensor): number {
  assert.deepEqual(x.shape, y.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!);
}

// Vocabularies below, at and above the kernel's 512-logit chunks and its 8- and 16-wide vectors; logit scales from
// near-uniform to nearly one-hot softmaxes.
const CASES: [number, number, number, number][] = [[2, 3, 5, 1], [3, 7, 1037, 4], [1, 4, 512, 30], [2, 9, 4096, 8]];

test('nativeTokenLogProbs matches the tf-op log-probabilities on stock wasm, and lmLoss with its gradient', { skip }, async () => {
  await initBackend('wasm', { native: 'off' });
  const rng = new Rng(51);
  for (const [b, t, v, scale] of CASES) {
    const logits = randomTensor(rng, [b, t, v], scale) as tf.Tensor3D;
    const targets = tf.tensor2d(Array.from({ length: b }, () => Array.from({ length: t }, () => rng.int(v))), [b, t], 'int32');
    const mask = tf.tensor2d(Array.from({ length: b }, () => Array.from({ length: t }, () => (rng.next() < 0.8 ? 1 : 0))), [b, t]);
    const run = (): tf.Tensor[] =>
      tf.tidy(() => [tokenLogProbs(logits, targets), lmLoss(logits, targets, mask), tf.grad((x: tf.Tensor) => lmLoss(x as tf.Tensor3D, targets, mask))(logits)]);
    disableNativeKernels();
    assert.equal(nativeTokenLogProbs(tf.reshape(logits, [b * t, v]), tf.reshape(targets, [b * t])), undefined);
    const ref = run();
    enableNativeKernels();
    const before = tf.memory().numTensors;
    const got = run();
    disableNativeKernels();
    assert.equal(tf.memory().numTensors, before + got.length, 'no tensor leaked');
    for (const [i, name] of ['logp', 'loss', 'dlogits'].entries()) {
      const diff = maxAbsDiff(got[i]!, ref[i]!);
      const tol = name === 'logp' ? 2e-5 * Math.max(1, scale) : 1e-6 + 2e-5 * Math.max(1, scale) / (b * t);
      assert.ok(diff < tol, `${name} [${b}, ${t}, ${v}] scale ${scale}: max |diff| ${diff}, allowed ${tol}`);
    }
    tf.dispose([...ref, ...got, logits, targets, mask]);
  }
});

test('nativeTokenLogProbs gradient agrees with finite differences', { skip }, async () => {
  await initBackend('wasm', { native: 'off' });
  enableNativeKernels();
  try {
    const rng = new Rng(53);
    const [n, v] = [6, 37];
    const x = randomTensor(rng, [n, v], 3);
    const targets = tf.tensor1d(Array.from({ length: n }, () => rng.int(v)), 'int32');
    const weights = randomTensor(rng, [n]);
    const f = (xs: tf.Tensor): tf.Scalar => tf.sum(tf.mul(nativeTokenLogProbs(xs as tf.Tensor2D, targets)!, weights));
    // Half the samples at the targets (where the one-hot term enters), the rest anywhere.
    const r = assertGradClose(f, [x], { seed: 7, samples: 40 });
    assert.equal(r.checks.length, 40);
    const atTargets = tf.tidy(() => {
      const g = tf.grad(f)(x).dataSync();
      const t = targets.dataSync();
      return Array.from({ length: n }, (_, i) => g[i * v + t[i]!]!);
    });
    // d/dx_target = w (1 - p_target): same sign as the row's weight, smaller in size.
    const w = weights.dataSync();
    atTargets.forEach((g, i) => assert.ok(Math.sign(g) === Math.sign(w[i]!) && Math.abs(g) <= Math.abs(w[i]!), `row ${i}: ${g} vs weight ${w[i]}`));
    tf.dispose([x, targets, weights]);
  } finally {
    disableNativeKernels();
  }
});

test('nativeTokenLogProbs refuses a target outside the vocabulary and mismatched shapes, naming them', { skip }, async () => {
  await initBackend('wasm', { native: 'off' });
  enableNativeKernels();
  try {
    const before = tf.memory().numTensors;
    const x = tf.zeros([3, 10]) as tf.Tensor2D;
    assert.throws(() => nativeTokenLogProbs(x, tf.tensor1d([1, 10, 2], 'int32')), /target 10 at row 1 is not a token id in \[0, 9\]/);
    assert.throws(() => nativeTokenLogProbs(x, tf.tensor1d([1, 2, -1], 'int32')), /target -1 at row 2 is not a token id in \[0, 9\]/);
    assert.throws(() => nativeTokenLogProbs(x, tf.tensor1d([1, 2], 'int32')), /logits must be \[n, v\].*got logits \[3,10\] and targets \[2\]/);
    x.dispose();
    // The three target tensors above are the only ones left: a failed kernel frees its outputs.
    assert.equal(tf.memory().numTensors, before + 3);
  } finally {
    disableNativeKernels();
  }
});
