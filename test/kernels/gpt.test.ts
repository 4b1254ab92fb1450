// GPT model: parameter layout, causality, gradients, a leak-free training step that learns, weights I/O, reward head, dropout.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import {
  countParams,
  disposeModel,
  forwardHidden,
  forwardLogits,
  gelu,
  getWeights,
  GptError,
  initGpt,
  scalarScores,
  setWeights,
  type GptConfig,
  type GptModel,
} from '../../src/kernels/gpt.js';
import { layerNorm } from '../../src/kernels/layer_norm.js';
import { lmLoss } from '../../src/kernels/lm_loss.js';
import { assertGradClose } from './grad_check.js';

before(async () => {
  await initBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

const CFG: GptConfig = { vocabSize: 64, contextLength: 16, layers: 2, dModel: 32, heads: 4, dropout: 0, positional: 'learned' };
const ROTARY: GptConfig = { ...CFG, positional: 'rotary' };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('parameters have HF GPT-2 names and shapes, and the count matches the formula', () => {
  const m = initGpt(CFG, 1);
  const d = CFG.dModel;
  assert.deepEqual(m.params['wte']!.shape, [64, d]);
  assert.deepEqual(m.params['wpe']!.shape, [16, d]);
  assert.deepEqual(m.params['h.1.attn.c_attn.weight']!.shape, [d, 3 * d]);
  assert.deepEqual(m.params['h.0.mlp.c_proj.weight']!.shape, [4 * d, d]);
  assert.deepEqual(m.params['ln_f.bias']!.shape, [d]);
  const perLayer = 12 * d * d + 13 * d;
  assert.equal(countParams(m), 64 * d + 16 * d + 2 * perLayer + 2 * d);
  const r = initGpt(ROTARY, 1, 'scalar');
  assert.equal(r.params['wpe'], undefined);
  assert.deepEqual(r.params['score.weight']!.shape, [1, d]);
  // Same seed, same body whatever the head; a different seed differs.
  const again = initGpt(CFG, 1);
  const other = initGpt(CFG, 2);
  assert.deepEqual(Array.from(again.params['h.0.attn.c_attn.weight']!.dataSync()), Array.from(m.params['h.0.attn.c_attn.weight']!.dataSync()));
  assert.notDeepEqual(Array.from(other.params['wte']!.dataSync()), Array.from(m.params['wte']!.dataSync()));
  const std = tf.tidy(() => Math.sqrt(tf.moments(m.params['wte']!).variance.dataSync()[0]!));
  assert.ok(Math.abs(std - 0.02) < 0.002, `wte std ${std}`);
  [m, r, again, other].forEach(disposeModel);
  assert.throws(() => initGpt({ ...CFG, heads: 5 }, 1), (e: Error) => e instanceof GptError && /divisible/.test(e.message));
});

for (const cfg of [CFG, ROTARY]) {
  test(`causal (${cfg.positional}): changing a later token leaves earlier logits unchanged`, () => {
    const m = initGpt(cfg, 3);
    const a = [[5, 9, 1, 33, 7, 2, 60, 4]];
    const b = [[5, 9, 1, 33, 7, 50, 61, 3]];
    const la = tf.tidy(() => forwardLogits(m, tf.tensor2d(a, [1, 8], 'int32')).arraySync()[0]!);
    const lb = tf.tidy(() => forwardLogits(m, tf.tensor2d(b, [1, 8], 'int32')).arraySync()[0]!);
    for (let t = 0; t < 5; t++) assert.ok(maxAbsDiff(la[t]!, lb[t]!) < 1e-5, `position ${t}`);
    assert.ok(maxAbsDiff(la[5]!, lb[5]!) > 1e-4, 'the changed position itself differs');
    disposeModel(m);
  });
}

test('LayerNorm and GELU hand-written gradients match finite differences', () => {
  const x = tf.randomNormal([3, 8], 0, 1, 'float32', 1);
  const w = tf.randomNormal([8], 1, 0.3, 'float32', 2);
  const b = tf.randomNormal([8], 0, 0.3, 'float32', 3);
  const proj = tf.randomNormal([3, 8], 0, 1, 'float32', 4);
  assertGradClose((xs, ws, bs) => tf.sum(tf.mul(layerNorm(xs!, ws as tf.Tensor1D, bs as tf.Tensor1D), proj)) as tf.Scalar, [x, w, b], {
    seed: 5,
    samples: 6,
  });
  assertGradClose((xs) => tf.sum(tf.mul(gelu(xs!), proj)) as tf.Scalar, [x], { seed: 6, samples: 10 });
  // GPT-2's tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
  const xv = x.dataSync();
  const gv = tf.tidy(() => gelu(x).dataSync());
  xv.forEach((v, i) => {
    const ref = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    assert.ok(Math.abs(gv[i]! - ref) < 1e-5, `gelu(${v}) = ${gv[i]}, expected ${ref}`);
  });
  // LayerNorm output has zero mean and unit variance per row before the affine part.
  const one = tf.ones([8]) as tf.Tensor1D;
  const zero = tf.zeros([8]) as tf.Tensor1D;
  const { mean, variance } = tf.moments(layerNorm(x, one, zero), -1);
  assert.ok(maxAbsDiff(mean.dataSync(), [0, 0, 0]) < 1e-5 && maxAbsDiff(variance.dataSync(), [1, 1, 1]) < 1e-3);
  tf.dispose([one, zero, mean, variance]);
  tf.dispose([x, w, b, proj]);
});

for (const cfg of [CFG, ROTARY]) {
  test(`model gradient matches finite differences (${cfg.positional})`, () => {
    const m = initGpt({ ...cfg, layers: 1 }, 4);
    const tokens = tf.tensor2d([[3, 7, 7, 1, 9, 2]], [1, 6], 'int32');
    const targets = tf.tensor2d([[7, 7, 1, 9, 2, 5]], [1, 6], 'int32');
    const mask = tf.ones([1, 6]) as tf.Tensor2D;
    const names = ['h.0.attn.c_attn.weight', 'h.0.mlp.c_fc.weight', 'wte', 'ln_f.weight'];
    for (const name of names) {
      const original = m.params[name]!;
      const f = (p: tf.Tensor) => {
        const mm: GptModel = { ...m, params: { ...m.params, [name]: p as tf.Variable } };
        // The scale of the initial weights is small; scaling the loss keeps differences above float32 noise.
        return tf.mul(lmLoss(forwardLogits(mm, tokens), targets, mask), 100) as tf.Scalar;
      };
      assertGradClose((p) => f(p!), [original], { seed: 7, samples: 4, eps: 1e-2, rtol: 5e-2, atol: 2e-3 });
    }
    tf.dispose([tokens, targets, mask]);
    disposeModel(m);
  });
}

test('a training step leaks no tensors and the loss falls over 30 steps on a repeated sequence', () => {
  const m = initGpt(CFG, 5);
  const seq = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1];
  const input = tf.tensor2d([seq.slice(0, 16), seq.slice(0, 16)], [2, 16], 'int32');
  const target = tf.tensor2d([seq.slice(1), seq.slice(1)], [2, 16], 'int32');
  const mask = tf.ones([2, 16]) as tf.Tensor2D;
  const vars = Object.values(m.params);
  const lr = 0.5;
  const step = (): number => {
    const { value, grads } = tf.variableGrads(() => lmLoss(forwardLogits(m, input), target, mask), vars);
    tf.tidy(() => {
      for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name]!, lr)));
    });
    const loss = value.dataSync()[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  };
  const first = step();
  const before = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 29; i++) last = step();
  assert.equal(tf.memory().numTensors, before, 'tensor count after 29 more steps');
  assert.ok(Math.abs(first - Math.log(64)) < 0.3, `initial loss ${first} near ln V`);
  assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
  tf.dispose([input, target, mask]);
  disposeModel(m);
});

test('getWeights/setWeights round-trip, and setWeights names the mismatch', () => {
  const a = initGpt(CFG, 6);
  const b = initGpt(CFG, 7);
  const w = Object.fromEntries(Object.entries(getWeights(a)).map(([n, t]) => [n, { shape: t.shape, data: t.dataSync() as Float32Array }]));
  setWeights(b, w);
  const tokens = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
  const la = tf.tidy(() => forwardLogits(a, tokens).dataSync());
  const lb = tf.tidy(() => forwardLogits(b, tokens).dataSync());
  assert.ok(maxAbsDiff(la, lb) === 0);
  const bad = { ...w, 'h.1.ln_2.bias': { shape: [31], data: new Float32Array(31) } };
  assert.throws(() => setWeights(b, bad), (e: Error) => e instanceof GptError && /h\.1\.ln_2\.bias/.test(e.message) && /\[31\]/.test(e.message));
  const { wpe: _dropped, ...missing } = w;
  assert.throws(() => setWeights(b, missing), /missing \["wpe"\]/);
  assert.throws(() => setWeights(b, { ...w, extra: { shape: [1], data: new Float32Array(1) } }), /unexpected \["extra"\]/);
  tokens.dispose();
  [a, b].forEach(disposeModel);
});

test('scalarScores reads the hidden state at lastIndex, ignores later padding, and has gradients', () => {
  const m = initGpt(CFG, 8, 'scalar');
  const tokens = tf.tensor2d([[4, 5, 6, 0, 0], [7, 8, 9, 10, 11]], [2, 5], 'int32');
  const other = tf.tensor2d([[4, 5, 6, 33, 12], [7, 8, 9, 10, 11]], [2, 5], 'int32');
  const last = tf.tensor1d([2, 4], 'int32');
  const s = scalarScores(m, tokens, last).dataSync();
  const s2 = scalarScores(m, other, last).dataSync();
  assert.ok(maxAbsDiff(s, s2) < 1e-6, 'tokens after the last index do not matter');
  const manual = tf.tidy(() => {
    const h = forwardHidden(m, tokens).arraySync();
    const w = m.params['score.weight']!.dataSync();
    return [h[0]![2]!, h[1]![4]!].map((row) => row.reduce((acc, x, i) => acc + x * w[i]!, 0));
  });
  assert.ok(maxAbsDiff(s, manual) < 1e-5);
  const before = tf.memory().numTensors;
  const { grads, value } = tf.variableGrads(() => tf.sum(scalarScores(m, tokens, last)) as tf.Scalar, Object.values(m.params));
  assert.ok(tf.tidy(() => tf.sum(tf.abs(grads[m.params['score.weight']!.name]!)).dataSync()[0]!) > 0);
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, before);
  const lm = initGpt(CFG, 1);
  assert.throws(() => scalarScores(lm, tokens, last), /head 'scalar'/);
  disposeModel(lm);
  tf.dispose([tokens, other, last]);
  disposeModel(m);
});

test('dropout is seeded: same seed same output, different from eval, and a seed is required', () => {
  const m = initGpt({ ...CFG, dropout: 0.2 }, 9);
  const tokens = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
  const run = (opts: { training?: boolean; seed?: number }) => tf.tidy(() => forwardLogits(m, tokens, opts).dataSync());
  const a = run({ training: true, seed: 11 });
  const b = run({ training: true, seed: 11 });
  const c = run({ training: true, seed: 12 });
  const e = run({});
  assert.equal(maxAbsDiff(a, b), 0);
  assert.ok(maxAbsDiff(a, c) > 1e-4);
  assert.ok(maxAbsDiff(a, e) > 1e-4);
  assert.throws(() => run({ training: true }), /seed/);
  tokens.dispose();
  disposeModel(m);
});

test('sequences longer than contextLength are rejected', () => {
  const m = initGpt(CFG, 1);
  const tokens = tf.zeros([1, 17], 'int32') as tf.Tensor2D;
  assert.throws(() => forwardLogits(m, tokens), /exceeds model.contextLength 16/);
  tokens.dispose();
  disposeModel(m);
});
