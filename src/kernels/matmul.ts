// Matrix products whose forward and gradient only ever call plain (untransposed) matMul on stock wasm, where matMul with
// transposeA/transposeB runs 10-35x slower than an explicit tf.transpose followed by a plain matMul; with the native
// BatchMatMul active, transposed and batched products run at full speed and are called directly.
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import { nativeKernelStatus } from './native/index.js';

export class MatMulError extends Error {
  override name = 'MatMulError';
}

/** Swaps the last two axes: [..., m, n] -> [..., n, m]. */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  if (x.rank < 2) throw new MatMulError(`transposeLast2 needs a tensor of rank >= 2; got shape [${x.shape}]`);
  if (x.rank === 2) return tf.transpose(x);
  const perm = [...Array(x.rank).keys()];
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return tf.transpose(x, perm);
}

const maybeT = (x: tf.Tensor, t: boolean): tf.Tensor => (t ? transposeLast2(x) : x);

/** Whether the native BatchMatMul serves the active backend (then transposed operands cost nothing extra). */
export function nativeMatMulActive(): boolean {
  const s = nativeKernelStatus();
  return s.active && s.kernels.includes('BatchMatMul') && tf.getBackend() === 'wasm';
}

/**
 * Same-rank product with equal batch dimensions (none for 2-D). For y = A B with A = op(a), B = op(b):
 * dA = dy B^T and dB = A^T dy; each case below is written so that only plain matMuls run.
 */
function sameRankProduct(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  // tf.matMul's own gradient is two transposed products, which the native kernel runs as fast as plain ones.
  if (nativeMatMulActive()) return tf.matMul(a, b, transposeA, transposeB);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, y]);
    const value = tf.matMul(maybeT(x, transposeA), maybeT(y, transposeB));
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      // A = op(a) [m, k], B = op(b) [k, n], dy [m, n]. When an input was transposed its gradient is the transpose of
      // dA or dB; either transpose the (large) dy first or the (often small) product after, whichever moves less data.
      const m = dy.shape[dy.rank - 2]!;
      const n = dy.shape[dy.rank - 1]!;
      const k = transposeA ? sa.shape[sa.rank - 2]! : sa.shape[sa.rank - 1]!;
      let da: tf.Tensor;
      if (!transposeA) {
        da = tf.matMul(dy, transposeB ? sb : transposeLast2(sb)); // dy B^T
      } else if (m * n + (transposeB ? k * n : 0) <= (transposeB ? 0 : k * n) + m * k) {
        da = tf.matMul(maybeT(sb, transposeB), transposeLast2(dy)); // (dy B^T)^T = B dy^T
      } else {
        da = transposeLast2(tf.matMul(dy, transposeB ? sb : transposeLast2(sb)));
      }
      let db: tf.Tensor;
      if (!transposeB) {
        db = tf.matMul(transposeA ? sa : transposeLast2(sa), dy); // A^T dy
      } else if (m * n + (transposeA ? m * k : 0) <= (transposeA ? 0 : m * k) + n * k) {
        db = tf.matMul(transposeLast2(dy), maybeT(sa, transposeA)); // (A^T dy)^T = dy^T A
      } else {
        db = transposeLast2(tf.matMul(transposeA ? sa : transposeLast2(sa), dy));
      }
      return [da, db];
    };
    return { value, gradFunc };
  });
  return f(a, b);
}

/**
 * matMul(a, b, transposeA, transposeB) with the semantics of tf.matMul, for 2-D inputs, for batched inputs of equal rank
 * and equal batch dimensions ([..., m, k] x [..., k, n]), and for a batched `a` times a 2-D `b` (the batch is folded into
 * the rows, so wasm runs one 2-D product instead of its slow batched loop).
 */
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if (a.rank < 2 || b.rank < 2) {
    throw new MatMulError(`matMul needs tensors of rank >= 2; got shapes [${a.shape}] and [${b.shape}]`);
  }
  const k = transposeA ? a.shape[a.rank - 2]! : a.shape[a.rank - 1]!;
  const kb = transposeB ? b.shape[b.rank - 1]! : b.shape[b.rank - 2]!;
  if (k !== kb) {
    throw new MatMulError(
      `matMul inner dimensions differ: a [${a.shape}] (transposeA=${transposeA}) gives ${k}, ` +
        `b [${b.shape}] (transposeB=${transposeB}) gives ${kb}`,
    );
  }
  if (a.rank > 2 && b.rank === 2 && !transposeA) {
    return tf.tidy(() => {
      const m = a.shape[a.rank - 2]!;
      const n = transposeB ? b.shape[0]! : b.shape[1]!;
      const rows = tf.reshape(a, [-1, k]); // [batch*m, k]
      const out = sameRankProduct(rows, b, false, transposeB); // [batch*m, n]
      return tf.reshape(out, [...a.shape.slice(0, -2), m, n]);
    });
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  if (a.rank !== b.rank || batchA.some((d, i) => d !== batchB[i])) {
    throw new MatMulError(
      `matMul supports equal batch dimensions, or a batched a (not transposed) times a 2-D b; ` +
        `got a [${a.shape}] (transposeA=${transposeA}) and b [${b.shape}]`,
    );
  }
  return sameRankProduct(a, b, transposeA, transposeB);
}

/**
 * Sums the rows of x [N, D] -> [D] as ones[1, N] x: on stock wasm a reduction over axis 0 runs about 50x slower than this
 * product. The native Sum reads the rows in one pass, with no ones vector to build.
 */
export function columnSum(x: tf.Tensor): tf.Tensor1D {
  if (nativeMatMulActive() && nativeKernelStatus().kernels.includes('Sum')) return tf.sum(x, 0) as tf.Tensor1D;
  return tf.tidy(() => {
    const [n, d] = [x.shape[0]!, x.shape[1]!];
    return tf.reshape(tf.matMul(tf.ones([1, n]), x), [d]) as tf.Tensor1D;
  });
}

/**
 * Dense layer: x [N, in] W [in, out] + bias [out] -> [N, out], with a hand-written gradient: dx = dy W^T and dW = x^T dy
 * (through explicit transposes on stock wasm, as transposed products with the native kernel), dbias = column sums of dy
 * (tf.add's own gradient reduces over axis 0). A batched x [..., in] is folded into rows.
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  if (!bias) return matMul(x, weight);
  const native = nativeMatMulActive();
  return overRows(x, weight, (rows) => {
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [xs, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
      save([xs, w]);
      const value = tf.add(tf.matMul(xs, w), b);
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
        if (native) return [tf.matMul(dy, sw, false, true), tf.matMul(sx, dy, true, false), columnSum(dy)];
        return [tf.matMul(dy, tf.transpose(sw)), tf.matMul(tf.transpose(sx), dy), columnSum(dy)];
      };
      return { value, gradFunc };
    });
    return f(rows, weight, bias);
  });
}

/** A dense map of x [..., in] by weight [in, out]: `dense` gets x folded into rows [N, in], its [N, out] unfolds. */
function overRows(x: tf.Tensor, weight: tf.Tensor, dense: (rows: tf.Tensor2D) => tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const rows = tf.reshape(x, [-1, weight.shape[0]!]) as tf.Tensor2D; // [N, in]
    return tf.reshape(dense(rows), [...x.shape.slice(0, -1), weight.shape[1]!]);
  });
}

/**
 * linear() for a frozen weight: the same values, but the gradient flows to x only (dx = dy W^T). A LoRA step never
 * needs dW of the base, and computing it would cost as much as the whole backward of full fine-tuning.
 */
export function frozenLinear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const native = nativeMatMulActive();
  return overRows(x, weight, (rows) => {
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [xs] = args as [tf.Tensor2D, tf.GradSaveFunc];
      // The weight is read from the closure, not passed in, so the tape never asks for its gradient.
      const value = bias ? tf.add(tf.matMul(xs, weight), bias) : tf.matMul(xs, weight);
      const gradFunc = (dy: tf.Tensor): tf.Tensor => (native ? tf.matMul(dy, weight, false, true) : tf.matMul(dy, tf.transpose(weight)));
      return { value, gradFunc };
    });
    return f(rows);
  });
}

/** rows [N, k] times a frozen b [n, k] transposed -> [N, n]; the gradient flows to rows only (dy b). */
export function frozenMatMulT(rows: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const value = matMul(xs, b, false, true);
    const gradFunc = (dy: tf.Tensor): tf.Tensor => tf.matMul(dy, b);
    return { value, gradFunc };
  });
  return f(rows) as tf.Tensor2D;
}
