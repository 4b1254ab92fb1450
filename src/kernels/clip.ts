// Gradient clipping by global norm (Pascanu et al. 2013), as torch.nn.utils.clip_grad_norm_ and tf.clip_by_global_norm.
import * as tf from '@tensorflow/tfjs-core';

/** sqrt(sum over every gradient of sum(g^2)), as a scalar tensor the caller owns. */
export function globalNormScalar(grads: Record<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const parts = Object.values(grads).map((g) => tf.sum(tf.square(g)));
    if (parts.length === 0) return tf.scalar(0);
    return tf.sqrt(parts.length === 1 ? parts[0]! : tf.addN(parts)) as tf.Scalar;
  });
}

/** The global L2 norm of all gradients, read back as a number. */
export function globalNorm(grads: Record<string, tf.Tensor>): number {
  const n = globalNormScalar(grads);
  const value = n.dataSync()[0]!;
  n.dispose();
  return value;
}

/**
 * Scales every gradient by maxNorm / max(norm, maxNorm), so the clipped global norm is exactly maxNorm when
 * it was larger. maxNorm 0 turns clipping off. Always returns new tensors the caller owns (unclipped
 * ones are cheap clones that share memory), so the caller disposes inputs and outputs alike.
 * A non-finite norm is passed through unscaled: clipping cannot repair it, and the caller must see it.
 */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; norm: number } {
  if (!Number.isFinite(maxNorm) || maxNorm < 0) throw new RangeError(`maxNorm must be a finite number >= 0 (0 disables clipping); got ${maxNorm}`);
  const norm = globalNorm(grads);
  const scale = maxNorm > 0 && Number.isFinite(norm) && norm > maxNorm ? maxNorm / norm : 1;
  const out: Record<string, tf.Tensor> = {};
  for (const [name, g] of Object.entries(grads)) out[name] = scale === 1 ? tf.clone(g) : tf.tidy(() => tf.mul(g, scale));
  return { grads: out, norm };
}
