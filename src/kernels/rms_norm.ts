// Root-mean-square normalisation (Zhang & Sennrich 2019; Llama's RMSNorm) over the last axis, with a hand-written gradient.
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import { columnSum } from './matmul.js';

/**
 * y = x * rsqrt(mean(x^2) + eps) * weight. x [..., D], weight [D].
 * Gradient (xhat = x * r, r = rsqrt(mean(x^2) + eps), g = dy * weight):
 *   dx = r * (g - xhat * mean(g * xhat)),  dweight = sum over rows of dy * xhat (column sums: axis-0 reductions are slow on wasm).
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor1D, eps = 1e-6): tf.Tensor {
  const d = x.shape[x.rank - 1]!;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, w, save] = args as [tf.Tensor, tf.Tensor1D, tf.GradSaveFunc];
    const rows = tf.reshape(xs, [-1, d]); // [N, D]
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(rows), -1, true), eps)); // [N, 1]
    const xhat = tf.mul(rows, r); // [N, D]
    save([xhat, r, w]);
    const value = tf.reshape(tf.mul(xhat, w), xs.shape);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sXhat, sR, sW] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
      const dyRows = tf.reshape(dy, [-1, d]); // [N, D]
      const g = tf.mul(dyRows, sW);
      const meanGX = tf.mean(tf.mul(g, sXhat), -1, true); // [N, 1]
      const dx = tf.mul(tf.sub(g, tf.mul(sXhat, meanGX)), sR);
      return [tf.reshape(dx, dy.shape), columnSum(tf.mul(dyRows, sXhat))];
    };
    return { value, gradFunc };
  });
  return f(x, weight);
}

/** SiLU-gated linear unit (Shazeer 2020, SwiGLU): silu(gate) * up, silu(g) = g * sigmoid(g). gate, up [N, F]. */
export function swiglu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up));
}
