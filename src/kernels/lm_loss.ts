// Language-modelling loss: mean next-token cross-entropy over the positions a mask selects.
import * as tf from '@tensorflow/tfjs-core';
import { tokenLogProbs } from './logprobs.js';

/**
 * -sum(mask * log p(targets)) / max(sum(mask), 1): logits [B, T, V], targets int32 [B, T], mask float [B, T] -> scalar.
 * An all-zero mask gives 0 rather than NaN.
 */
export function lmLoss(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logp = tokenLogProbs(logits, targets); // [B, T]
    const total = tf.sum(tf.mul(logp, mask));
    return tf.div(tf.neg(total), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}
