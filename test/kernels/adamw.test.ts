// AdamW: parity with a plain-JS reference, decoupled decay skipped for 1-D params, convergence, no leaks, state round-trip.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, OptimizerError } from '../../src/kernels/adamw.js';
import { initBackend } from '../../src/kernels/backend.js';
import '../../src/kernels/gradients.js';
import { Rng } from '../../src/kernels/rng.js';

before(async () => {
  await initBackend('wasm');
});

/** Textbook AdamW (Loshchilov & Hutter 2019, Algorithm 2 with bias correction) on plain arrays, in float64. */
function referenceAdamW(p0: number[], grads: number[][], lrs: number[], o: { b1: number; b2: number; eps: number; wd: number }): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1;
    const lr = lrs[s]!;
    for (let i = 0; i < p.length; i++) {
      m[i] = o.b1 * m[i]! + (1 - o.b1) * g[i]!;
      v[i] = o.b2 * v[i]! + (1 - o.b2) * g[i]! * g[i]!;
      const mHat = m[i]! / (1 - o.b1 ** t);
      const vHat = v[i]! / (1 - o.b2 ** t);
      p[i] = p[i]! - lr * o.wd * p[i]! - (lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
  });
  return p;
}

const randn = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.normal());

test('matches a plain-JS AdamW over several steps; no decay on 1-D parameters', () => {
  const rng = new Rng(11);
  const o = { b1: 0.9, b2: 0.95, eps: 1e-8, wd: 0.5 };
  const w0 = randn(rng, 6); // [2, 3], decayed
  const b0 = randn(rng, 3); // [3], not decayed
  const steps = 5;
  const gw = Array.from({ length: steps }, () => randn(rng, 6));
  const gb = Array.from({ length: steps }, () => randn(rng, 3));
  const lrs = [0.05, 0.1, 0.1, 0.02, 0.07];
  const vars = { w: tf.variable(tf.tensor2d(w0, [2, 3])), b: tf.variable(tf.tensor1d(b0)) };
  const opt = new AdamW({ lr: 1, beta1: o.b1, beta2: o.b2, eps: o.eps, weightDecay: o.wd });
  for (let s = 0; s < steps; s++) {
    const grads = { w: tf.tensor2d(gw[s]!, [2, 3]), b: tf.tensor1d(gb[s]!) };
    opt.step(vars, grads, lrs[s]);
    tf.dispose(Object.values(grads));
  }
  assert.equal(opt.stepCount, steps);
  const gotW = Array.from(vars.w.dataSync());
  const gotB = Array.from(vars.b.dataSync());
  const wantW = referenceAdamW(w0, gw, lrs, o);
  const wantB = referenceAdamW(b0, gb, lrs, { ...o, wd: 0 });
  const bIfDecayed = referenceAdamW(b0, gb, lrs, o);
  gotW.forEach((x, i) => assert.ok(Math.abs(x - wantW[i]!) < 1e-5, `w[${i}]: ${x} vs ${wantW[i]}`));
  gotB.forEach((x, i) => assert.ok(Math.abs(x - wantB[i]!) < 1e-5, `b[${i}]: ${x} vs ${wantB[i]}`));
  // The decay is large enough here that applying it to b would be visible.
  assert.ok(gotB.some((x, i) => Math.abs(x - bIfDecayed[i]!) > 1e-2));
  opt.dispose();
  tf.dispose(Object.values(vars));
});

test('noDecay can be overridden by name', () => {
  const vars = { 'ln.gain': tf.variable(tf.ones([4])), 'emb.table': tf.variable(tf.ones([2, 2])) };
  const opt = new AdamW({ lr: 0.1, weightDecay: 1, noDecay: (name) => name.startsWith('emb.') });
  const zero = { 'ln.gain': tf.zeros([4]), 'emb.table': tf.zeros([2, 2]) };
  opt.step(vars, zero);
  // Zero gradient: only decay moves a parameter, p <- p * (1 - lr * wd).
  assert.deepEqual(Array.from(vars['ln.gain'].dataSync()).map((x) => +x.toFixed(6)), [0.9, 0.9, 0.9, 0.9]);
  assert.deepEqual(Array.from(vars['emb.table'].dataSync()), [1, 1, 1, 1]);
  opt.dispose();
  tf.dispose([...Object.values(vars), ...Object.values(zero)]);
});

test('minimises a quadratic', () => {
  const target = tf.tensor1d([3, -2, 0.5, 10]);
  const x = tf.variable(tf.zeros([4]));
  const opt = new AdamW({ lr: 0.2 });
  const loss = () => tf.sum(tf.square(tf.sub(x, target))) as tf.Scalar;
  for (let i = 0; i < 400; i++) {
    const { value, grads } = tf.variableGrads(loss, [x]);
    opt.step({ x }, { x: grads[x.name]! });
    tf.dispose([value, ...Object.values(grads)]);
  }
  const got = Array.from(x.dataSync());
  [3, -2, 0.5, 10].forEach((t, i) => assert.ok(Math.abs(got[i]! - t) < 0.05, `x[${i}] = ${got[i]}, want ${t}`));
  opt.dispose();
  tf.dispose([x, target]);
});

test('leaks no tensors: state is created once, then steps allocate nothing that survives', () => {
  const vars = { a: tf.variable(tf.randomNormal([8, 8], 0, 1, 'float32', 1)), c: tf.variable(tf.zeros([8])) };
  const grads = { a: tf.onesLike(vars.a), c: tf.onesLike(vars.c) };
  const start = tf.memory().numTensors;
  const opt = new AdamW({ lr: 0.01, weightDecay: 0.1 });
  opt.step(vars, grads);
  assert.equal(tf.memory().numTensors, start + 4); // m and v for each of the two variables
  for (let i = 0; i < 5; i++) opt.step(vars, grads);
  assert.equal(tf.memory().numTensors, start + 4);
  opt.dispose();
  assert.equal(tf.memory().numTensors, start);
  tf.dispose([...Object.values(vars), ...Object.values(grads)]);
});

test('export then import into a fresh optimizer gives a bit-identical next step', () => {
  const rng = new Rng(12);
  const init = { w: randn(rng, 12), b: randn(rng, 4) };
  const make = () => ({ w: tf.variable(tf.tensor2d(init.w, [3, 4])), b: tf.variable(tf.tensor1d(init.b)) });
  const gradsAt = (s: number) => {
    const r = new Rng(100 + s);
    return { w: tf.tensor2d(randn(r, 12), [3, 4]), b: tf.tensor1d(randn(r, 4)) };
  };
  const opts = { lr: 0.03, weightDecay: 0.2, beta2: 0.99 };
  const varsA = make();
  const a = new AdamW(opts);
  for (let s = 0; s < 3; s++) {
    const g = gradsAt(s);
    a.step(varsA, g);
    tf.dispose(Object.values(g));
  }
  const state = a.exportState();
  assert.deepEqual(Object.keys(state).sort(), ['adamw/step_count', 'exp_avg/b', 'exp_avg/w', 'exp_avg_sq/b', 'exp_avg_sq/w', 'step/b', 'step/w']);
  assert.deepEqual(state['exp_avg/w']!.shape, [3, 4]);
  const varsB = { w: tf.variable(varsA.w.clone()), b: tf.variable(varsA.b.clone()) };
  const b = new AdamW(opts);
  b.importState(state);
  assert.equal(b.stepCount, 3);
  const g = gradsAt(3);
  a.step(varsA, g);
  b.step(varsB, g);
  assert.deepEqual(varsB.w.dataSync(), varsA.w.dataSync());
  assert.deepEqual(varsB.b.dataSync(), varsA.b.dataSync());
  // Without the imported state the step differs: the round trip carried real information.
  const varsC = { w: tf.variable(tf.tensor2d(init.w, [3, 4])), b: tf.variable(tf.tensor1d(init.b)) };
  const c = new AdamW(opts);
  c.step(varsC, g);
  assert.notDeepEqual(varsC.w.dataSync(), varsA.w.dataSync());
  tf.dispose(Object.values(g));
  for (const o of [a, b, c]) o.dispose();
  tf.dispose([...Object.values(varsA), ...Object.values(varsB), ...Object.values(varsC)]);
});

test('errors name the variable and the problem', () => {
  const vars = { w: tf.variable(tf.zeros([2, 2])) };
  const opt = new AdamW({ lr: 0.1 });
  tf.tidy(() => {
    assert.throws(() => opt.step(vars, { v: tf.zeros([2, 2]) }), /gradient for "v" has no matching variable/);
    assert.throws(() => opt.step(vars, { w: tf.zeros([4]) }), (e: Error) => e instanceof OptimizerError && /gradient for "w" has shape \[4\], variable has \[2,2\]/.test(e.message));
  });
  assert.throws(() => new AdamW({ lr: 0.1, beta1: 1 }), /AdamW beta1 must be in \[0, 1\); got 1/);
  assert.throws(() => opt.importState({}), /lacks adamw\/step_count/);
  assert.equal(opt.stepCount, 0);
  opt.dispose();
  vars.w.dispose();
});
