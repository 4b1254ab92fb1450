// The fused native causal attention (RlhfAttention): against the unfused tf-op attention on stock wasm (the reference),
// forward and gradient, on both GEMMs; its gradient against finite differences; and a whole model's loss and gradients.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '../../src/kernels/gradients.js';
import { attend, causalBias } from '../../src/kernels/attention.js';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, forwardLogits, initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import { lmLoss } from '../../src/kernels/lm_loss.js';
import { disableNativeKernels, enableNativeKernels, loadAddon, NATIVE_KERNELS, nativeAttention } from '../../src/kernels/native/index.js';
import { Rng } from '../../src/kernels/rng.js';
import { assertGradClose } from './grad_check.js';

const load = loadAddon();
const skip = load.addon === undefined ? `native addon not built, pure-wasm path only: ${load.reason}` : false;
if (skip) console.log(`skipping native attention tests: ${skip}`);

const WITHOUT_ATTENTION = NATIVE_KERNELS.filter((k) => k !== 'RlhfAttention');

function randomTensor(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale), shape);
}

/** The unfused graph of the model's block: split qkv, heads to the batch axis, scaled scores, causal mask, softmax, mix. */
function unfused(qkv: tf.Tensor, b: number, t: number, heads: number): tf.Tensor {
  const d = qkv.shape[1]! / 3;
  const hd = d / heads;
  const [qf, kf, vf] = tf.split(qkv, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const q = tf.mul(tf.transpose(tf.reshape(qf, [b, t, heads, hd]), [0, 2, 1, 3]), 1 / Math.sqrt(hd));
  const kT = tf.transpose(tf.reshape(kf, [b, t, heads, hd]), [0, 2, 3, 1]);
  const v = tf.transpose(tf.reshape(vf, [b, t, heads, hd]), [0, 2, 1, 3]);
  const bias = causalBias(t);
  return tf.reshape(tf.transpose(attend(q, kT, v, bias), [0, 2, 1, 3]), [b * t, d]);
}

function maxAbsDiff(x: tf.Tensor, y: tf.Tensor): number {
  assert.deepEqual(x.shape, y.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!);
}

function maxAbs(x: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]!);
}

// t = 70 and 131 cross the kernel's 64-row query blocks (one and two partial blocks); t = 1 and 5 fit in one.
const SHAPES: [number, number, number, number][] = [[2, 70, 3, 8], [1, 131, 2, 16], [3, 5, 4, 4], [2, 1, 2, 8]];

test('nativeAttention matches the unfused attention on stock wasm, forward and gradient, on both GEMMs', { skip }, async () => {
  await initBackend('wasm', { native: 'off' });
  const rng = new Rng(41);
  for (const [b, t, heads, hd] of SHAPES) {
    const d = heads * hd;
    // Scores of a few units, as a trained model's: the softmax is neither uniform nor one-hot.
    const qkv = randomTensor(rng, [b * t, 3 * d], 2);
    const proj = randomTensor(rng, [b * t, d]);
    const loss = (f: (x: tf.Tensor) => tf.Tensor) => (x: tf.Tensor): tf.Scalar => tf.sum(tf.mul(f(x), proj));
    disableNativeKernels();
    assert.equal(nativeAttention(qkv, b, t, heads), undefined, 'no fused kernel while the native kernels are off');
    const ref = tf.tidy(() => [unfused(qkv, b, t, heads), tf.grad(loss((x) => unfused(x, b, t, heads)))(qkv)]);
    for (const gemm of ['auto', 'portable'] as const) {
      enableNativeKernels({ gemm });
      const before = tf.memory().numTensors;
      const got = tf.tidy(() => [nativeAttention(qkv, b, t, heads)!, tf.grad(loss((x) => nativeAttention(x, b, t, heads)!))(qkv)]);
      disableNativeKernels();
      for (const [i, name] of ['y', 'dqkv'].entries()) {
        const diff = maxAbsDiff(got[i]!, ref[i]!);
        const scale = Math.max(1, maxAbs(ref[i]!));
        assert.ok(diff < 1e-5 * scale, `${name} [${b}, ${t}, ${heads}, ${hd}] ${gemm}: max |diff| ${diff} (scale ${scale})`);
      }
      tf.dispose(got);
      assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
    }
    tf.dispose([...ref, qkv, proj]);
  }
});

test('nativeAttention gradient agrees with finite differences (central differences)', { skip }, async () => {
  await initBackend('wasm', { native: 'off' });
  enableNativeKernels();
  try {
    const rng = new Rng(43);
    const [b, t, heads, hd] = [2, 67, 2, 4];
    const qkv = randomTensor(rng, [b * t, 3 * heads * hd], 1.5);
    const proj = randomTensor(rng, [b * t, heads * hd]);
    const f = (x: tf.Tensor): tf.Scalar => tf.sum(tf.mul(nativeAttention(x, b, t, heads)!, proj));
    const r = assertGradClose(f, [qkv], { seed: 5, samples: 40 });
    assert.equal(r.checks.length, 40);
    tf.dispose([qkv, proj]);
  } finally {
    disableNativeKernels();
  }
});

test('nativeAttention refuses a qkv that does not fit batch, seq and heads, naming the shapes', { skip }, async () => {
  await initBackend('wasm', { native: 'off' });
  enableNativeKernels();
  try {
    const qkv = tf.zeros([12, 24]);
    assert.throws(() => nativeAttention(qkv, 2, 5, 2), /qkv must be \[batch \* seq, 3 \* heads \* headDim\].*got qkv \[12,24\] for batch 2, seq 5, heads 2/);
    assert.throws(() => nativeAttention(qkv, 2, 6, 5), /got qkv \[12,24\] for batch 2, seq 6, heads 5/);
    assert.throws(() => nativeAttention(qkv, 2, 6, 0), /heads 0/);
    tf.dispose(qkv);
  } finally {
    disableNativeKernels();
  }
});

test('a GPT-2 model with fused attention: same logits, loss gradients and no leaks as without it and as stock wasm', { skip }, async () => {
  await initBackend('wasm', { native: 'off' });
  const cfg: GptConfig = { vocabSize: 97, contextLength: 80, layers: 2, dModel: 24, heads: 3, dropout: 0, positional: 'learned' };
  const model = initGpt(cfg, 7);
  const rng = new Rng(9);
  const [b, t] = [3, 75];
  const seqs = Array.from({ length: b }, () => Array.from({ length: t + 1 }, () => rng.int(cfg.vocabSize)));
  const input = tf.tensor2d(seqs.map((s) => s.slice(0, -1)), [b, t], 'int32');
  const target = tf.tensor2d(seqs.map((s) => s.slice(1)), [b, t], 'int32');
  const mask = tf.ones([b, t]) as tf.Tensor2D;
  const vars = Object.values(model.params);
  const run = (): tf.Tensor[] =>
    tf.tidy(() => {
      const logits = forwardLogits(model, input);
      const { value, grads } = tf.variableGrads(() => lmLoss(forwardLogits(model, input), target, mask), vars);
      return [logits, value, ...vars.map((v) => grads[v.name]!)];
    });
  const modes = {
    stock: () => disableNativeKernels(),
    native: () => enableNativeKernels({ kernels: WITHOUT_ATTENTION }),
    fused: () => enableNativeKernels(),
  };
  const out: Record<string, tf.Tensor[]> = {};
  for (const [name, use] of Object.entries(modes)) {
    use();
    run().forEach((x) => x.dispose()); // warm-up
    const before = tf.memory().numTensors;
    out[name] = run();
    assert.equal(tf.memory().numTensors, before + out[name]!.length, `${name}: no tensor leaked`);
  }
  // The fused run really took the fused kernels: no qkv split and no head transposes left (the loss has its own softmax).
  const profile = await tf.profile(() => run().forEach((x) => x.dispose()));
  const called = new Set(profile.kernels.map((k) => k.name));
  disableNativeKernels();
  for (const k of ['RlhfAttention', 'RlhfAttentionGrad']) assert.ok(called.has(k), `${k} ran`);
  for (const k of ['SplitV', 'Transpose']) assert.ok(!called.has(k), `${k} did not run`);
  const labels = ['logits', 'loss', ...Object.keys(model.params)];
  for (const other of ['native', 'fused']) {
    out[other]!.forEach((x, i) => {
      const diff = maxAbsDiff(x, out['stock']![i]!);
      const scale = Math.max(1e-3, maxAbs(out['stock']![i]!));
      assert.ok(diff < 2e-4 * scale, `${other} ${labels[i]}: max |diff| ${diff} against stock (scale ${scale})`);
    });
  }
  for (const xs of Object.values(out)) tf.dispose(xs);
  tf.dispose([input, target, mask]);
  disposeModel(model);
});
