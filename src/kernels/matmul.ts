// Matrix products whose forward and gradient only ever call plain (untransposed) matMul: on wasm, matMul with
// transposeA/transposeB runs 10-35x slower than an explicit tf.transpose followed by a plain matMul.
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';

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

/**
 * Same-rank product with equal batch dimensions (none for 2-D). For y = A B with A = op(a), B = op(b):
 * dA = dy B^T and dB = A^T dy; each case below is written so that only plain matMuls run.
 */
function sameRankProduct(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, y]);
    const value = tf.matMul(maybeT(x, transposeA), maybeT(y, transposeB));
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      // d op(a): dy op(b)^T; when a itself was transposed, da = (dy op(b)^T)^T = op(b) dy^T.
      const da = transposeA
        ? tf.matMul(maybeT(sb, transposeB), transposeLast2(dy))
        : tf.matMul(dy, transposeB ? sb : transposeLast2(sb));
      // d op(b): op(a)^T dy; when b itself was transposed, db = dy^T op(a).
      const db = transposeB
        ? tf.matMul(transposeLast2(dy), maybeT(sa, transposeA))
        : tf.matMul(transposeA ? sa : transposeLast2(sa), dy);
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

/** Dense layer: x [..., in] W [in, out] + bias [out] -> [..., out]. */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const y = matMul(x, weight);
    return bias ? tf.add(y, bias) : y;
  });
}
