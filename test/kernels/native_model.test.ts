// The GPT model with the native kernels enabled: the same logits, gradients, KV-cache decoding, AdamW training and sampling
// as the stock wasm kernels, with no tensor leaks. Skipped when the addon is not built.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../../src/kernels/adamw.js';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, forwardLogits, initGpt, type GptConfig, type GptModel } from '../../src/kernels/gpt.js';
import { disposeCache } from '../../src/kernels/kv_cache.js';
import { lmLoss } from '../../src/kernels/lm_loss.js';
import { nativeMatMulActive } from '../../src/kernels/matmul.js';
import { disableNativeKernels, enableNativeKernels, loadAddon } from '../../src/kernels/native/index.js';
import { generate } from '../../src/kernels/sampling.js';
import { assertDecodeMatchesFull, maxAbsDiff } from './decode_parity.js';
import { assertGradClose } from './grad_check.js';

const load = loadAddon();
const skip = load.addon === undefined ? `native addon not built, pure-wasm path only: ${load.reason}` : false;
if (skip) console.log(`skipping native model tests: ${skip}`);

const CFG: GptConfig = { vocabSize: 64, contextLength: 16, layers: 2, dModel: 32, heads: 4, dropout: 0, positional: 'learned' };

before(async () => {
  await initBackend('wasm');
});
after(() => {
  disableNativeKernels();
});

function native(): void {
  const st = enableNativeKernels({ threads: 1 });
  assert.equal(st.active, true, st.reason);
  assert.equal(nativeMatMulActive(), true);
}

/** Scales the matrices of a fresh model so logits are far from flat and comparisons mean something. */
function sharpen(m: GptModel): GptModel {
  tf.tidy(() => {
    for (const p of Object.values(m.params)) if (p.rank === 2) p.assign(tf.mul(p, 10));
  });
  return m;
}

/** Loss and every parameter gradient of one batch, as plain arrays. */
function lossAndGrads(m: GptModel, seqs: number[][]): { loss: number; grads: Record<string, Float32Array> } {
  const t = seqs[0]!.length - 1;
  return tf.tidy(() => {
    const input = tf.tensor2d(seqs.map((s) => s.slice(0, -1)), [seqs.length, t], 'int32');
    const target = tf.tensor2d(seqs.map((s) => s.slice(1)), [seqs.length, t], 'int32');
    const mask = tf.ones([seqs.length, t]) as tf.Tensor2D;
    const names = new Map(Object.entries(m.params).map(([n, v]) => [v.name, n]));
    const { value, grads } = tf.variableGrads(() => lmLoss(forwardLogits(m, input), target, mask), Object.values(m.params));
    const out: Record<string, Float32Array> = {};
    for (const [k, g] of Object.entries(grads)) out[names.get(k)!] = g.dataSync() as Float32Array;
    return { loss: value.dataSync()[0]!, grads: out };
  });
}

const SEQS = [
  [5, 9, 1, 33, 7, 2, 60, 4, 11, 12, 13],
  [40, 41, 3, 3, 3, 17, 8, 63, 0, 21, 2],
];

for (const positional of ['learned', 'rotary'] as const) {
  test(`native: logits and every parameter gradient equal the stock kernels' (${positional})`, { skip }, () => {
    const m = sharpen(initGpt({ ...CFG, positional }, 31));
    disableNativeKernels();
    const logitsRef = tf.tidy(() => forwardLogits(m, tf.tensor2d(SEQS, [2, 11], 'int32')).dataSync() as Float32Array);
    const ref = lossAndGrads(m, SEQS);
    native();
    const logits = tf.tidy(() => forwardLogits(m, tf.tensor2d(SEQS, [2, 11], 'int32')).dataSync() as Float32Array);
    const got = lossAndGrads(m, SEQS);
    disableNativeKernels();
    assert.ok(maxAbsDiff(logits, logitsRef) < 1e-3, `logits max |diff| ${maxAbsDiff(logits, logitsRef)}`);
    assert.ok(Math.abs(got.loss - ref.loss) < 1e-4 * Math.max(1, ref.loss), `loss ${got.loss} vs ${ref.loss}`);
    assert.deepEqual(Object.keys(got.grads).sort(), Object.keys(ref.grads).sort());
    for (const [name, g] of Object.entries(ref.grads)) {
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      const d = maxAbsDiff(got.grads[name]!, g);
      assert.ok(d < 1e-3 * scale, `${name}: max |diff| ${d}, largest |grad| ${scale}`);
    }
    disposeModel(m);
  });
}

test('native: the model gradient matches finite differences', { skip }, () => {
  native();
  const m = initGpt({ ...CFG, layers: 1 }, 4);
  const tokens = tf.tensor2d([[3, 7, 7, 1, 9, 2]], [1, 6], 'int32');
  const targets = tf.tensor2d([[7, 7, 1, 9, 2, 5]], [1, 6], 'int32');
  const mask = tf.ones([1, 6]) as tf.Tensor2D;
  for (const name of ['h.0.attn.c_attn.weight', 'h.0.ln_1.weight', 'h.0.mlp.c_fc.weight', 'wte', 'ln_f.bias']) {
    const f = (p: tf.Tensor): tf.Scalar => {
      const mm: GptModel = { ...m, params: { ...m.params, [name]: p as tf.Variable } };
      return tf.mul(lmLoss(forwardLogits(mm, tokens), targets, mask), 100) as tf.Scalar;
    };
    assertGradClose((p) => f(p!), [m.params[name]!], { seed: 8, samples: 4, eps: 1e-2, rtol: 5e-2, atol: 2e-3 });
  }
  disableNativeKernels();
  tf.dispose([tokens, targets, mask]);
  disposeModel(m);
});

test('native: KV-cache decoding of left-padded prompts equals the full forward, and frees every tensor', { skip }, () => {
  native();
  const m = sharpen(initGpt({ ...CFG, positional: 'rotary' }, 21));
  const start = tf.memory().numTensors;
  const prompts = [[3, 9, 12, 40, 2], [17, 5], [1, 2, 3, 4, 5, 6, 7]];
  const width = 7;
  disposeCache(assertDecodeMatchesFull(m, prompts, width, 1e-3));
  assert.equal(tf.memory().numTensors, start);
  disableNativeKernels();
  disposeModel(m);
});

test('native: AdamW training steps leak no tensors, track the stock optimizer, and learn', { skip }, () => {
  const seq = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1];
  const input = tf.tensor2d([seq.slice(0, 16), seq.slice(0, 16)], [2, 16], 'int32');
  const target = tf.tensor2d([seq.slice(1), seq.slice(1)], [2, 16], 'int32');
  const mask = tf.ones([2, 16]) as tf.Tensor2D;
  const run = (steps: number, useNative: boolean): { losses: number[]; leaked: number; wte: Float32Array } => {
    if (useNative) native();
    else disableNativeKernels();
    const m = initGpt(CFG, 5);
    const opt = new AdamW({ lr: 1e-2, weightDecay: 0.1 });
    const names = new Map(Object.entries(m.params).map(([n, v]) => [v.name, n]));
    const step = (): number => {
      const { value, grads } = tf.variableGrads(() => lmLoss(forwardLogits(m, input), target, mask), Object.values(m.params));
      opt.step(m.params, Object.fromEntries(Object.entries(grads).map(([k, g]) => [names.get(k)!, g])));
      const loss = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    };
    const losses = [step()]; // the first step also creates the AdamW moments (state, not a leak)
    const start = tf.memory().numTensors;
    for (let i = 1; i < steps; i++) losses.push(step());
    const leaked = tf.memory().numTensors - start;
    const wte = m.params['wte']!.dataSync().slice() as Float32Array;
    opt.dispose();
    disposeModel(m);
    disableNativeKernels();
    return { losses, leaked, wte };
  };
  const nat = run(20, true);
  const ref = run(5, false);
  assert.equal(nat.leaked, 0, 'tensors left after 19 native steps');
  for (let i = 0; i < 5; i++) {
    assert.ok(Math.abs(nat.losses[i]! - ref.losses[i]!) < 2e-3, `step ${i}: native loss ${nat.losses[i]} vs stock ${ref.losses[i]}`);
  }
  assert.ok(nat.losses[19]! < 0.5 * nat.losses[0]!, `native loss ${nat.losses[0]} -> ${nat.losses[19]}`);
  tf.dispose([input, target, mask]);
});

test('native: greedy sampling with the KV cache picks the tokens the stock kernels pick', { skip }, () => {
  const m = sharpen(initGpt(CFG, 41));
  const prompts = [[1, 2, 3], [9], [4, 4, 4, 4, 4]];
  const opts = { maxNewTokens: 8, temperature: 0, topK: 0, topP: 1, eosId: -1, padId: 0, seed: 1 };
  disableNativeKernels();
  const ref = generate(m, prompts, opts);
  native();
  const start = tf.memory().numTensors;
  const got = generate(m, prompts, opts);
  assert.equal(tf.memory().numTensors, start);
  disableNativeKernels();
  assert.deepEqual(got.tokens, ref.tokens);
  for (let r = 0; r < prompts.length; r++) assert.ok(Math.abs(got.logprobs[r]! - ref.logprobs[r]!) < 1e-2, `row ${r} logprob`);
  disposeModel(m);
});
