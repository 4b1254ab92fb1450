// Causal multi-head attention core, its additive masks, and rotary position tables (RoFormer, Su et al. 2021).
import * as tf from '@tensorflow/tfjs-core';
import { matMul } from './matmul.js';

/** Added to the scores of masked keys: large but finite, so a query with no visible key gets uniform (unused) weights, not NaN. */
export const MASKED = -1e9;

/** Additive causal mask for a full forward: [1, 1, T, T], 0 where key <= query, MASKED elsewhere. */
export function causalBias(t: number): tf.Tensor4D {
  const data = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) data[i * t + j] = MASKED;
  return tf.tensor4d(data, [1, 1, t, t]);
}

/**
 * Additive mask for new queries over cached plus new keys: [B, 1, Tq, S] with S = pastLength + Tq. Query i (absolute
 * column pastLength + i) sees key s when s <= pastLength + i and keyValid[b][s] is 1 (0 marks padding).
 */
export function cachedBias(keyValid: number[][], pastLength: number, tq: number): tf.Tensor4D {
  const b = keyValid.length;
  const s = pastLength + tq;
  const data = new Float32Array(b * tq * s);
  for (let r = 0; r < b; r++) {
    const valid = keyValid[r]!;
    for (let i = 0; i < tq; i++) {
      const base = (r * tq + i) * s;
      for (let j = 0; j < s; j++) if (j > pastLength + i || valid[j] !== 1) data[base + j] = MASKED;
    }
  }
  return tf.tensor4d(data, [b, 1, tq, s]);
}

/**
 * cos and sin tables for rotary embeddings at the given positions ([B][T] ids), GPT-NeoX layout (the two halves of a
 * head rotate together): each [B, T, 1, hd], broadcasting over heads in a [B, T, H, hd] tensor.
 */
export function ropeTables(positions: number[][], headDim: number, base = 10000): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
  const half = headDim / 2;
  const b = positions.length;
  const t = positions[0]?.length ?? 0;
  const cos = new Float32Array(b * t * headDim);
  const sin = new Float32Array(b * t * headDim);
  for (let r = 0; r < b; r++) {
    for (let i = 0; i < t; i++) {
      const pos = positions[r]![i]!;
      const off = (r * t + i) * headDim;
      for (let j = 0; j < half; j++) {
        const angle = pos * Math.pow(base, (-2 * j) / headDim);
        cos[off + j] = cos[off + j + half] = Math.cos(angle);
        sin[off + j] = sin[off + j + half] = Math.sin(angle);
      }
    }
  }
  return { cos: tf.tensor4d(cos, [b, t, 1, headDim]), sin: tf.tensor4d(sin, [b, t, 1, headDim]) };
}

/** Rotates pairs (x1, x2) of the two halves of the last axis: x * cos + [-x2, x1] * sin. x [B, T, H, hd]. */
export function applyRope(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const half = x.shape[x.rank - 1]! / 2;
    const [x1, x2] = tf.split(x, [half, half], -1) as [tf.Tensor, tf.Tensor];
    const rotated = tf.concat([tf.neg(x2), x1], -1);
    return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
  });
}

/**
 * softmax(q kT + bias) v. q [B, H, Tq, hd] (already scaled by 1/sqrt(hd)), kT [B, H, hd, S] (keys stored transposed, so no
 * transposed matMul runs), v [B, H, S, hd], bias broadcastable to [B, H, Tq, S] -> [B, H, Tq, hd].
 * dropProbs, when given, is applied to the attention weights (training-time dropout).
 */
export function attend(
  q: tf.Tensor,
  kT: tf.Tensor,
  v: tf.Tensor,
  bias: tf.Tensor,
  dropProbs?: (p: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => {
    const scores = tf.add(matMul(q, kT), bias); // [B, H, Tq, S]
    let probs = tf.softmax(scores);
    if (dropProbs) probs = dropProbs(probs);
    return matMul(probs, v); // [B, H, Tq, hd]
  });
}

/**
 * Grouped-query attention (Ainslie et al. 2023): H query heads share KV = H / groups key/value heads, query head h using
 * key/value head floor(h / groups) (HF's repeat_kv). q [B, H, Tq, hd] (scaled), kT [B, KV, hd, S], v [B, KV, S, hd], bias
 * [B|1, 1, Tq, S] -> [B, H, Tq, hd]. The queries of a group are folded into one batch row, so keys and values are never
 * copied per query head.
 */
export function attendGrouped(
  q: tf.Tensor,
  kT: tf.Tensor,
  v: tf.Tensor,
  bias: tf.Tensor,
  groups: number,
  dropProbs?: (p: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  if (groups === 1) return attend(q, kT, v, bias, dropProbs);
  return tf.tidy(() => {
    const [b, h, tq, hd] = q.shape as [number, number, number, number];
    const kv = h / groups;
    const s = kT.shape[3]!;
    const qg = tf.reshape(q, [b, kv, groups * tq, hd]);
    const scores = tf.reshape(matMul(qg, kT), [b, kv, groups, tq, s]); // [B, KV, G, Tq, S]
    const biased = tf.add(scores, tf.reshape(bias, [bias.shape[0]!, 1, 1, tq, s]));
    let probs = tf.softmax(tf.reshape(biased, [b, kv, groups * tq, s]));
    if (dropProbs) probs = dropProbs(probs);
    return tf.reshape(matMul(probs, v), [b, h, tq, hd]); // [B, KV, G*Tq, hd] -> [B, H, Tq, hd]
  });
}
