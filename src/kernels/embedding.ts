// Token embedding lookup whose gradient is a scatter-add: tf.gather's own gradient needs UnsortedSegmentSum, which wasm lacks.
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';

/**
 * tokens int32 [B, T], table [V, D] -> [B, T, D]. The forward is a gather (cheap); the gradient with respect to the table
 * is ScatterNd, which adds the rows of repeated tokens together (checked by the tests on wasm), so it costs O(B*T*D)
 * instead of the O(B*T*V*D) of a one-hot product. Token ids must lie in [0, V).
 */
export function embed(tokens: tf.Tensor2D, table: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, t] = tokens.shape;
    const [v, d] = table.shape;
    const flat = tf.reshape(tokens, [b * t]); // [N]
    const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [tbl, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
      // Saved (kept) so the ids outlive this tidy until the backward pass runs.
      save([flat]);
      const value = tf.gather(tbl, flat); // [N, D]
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
        tf.scatterND(tf.reshape(saved[0]!, [b * t, 1]), dy, [v, d]); // [V, D]
      return { value, gradFunc };
    });
    return tf.reshape(lookup(table), [b, t, d]);
  });
}
