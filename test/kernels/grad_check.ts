// Finite-difference gradient checker for tfjs functions, with tolerances that allow for float32 evaluation.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../src/kernels/rng.js';

export interface GradCheckOptions {
  /** Picks which coordinates are checked. */
  seed: number;
  /** Coordinates checked per input (default 6). */
  samples?: number;
  /** Central-difference step (default 1e-2: float32 rounding noise grows as 1/eps). */
  eps?: number;
  /** Relative tolerance (default 2e-2). */
  rtol?: number;
  /** Absolute tolerance added to the float32 noise estimate (default 1e-4). */
  atol?: number;
  /** Indices of the inputs to check (default all). Others are held fixed. */
  wrt?: number[];
}

export interface CoordinateCheck {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
  allowed: number;
}

export interface GradCheckResult {
  checks: CoordinateCheck[];
  /** Checks whose |analytic - numeric| exceeded the allowed error. */
  failures: CoordinateCheck[];
}

function evalAt(f: (...xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[], which: number, index: number, delta: number): number {
  return tf.tidy(() => {
    const data = xs[which]!.dataSync().slice() as Float32Array;
    data[index] = data[index]! + delta;
    const moved = xs.map((x, i) => (i === which ? tf.tensor(data, x.shape, 'float32') : x));
    return f(...moved).dataSync()[0]!;
  });
}

/** Compares tf.grads of f at xs with central differences at a few random coordinates of each float input. */
export function gradCheck(f: (...xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[], opts: GradCheckOptions): GradCheckResult {
  const samples = opts.samples ?? 6;
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 2e-2;
  const atol = opts.atol ?? 1e-4;
  const wrt = opts.wrt ?? xs.map((_, i) => i);
  const rng = new Rng(opts.seed);
  const analytic = tf.tidy(() => {
    const g = tf.grads((...ins: tf.Tensor[]) => f(...xs.map((x, i) => (wrt.includes(i) ? ins[wrt.indexOf(i)]! : x))));
    return g(wrt.map((i) => xs[i]!)).map((t) => t.dataSync().slice() as Float32Array);
  });
  const checks: CoordinateCheck[] = [];
  wrt.forEach((which, k) => {
    const size = xs[which]!.size;
    for (let s = 0; s < Math.min(samples, size); s++) {
      const index = rng.int(size);
      const up = evalAt(f, xs, which, index, eps);
      const down = evalAt(f, xs, which, index, -eps);
      const numeric = (up - down) / (2 * eps);
      // float32 rounding of f (about 6e-8 relative) is amplified by 1/(2 eps) in the difference.
      const noise = (8 * 6e-8 * Math.max(Math.abs(up), Math.abs(down), 1)) / (2 * eps);
      const a = analytic[k]![index]!;
      const allowed = atol + noise + rtol * Math.max(Math.abs(a), Math.abs(numeric));
      checks.push({ input: which, index, analytic: a, numeric, allowed });
    }
  });
  return { checks, failures: checks.filter((c) => !(Math.abs(c.analytic - c.numeric) <= c.allowed)) };
}

/** Throws with every failing coordinate listed when the gradient of f disagrees with finite differences. */
export function assertGradClose(f: (...xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[], opts: GradCheckOptions): GradCheckResult {
  const r = gradCheck(f, xs, opts);
  if (r.failures.length > 0) {
    const lines = r.failures.map((c) => `input ${c.input}[${c.index}]: analytic ${c.analytic}, numeric ${c.numeric}, allowed error ${c.allowed}`);
    throw new Error(`gradient check failed at ${r.failures.length} of ${r.checks.length} coordinates:\n${lines.join('\n')}`);
  }
  return r;
}
