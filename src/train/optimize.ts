// One optimisation step (gradients, clipping, AdamW update), shared by SFT, reward-model training and the DPO learner.
import * as tf from '@tensorflow/tfjs-core';
import '../kernels/gradients.js';
import type { AdamW } from '../kernels/adamw.js';
import { clipByGlobalNorm, globalNorm } from '../kernels/clip.js';

export class NonFiniteStepError extends Error {
  override name = 'NonFiniteStepError';
}

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  lr: number;
  /** The loss function's extras, read back as numbers. */
  extras: Record<string, number>;
}

export interface LossOutput {
  loss: tf.Scalar;
  /** Scalars to report alongside the loss (accuracy, reward margin, ...). */
  extras?: Record<string, tf.Scalar>;
}

/**
 * Computes the gradients of `lossFn` with respect to the trainable `vars`, clips them to global norm
 * `opts.clip` (0 = off), and applies one AdamW step at `opts.lr`. Every tensor it creates is disposed,
 * including the extras. A non-finite loss or gradient norm throws NonFiniteStepError before any weight
 * or optimizer state changes, so one bad batch cannot poison the model.
 */
export function optimizeStep(
  vars: Record<string, tf.Variable>,
  lossFn: () => LossOutput,
  opt: AdamW,
  opts: { lr: number; clip: number },
): StepResult {
  return optimizeStepAccumulated(vars, [lossFn], opt, opts);
}

/**
 * optimizeStep over micro-batches: each part's forward and backward run on their own (so peak activation memory is one
 * part's), and their gradients, losses and extras are summed. Each part returns its share of the batch loss (e.g. a
 * weighted mean scaled by the part's share of the weights), so the sum is the loss of the whole batch.
 */
export function optimizeStepAccumulated(
  vars: Record<string, tf.Variable>,
  parts: (() => LossOutput)[],
  opt: AdamW,
  opts: { lr: number; clip: number },
): StepResult {
  if (parts.length === 0) throw new RangeError('an optimisation step needs at least one loss part');
  const keyOf = new Map<string, string>(); // tfjs variable name -> our key
  for (const [key, v] of Object.entries(vars)) {
    if (keyOf.has(v.name)) throw new RangeError(`variable ${JSON.stringify(key)} appears twice in vars (also as ${JSON.stringify(keyOf.get(v.name))})`);
    keyOf.set(v.name, key);
  }
  const trainable = Object.values(vars).filter((v) => v.trainable);
  const grads: Record<string, tf.Tensor> = {};
  const sums: Record<string, { shape: number[]; data: Float32Array }> = {};
  let loss = 0;
  const extraValues: Record<string, number> = {};
  let clipped: Record<string, tf.Tensor> | undefined;
  try {
    for (const lossFn of parts) {
      let extras: Record<string, tf.Scalar> = {};
      const { value, grads: byTfName } = tf.variableGrads(() => {
        const out = lossFn();
        // The forward pass runs in its own memory scope: keep the extras past it, dispose them below.
        extras = out.extras ?? {};
        for (const t of Object.values(extras)) tf.keep(t);
        return out.loss;
      }, trainable);
      try {
        loss += value.dataSync()[0]!;
        for (const [name, t] of Object.entries(extras)) extraValues[name] = (extraValues[name] ?? 0) + t.dataSync()[0]!;
      } finally {
        value.dispose();
        tf.dispose(Object.values(extras));
      }
      for (const [tfName, g] of Object.entries(byTfName)) {
        if (g == null) continue;
        const key = keyOf.get(tfName)!;
        if (parts.length === 1) {
          grads[key] = g;
          continue;
        }
        // Parts are summed outside the tensor heap, so the heap never holds two full sets of gradients (a 100M+ model
        // on the 4 GiB wasm heap would not fit).
        const data = g.dataSync() as Float32Array;
        const acc = sums[key];
        if (acc === undefined) sums[key] = { shape: [...g.shape], data: Float32Array.from(data) };
        else for (let i = 0; i < data.length; i++) acc.data[i]! += data[i]!;
        g.dispose();
      }
    }
    for (const [key, { shape, data }] of Object.entries(sums)) grads[key] = tf.tensor(data, shape, 'float32');
    let gradNorm: number;
    if (opts.clip > 0) {
      const c = clipByGlobalNorm(grads, opts.clip);
      clipped = c.grads;
      gradNorm = c.norm;
    } else {
      gradNorm = globalNorm(grads);
    }
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      throw new NonFiniteStepError(`optimisation step ${opt.stepCount + 1} has loss ${loss} and gradient norm ${gradNorm}; the update was not applied`);
    }
    opt.step(vars, clipped ?? grads, opts.lr);
    return { loss, gradNorm, lr: opts.lr, extras: extraValues };
  } finally {
    tf.dispose(Object.values(grads));
    if (clipped) tf.dispose(Object.values(clipped));
  }
}
