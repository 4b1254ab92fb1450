// Log-probabilities of given tokens under next-token logits, and packing of prompt/response pairs into padded tensors.
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import { nativeTokenLogProbs } from './native/index.js';

export class LogProbError extends Error {
  override name = 'LogProbError';
}

/**
 * log softmax(logits)[target] per position: logits [B, T, V], targets int32 [B, T] -> [B, T].
 * Forward: log p_t = x_t - max(x) + log(max softmax(x)), because max softmax(x) = 1 / sum exp(x - max(x)); this uses the
 * wasm Softmax kernel (about 3x faster than Exp over [N, V]) and max softmax >= 1/V never underflows.
 * The target logit x_t is read with a gather on the flattened logits; the gradient is hand-written,
 * d log p_t / dx = onehot(t) - softmax(x), so no gather gradient (UnsortedSegmentSum, missing on wasm) is ever taken.
 */
export function tokenLogProbs(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D {
  const [b, t, v] = logits.shape;
  if (targets.shape[0] !== b || targets.shape[1] !== t) {
    throw new LogProbError(`targets must be [${b}, ${t}] to match logits [${logits.shape}]; got [${targets.shape}]`);
  }
  if (targets.dtype !== 'int32') throw new LogProbError(`targets must be int32; got ${targets.dtype}`);
  return tf.tidy(() => {
    const n = b * t;
    const flatTargets = tf.reshape(targets, [n]); // [N]
    // One native pass per row each way when the fused kernels are enabled.
    const fused = nativeTokenLogProbs(tf.reshape(logits, [n, v]), flatTargets as tf.Tensor1D);
    if (fused) return tf.reshape(fused, [b, t]) as tf.Tensor2D;
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x3, save] = args as [tf.Tensor3D, tf.GradSaveFunc];
      const x = tf.reshape(x3, [n, v]); // [N, V]
      const probs = tf.softmax(x); // [N, V]
      const flatIndex = tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(v, 'int32')), flatTargets); // [N]
      const xt = tf.gather(tf.reshape(x, [n * v]), flatIndex); // [N]
      const logp = tf.add(tf.sub(xt, tf.max(x, -1)), tf.log(tf.max(probs, -1))); // [N]
      save([probs, flatTargets]);
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => {
        const [sp, st] = saved as [tf.Tensor2D, tf.Tensor1D];
        // oneHot with dtype float32 returns all zeros on wasm 4.22: build it as int32, then cast.
        const onehot = tf.cast(tf.oneHot(st, v), 'float32'); // [N, V]
        const g = tf.mul(tf.sub(onehot, sp), tf.reshape(dy, [n, 1]));
        return tf.reshape(g, [b, t, v]);
      };
      return { value: tf.reshape(logp, [b, t]), gradFunc };
    });
    return f(logits) as tf.Tensor2D;
  });
}

/** sum over t of mask[b, t] * log p(targets[b, t]): logits [B, T, V], targets int32 [B, T], mask float [B, T] -> [B]. */
export function sequenceLogProbs(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D {
  if (mask.shape[0] !== targets.shape[0] || mask.shape[1] !== targets.shape[1]) {
    throw new LogProbError(`mask must be [${targets.shape}] like targets; got [${mask.shape}]`);
  }
  return tf.tidy(() => tf.sum(tf.mul(tokenLogProbs(logits, targets), mask), 1) as tf.Tensor1D);
}

export interface PackedSequences {
  /** int32 [B, L]: prompt + response, right-padded with padId. */
  input: tf.Tensor2D;
  /** int32 [B, L]: input shifted left by one (target[t] = input[t + 1]); padId past the end. */
  target: tf.Tensor2D;
  /** float32 [B, L]: 1 where target[t] is a response token. */
  mask: tf.Tensor2D;
  /** int32 [B]: index of the last real token of each row in input (the reward head reads it). */
  lastIndex: tf.Tensor1D;
}

/**
 * Packs (prompt, response) pairs for log-probabilities and reward scoring. Row b holds the sequence s = prompt + response
 * (at most contextLength tokens: the prompt is cut from the left first, then the response from the right), so input is s
 * itself and the logits at t predict target[t] = s[t + 1]; the last position has no target (mask 0). L is the longest
 * sequence in the batch.
 */
export function packSequences(prompts: number[][], responses: number[][], padId: number, contextLength: number): PackedSequences {
  if (prompts.length !== responses.length) {
    throw new LogProbError(`packSequences needs as many responses as prompts; got ${prompts.length} prompts, ${responses.length} responses`);
  }
  if (prompts.length === 0) throw new LogProbError('packSequences needs at least one sequence');
  if (!Number.isInteger(contextLength) || contextLength < 1) throw new LogProbError(`contextLength must be a positive integer; got ${contextLength}`);
  const rows = prompts.map((p, i) => {
    let r = responses[i]!;
    if (r.length > contextLength) r = r.slice(0, contextLength);
    const keep = contextLength - r.length;
    const kept = p.length > keep ? p.slice(p.length - keep) : p;
    return { seq: [...kept, ...r], promptLength: kept.length };
  });
  const b = rows.length;
  const l = Math.max(1, ...rows.map((r) => r.seq.length));
  const input = new Int32Array(b * l).fill(padId);
  const target = new Int32Array(b * l).fill(padId);
  const mask = new Float32Array(b * l);
  const lastIndex = new Int32Array(b);
  rows.forEach(({ seq, promptLength }, r) => {
    for (let t = 0; t < seq.length; t++) input[r * l + t] = seq[t]!;
    for (let t = 0; t + 1 < seq.length; t++) {
      target[r * l + t] = seq[t + 1]!;
      if (t + 1 >= promptLength) mask[r * l + t] = 1;
    }
    lastIndex[r] = Math.max(0, seq.length - 1);
  });
  return {
    input: tf.tensor2d(input, [b, l], 'int32'),
    target: tf.tensor2d(target, [b, l], 'int32'),
    mask: tf.tensor2d(mask, [b, l], 'float32'),
    lastIndex: tf.tensor1d(lastIndex, 'int32'),
  };
}
