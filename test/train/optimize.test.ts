// optimizeStep: lowers the loss of a tiny linear regression, reports numbers, leaks nothing, refuses non-finite steps.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../../src/kernels/adamw.js';
import { initBackend } from '../../src/kernels/backend.js';
import { globalNorm } from '../../src/kernels/clip.js';
import { Rng } from '../../src/kernels/rng.js';
import { NonFiniteStepError, optimizeStep } from '../../src/train/optimize.js';

before(async () => {
  await initBackend('wasm');
});

/** y = X w* + b* with X [32, 3]; returns the data and the MSE loss function over variables w [3, 1], b [1]. */
function regression(seed: number) {
  const rng = new Rng(seed);
  const n = 32;
  const wTrue = [1.5, -2, 0.5];
  const xs = Array.from({ length: n * 3 }, () => rng.normal());
  const ys = Array.from({ length: n }, (_, i) => xs[i * 3]! * wTrue[0]! + xs[i * 3 + 1]! * wTrue[1]! + xs[i * 3 + 2]! * wTrue[2]! + 0.7);
  const X = tf.tensor2d(xs, [n, 3]);
  const Y = tf.tensor2d(ys, [n, 1]);
  const vars = { w: tf.variable(tf.zeros([3, 1])), b: tf.variable(tf.zeros([1])) };
  const lossFn = () => {
    const err = tf.sub(tf.add(tf.matMul(X, vars.w), vars.b), Y); // [n, 1]
    const loss = tf.mean(tf.square(err)) as tf.Scalar;
    return { loss, extras: { mae: tf.mean(tf.abs(err)) as tf.Scalar } };
  };
  return { vars, lossFn, dispose: () => tf.dispose([X, Y, vars.w, vars.b]) };
}

test('lowers the loss of a linear regression and leaks no tensors', () => {
  const r = regression(1);
  const opt = new AdamW({ lr: 0.1 });
  const before = tf.memory().numTensors;
  const first = optimizeStep(r.vars, r.lossFn, opt, { lr: 0.1, clip: 1 });
  assert.equal(tf.memory().numTensors, before + 4, 'only the optimizer state (m, v for w and b) remains');
  let last = first;
  for (let i = 0; i < 150; i++) last = optimizeStep(r.vars, r.lossFn, opt, { lr: 0.1, clip: 1 });
  assert.equal(tf.memory().numTensors, before + 4);
  assert.ok(last.loss < first.loss * 0.01, `loss ${first.loss} -> ${last.loss}`);
  assert.ok(last.extras.mae! < first.extras.mae! * 0.2, `mae ${first.extras.mae} -> ${last.extras.mae}`);
  assert.equal(last.lr, 0.1);
  assert.equal(opt.stepCount, 151);
  opt.dispose();
  assert.equal(tf.memory().numTensors, before);
  r.dispose();
});

test('reports the unclipped gradient norm and the learning rate used', () => {
  const r = regression(2);
  const expected = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => r.lossFn().loss, [r.vars.w, r.vars.b]);
    value.dispose();
    return globalNorm(grads);
  });
  const opt = new AdamW({ lr: 1 });
  const res = optimizeStep(r.vars, r.lossFn, opt, { lr: 0.01, clip: 0.5 });
  assert.ok(expected > 0.5, 'the clip is active in this test');
  assert.ok(Math.abs(res.gradNorm - expected) < 1e-4 * expected, `${res.gradNorm} vs ${expected}`);
  assert.equal(res.lr, 0.01);
  // First Adam step moves each weight by about lr (the normalised step), whatever the clip scale.
  for (const x of r.vars.w.dataSync()) assert.ok(Math.abs(Math.abs(x) - 0.01) < 1e-4, `|w| = ${Math.abs(x)}`);
  opt.dispose();
  r.dispose();
});

test('a non-finite loss throws before anything changes, and leaks nothing', () => {
  const r = regression(3);
  const opt = new AdamW({ lr: 0.1 });
  optimizeStep(r.vars, r.lossFn, opt, { lr: 0.1, clip: 1 });
  const w = Array.from(r.vars.w.dataSync());
  const before = tf.memory().numTensors;
  const nanLoss = () => {
    const base = r.lossFn();
    return { loss: tf.mul(base.loss, NaN) as tf.Scalar, extras: base.extras };
  };
  assert.throws(() => optimizeStep(r.vars, nanLoss, opt, { lr: 0.1, clip: 1 }), (e: Error) => {
    assert.ok(e instanceof NonFiniteStepError);
    assert.match(e.message, /optimisation step 2 has loss NaN and gradient norm NaN; the update was not applied/);
    return true;
  });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(Array.from(r.vars.w.dataSync()), w);
  assert.equal(opt.stepCount, 1);
  opt.dispose();
  r.dispose();
});
