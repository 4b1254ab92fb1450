// Preference and reward-model losses: finite-difference gradients, reference values, invariants, no leaks.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import {
  bradleyTerryLoss,
  dpoLoss,
  hingeLoss,
  ipoLoss,
  LossError,
  pairwisePreferenceLoss,
  preferenceLoss,
  type PreferenceInputs,
} from '../../src/kernels/losses.js';
import { Rng } from '../../src/kernels/rng.js';

before(async () => {
  await initBackend('wasm');
});

const softplus = (x: number): number => Math.log(1 + Math.exp(x));

/**
 * Compares tf.grads of `lossOf` with central finite differences, input by input, element by element.
 * float32 evaluation limits precision, so h is large-ish and the tolerance relative.
 */
function checkGrads(lossOf: (xs: tf.Tensor1D[]) => tf.Scalar, inputs: number[][], opts: { h?: number; tol?: number; only?: number[] } = {}): void {
  const h = opts.h ?? 1e-2;
  const tol = opts.tol ?? 2e-3;
  const evalAt = (arrays: number[][]): number =>
    tf.tidy(() => lossOf(arrays.map((a) => tf.tensor1d(a))).dataSync()[0]!);
  const analytic = tf.tidy(() => {
    const xs = inputs.map((a) => tf.tensor1d(a));
    return tf.grads((...args: tf.Tensor[]) => lossOf(args as tf.Tensor1D[]))(xs).map((g) => Array.from(g.dataSync()));
  });
  const which = opts.only ?? inputs.map((_, i) => i);
  for (const i of which) {
    for (let j = 0; j < inputs[i]!.length; j++) {
      const plus = inputs.map((a) => [...a]);
      const minus = inputs.map((a) => [...a]);
      plus[i]![j]! += h;
      minus[i]![j]! -= h;
      const numeric = (evalAt(plus) - evalAt(minus)) / (2 * h);
      const got = analytic[i]![j]!;
      assert.ok(Math.abs(got - numeric) <= tol * Math.max(1, Math.abs(numeric)), `input ${i}[${j}]: analytic ${got}, finite difference ${numeric}`);
    }
  }
}

function randomLogps(seed: number, n: number, scale: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: 4 }, () => Array.from({ length: n }, () => -scale * rng.next()));
}

const asPrefs = (xs: tf.Tensor1D[], beta: number, labelSmoothing?: number): PreferenceInputs => ({
  policyChosen: xs[0]!,
  policyRejected: xs[1]!,
  refChosen: xs[2]!,
  refRejected: xs[3]!,
  beta,
  labelSmoothing,
  weights: xs[4],
});

test('dpo gradient matches finite differences, with and without label smoothing', () => {
  const inputs = randomLogps(1, 5, 20);
  checkGrads((xs) => dpoLoss(asPrefs(xs, 0.1)).loss, inputs);
  checkGrads((xs) => dpoLoss(asPrefs(xs, 0.5, 0.1)).loss, inputs);
});

test('weighted dpo gradient matches finite differences, weights included', () => {
  const inputs = [...randomLogps(2, 4, 10), [0.5, 1, 2, 0.25]];
  checkGrads((xs) => dpoLoss(asPrefs(xs, 0.3)).loss, inputs);
});

test('ipo gradient matches finite differences', () => {
  checkGrads((xs) => ipoLoss(asPrefs(xs, 0.5)).loss, randomLogps(3, 5, 4));
});

test('hinge gradient matches finite differences away from the kink', () => {
  const inputs = randomLogps(4, 6, 30);
  const beta = 0.2;
  for (let j = 0; j < 6; j++) {
    const hm = inputs[0]![j]! - inputs[2]![j]! - (inputs[1]![j]! - inputs[3]![j]!);
    assert.ok(Math.abs(1 - beta * hm) > 0.05, 'test inputs must stay clear of the kink');
  }
  const margins = inputs[0]!.map((_, j) => 1 - beta * (inputs[0]![j]! - inputs[2]![j]! - (inputs[1]![j]! - inputs[3]![j]!)));
  assert.ok(margins.some((m) => m > 0) && margins.some((m) => m < 0), 'both sides of the hinge are exercised');
  checkGrads((xs) => hingeLoss(asPrefs(xs, beta)).loss, inputs, { h: 1e-3 });
});

test('bradley-terry and pairwise gradients match finite differences', () => {
  const rng = new Rng(5);
  const r = () => Array.from({ length: 5 }, () => 4 * rng.next() - 2);
  checkGrads((xs) => bradleyTerryLoss(xs[0]!, xs[1]!), [r(), r()]);
  checkGrads((xs) => pairwisePreferenceLoss(xs[0]!, xs[1]!), [r(), [1, 0, 1, 1, 0]], { only: [0] });
});

test('dpo loss is ln 2 when policy equals reference; descent raises chosen and lowers rejected', () => {
  const beta = 0.1;
  const lp = [-12.5, -3, -40];
  const B = lp.length;
  const [loss, gChosen, gRejected] = tf.tidy(() => {
    const ref = tf.tensor1d(lp);
    const f = (pc: tf.Tensor, pr: tf.Tensor) =>
      dpoLoss({ policyChosen: pc as tf.Tensor1D, policyRejected: pr as tf.Tensor1D, refChosen: ref, refRejected: ref, beta }).loss;
    const [gc, gr] = tf.grads(f)([tf.tensor1d(lp), tf.tensor1d(lp)]);
    return [f(tf.tensor1d(lp), tf.tensor1d(lp)).dataSync()[0]!, Array.from(gc!.dataSync()), Array.from(gr!.dataSync())];
  }) as unknown as [number, number[], number[]];
  assert.ok(Math.abs(loss - Math.LN2) < 1e-6, `loss ${loss} vs ln 2`);
  // d/d pi_c softplus(-beta h) / B = -beta * sigmoid(0) / B.
  for (const g of gChosen) {
    assert.ok(g < 0);
    assert.ok(Math.abs(g + beta / (2 * B)) < 1e-7);
  }
  for (const g of gRejected) {
    assert.ok(g > 0);
    assert.ok(Math.abs(g - beta / (2 * B)) < 1e-7);
  }
});

// Two pairs by hand, beta 0.5: h1 = (-1 + 1.5) - (-2 + 1.5) = 1, h2 = (-3 + 2) - (-1 + 2) = -2.
const HAND = { pc: [-1, -3], pr: [-2, -1], rc: [-1.5, -2], rr: [-1.5, -2], beta: 0.5 };
function handInputs(extra: Partial<PreferenceInputs> = {}): PreferenceInputs {
  return {
    policyChosen: tf.tensor1d(HAND.pc),
    policyRejected: tf.tensor1d(HAND.pr),
    refChosen: tf.tensor1d(HAND.rc),
    refRejected: tf.tensor1d(HAND.rr),
    beta: HAND.beta,
    ...extra,
  };
}
const read = (t: tf.Tensor): number[] => Array.from(t.dataSync());
const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('reference values: dpo, cdpo, ipo, hinge and the implicit rewards', () => {
  tf.tidy(() => {
    const dpo = dpoLoss(handInputs());
    // softplus(-0.5) = 0.474077, softplus(1) = 1.313262
    close(dpo.loss.dataSync()[0]!, (0.4740770 + 1.3132617) / 2);
    assert.deepEqual(read(dpo.chosenRewards), [0.25, -0.5]);
    assert.deepEqual(read(dpo.rejectedRewards), [-0.25, 0.5]);
    const cdpo = dpoLoss(handInputs({ labelSmoothing: 0.1 }));
    close(cdpo.loss.dataSync()[0]!, (0.9 * softplus(-0.5) + 0.1 * softplus(0.5) + 0.9 * softplus(1) + 0.1 * softplus(-1)) / 2);
    // IPO target 1/(2*0.5) = 1: (1-1)^2 = 0 and (-2-1)^2 = 9.
    close(ipoLoss(handInputs()).loss.dataSync()[0]!, 4.5);
    // hinge: relu(1 - 0.5) = 0.5 and relu(1 + 1) = 2.
    close(hingeLoss(handInputs()).loss.dataSync()[0]!, 1.25);
    close(preferenceLoss('ipo', handInputs()).loss.dataSync()[0]!, 4.5);
    close(preferenceLoss('hinge', handInputs()).loss.dataSync()[0]!, 1.25);
  });
});

test('weights down-weight pairs: sum(w l) / sum(w)', () => {
  tf.tidy(() => {
    const w13 = dpoLoss(handInputs({ weights: tf.tensor1d([1, 3]) })).loss.dataSync()[0]!;
    close(w13, (softplus(-0.5) + 3 * softplus(1)) / 4);
    const onlyFirst = hingeLoss(handInputs({ weights: tf.tensor1d([2, 0]) })).loss.dataSync()[0]!;
    close(onlyFirst, 0.5);
    const uniform = ipoLoss(handInputs({ weights: tf.tensor1d([0.7, 0.7]) })).loss.dataSync()[0]!;
    close(uniform, 4.5, 1e-5);
  });
});

test('reward-model losses: reference values and no overflow at large logits', () => {
  tf.tidy(() => {
    const bt = bradleyTerryLoss(tf.tensor1d([2, 0]), tf.tensor1d([0, 1])).dataSync()[0]!;
    close(bt, (softplus(-2) + softplus(1)) / 2);
    const pw = pairwisePreferenceLoss(tf.tensor1d([2, -1]), tf.tensor1d([1, 0])).dataSync()[0]!;
    close(pw, (softplus(-2) + softplus(-1)) / 2);
    close(pairwisePreferenceLoss(tf.tensor1d([100]), tf.tensor1d([0])).dataSync()[0]!, 100, 1e-4);
    close(pairwisePreferenceLoss(tf.tensor1d([100]), tf.tensor1d([1])).dataSync()[0]!, 0);
    const far = dpoLoss({ ...handInputs(), policyChosen: tf.tensor1d([-500, -3]), beta: 1 }).loss.dataSync()[0]!;
    assert.ok(Number.isFinite(far) && far > 200, `large margins stay finite: ${far}`);
  });
});

test('losses leak no tensors', () => {
  const inputs = handInputs({ weights: tf.tensor1d([1, 2]) });
  const start = tf.memory().numTensors;
  for (const kind of ['dpo', 'ipo', 'hinge'] as const) {
    const out = preferenceLoss(kind, { ...inputs, labelSmoothing: 0.1 });
    tf.dispose([out.loss, out.chosenRewards, out.rejectedRewards]);
  }
  bradleyTerryLoss(inputs.policyChosen, inputs.policyRejected).dispose();
  pairwisePreferenceLoss(inputs.policyChosen, tf.tidy(() => tf.tensor1d([1, 0]))).dispose();
  assert.equal(tf.memory().numTensors, start + 1); // only the label tensor made above
  tf.dispose([inputs.policyChosen, inputs.policyRejected, inputs.refChosen, inputs.refRejected, inputs.weights!]);
});

test('bad inputs name the problem', () => {
  tf.tidy(() => {
    assert.throws(() => dpoLoss({ ...handInputs(), refChosen: tf.tensor1d([1, 2, 3]) }), (e: Error) => {
      assert.ok(e instanceof LossError);
      assert.equal(e.name, 'LossError');
      assert.match(e.message, /refChosen must have shape \[2\] like policyChosen; got \[3\]/);
      return true;
    });
    assert.throws(() => dpoLoss(handInputs({ beta: 0 })), /beta must be a finite number > 0; got 0/);
    assert.throws(() => dpoLoss(handInputs({ labelSmoothing: 0.5 })), /labelSmoothing must be in \[0, 0.5\); got 0.5/);
    assert.throws(() => preferenceLoss('kto' as 'dpo', handInputs()), /preference loss must be one of dpo, ipo, hinge; got "kto"/);
  });
});
