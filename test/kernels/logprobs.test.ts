// Token log-probabilities, sequence sums and the LM loss: reference values, finite-difference gradients, packing layout.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { lmLoss } from '../../src/kernels/lm_loss.js';
import { packSequences, sequenceLogProbs, tokenLogProbs } from '../../src/kernels/logprobs.js';
import { Rng } from '../../src/kernels/rng.js';
import { assertGradClose } from './grad_check.js';

before(async () => {
  await initBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

const B = 2;
const T = 3;
const V = 5;

function fixture(seed: number, scale = 2) {
  const rng = new Rng(seed);
  const logits = Array.from({ length: B * T * V }, () => rng.normal() * scale);
  const targets = Array.from({ length: B * T }, () => rng.int(V));
  const mask = [1, 1, 0, 0, 1, 1];
  return { logits, targets, mask };
}

/** log softmax(x)[t] in float64. */
function refLogProb(row: number[], t: number): number {
  const m = Math.max(...row);
  return row[t]! - m - Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
}

test('tokenLogProbs and sequenceLogProbs equal a float64 reference', () => {
  const { logits, targets, mask } = fixture(1);
  const lt = tf.tensor3d(logits, [B, T, V]);
  const tt = tf.tensor2d(targets, [B, T], 'int32');
  const mt = tf.tensor2d(mask, [B, T]);
  const per = tokenLogProbs(lt, tt).dataSync();
  const seq = sequenceLogProbs(lt, tt, mt).dataSync();
  const expectSeq = [0, 0];
  for (let i = 0; i < B * T; i++) {
    const lp = refLogProb(logits.slice(i * V, (i + 1) * V), targets[i]!);
    assert.ok(Math.abs(per[i]! - lp) < 1e-5, `position ${i}: ${per[i]} vs ${lp}`);
    expectSeq[Math.floor(i / T)]! += mask[i]! * lp;
  }
  for (let b = 0; b < B; b++) assert.ok(Math.abs(seq[b]! - expectSeq[b]!) < 1e-5);
  tf.dispose([lt, tt, mt]);
});

test('tokenLogProbs stays finite and exact for very unlikely targets', () => {
  const row = [100, -100, 0, 0, 0];
  const lt = tf.tensor3d(row, [1, 1, V]);
  const tt = tf.tensor2d([[1]], [1, 1], 'int32');
  const lp = tokenLogProbs(lt, tt).dataSync()[0]!;
  assert.ok(Math.abs(lp - -200) < 1e-3, `got ${lp}`);
  tf.dispose([lt, tt]);
});

test('sequenceLogProbs gradient matches finite differences', () => {
  const { logits, targets, mask } = fixture(2);
  const lt = tf.tensor3d(logits, [B, T, V]);
  const tt = tf.tensor2d(targets, [B, T], 'int32');
  const mt = tf.tensor2d(mask, [B, T]);
  const w = tf.tensor1d([0.7, -1.3]);
  const before = tf.memory().numTensors;
  assertGradClose((x) => tf.sum(tf.mul(sequenceLogProbs(x as tf.Tensor3D, tt, mt), w)) as tf.Scalar, [lt], { seed: 3, samples: 12 });
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([lt, tt, mt, w]);
});

test('lmLoss is the masked mean cross-entropy, its gradient matches finite differences, and an empty mask gives 0', () => {
  const { logits, targets, mask } = fixture(4);
  const lt = tf.tensor3d(logits, [B, T, V]);
  const tt = tf.tensor2d(targets, [B, T], 'int32');
  const mt = tf.tensor2d(mask, [B, T]);
  let expected = 0;
  for (let i = 0; i < B * T; i++) expected -= mask[i]! * refLogProb(logits.slice(i * V, (i + 1) * V), targets[i]!);
  expected /= mask.reduce((s, m) => s + m, 0);
  assert.ok(Math.abs(lmLoss(lt, tt, mt).dataSync()[0]! - expected) < 1e-5);
  assertGradClose((x) => lmLoss(x as tf.Tensor3D, tt, mt), [lt], { seed: 5, samples: 12 });
  const zero = tf.zeros([B, T]) as tf.Tensor2D;
  assert.ok(lmLoss(lt, tt, zero).dataSync()[0] === 0); // -0 counts as 0
  tf.dispose([lt, tt, mt, zero]);
});

test('packSequences lays out input, shifted targets, response mask and last index', () => {
  const p = packSequences([[1, 2, 3], [4]], [[5, 6], [7, 8, 9]], 0, 16);
  assert.deepEqual(p.input.shape, [2, 5]);
  assert.deepEqual(p.input.arraySync(), [[1, 2, 3, 5, 6], [4, 7, 8, 9, 0]]);
  assert.deepEqual(p.target.arraySync(), [[2, 3, 5, 6, 0], [7, 8, 9, 0, 0]]);
  assert.deepEqual(p.mask.arraySync(), [[0, 0, 1, 1, 0], [1, 1, 1, 0, 0]]);
  assert.deepEqual(Array.from(p.lastIndex.dataSync()), [4, 3]);
  tf.dispose([p.input, p.target, p.mask, p.lastIndex]);
});

test('packSequences cuts the prompt from the left to fit contextLength, keeping the response', () => {
  const p = packSequences([[1, 2, 3, 4, 5]], [[6, 7]], 0, 4);
  assert.deepEqual(p.input.arraySync(), [[4, 5, 6, 7]]);
  assert.deepEqual(p.mask.arraySync(), [[0, 1, 1, 0]]);
  assert.deepEqual(Array.from(p.lastIndex.dataSync()), [3]);
  tf.dispose([p.input, p.target, p.mask, p.lastIndex]);
  assert.throws(() => packSequences([[1]], [], 0, 4), /as many responses as prompts/);
});
