// Layer normalisation (Ba et al. 2016) over the last axis, with a hand-written gradient: fewer wasm kernel calls than
// autodiff, and one fused native kernel each way when the native kernels are enabled.
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import { columnSum } from './matmul.js';
import { nativeLayerNorm } from './native/index.js';

/**
 * y = (x - mean) / sqrt(var + eps) * weight + bias, over the last axis. x [..., D], weight [D], bias [D].
 * Gradient (xhat the normalised input, g = dy * weight, means over the last axis):
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dweight = sum(dy * xhat),  dbias = sum(dy).
 */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps = 1e-5): tf.Tensor {
  const fused = nativeLayerNorm(x, weight, bias, eps);
  if (fused) return fused;
  const d = x.shape[x.rank - 1]!;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, w, b, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const rows = tf.reshape(xs, [-1, d]); // [N, D]
    const centred = tf.sub(rows, tf.mean(rows, -1, true));
    const variance = tf.mean(tf.square(centred), -1, true); // [N, 1]
    const rstd = tf.rsqrt(tf.add(variance, eps)); // [N, 1]
    const xhat = tf.mul(centred, rstd); // [N, D]
    save([xhat, rstd, w]);
    const value = tf.reshape(tf.add(tf.mul(xhat, w), b), xs.shape);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sXhat, sRstd, sW] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
      const dyRows = tf.reshape(dy, [-1, d]); // [N, D]
      const g = tf.mul(dyRows, sW);
      const meanG = tf.mean(g, -1, true);
      const meanGX = tf.mean(tf.mul(g, sXhat), -1, true);
      const dx = tf.mul(tf.sub(tf.sub(g, meanG), tf.mul(sXhat, meanGX)), sRstd);
      const dw = columnSum(tf.mul(dyRows, sXhat));
      const db = columnSum(dyRows);
      return [tf.reshape(dx, dy.shape), dw, db];
    };
    return { value, gradFunc };
  });
  return f(x, weight, bias);
}
