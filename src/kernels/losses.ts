// Preference losses (DPO, IPO, hinge) for the learner and the pairwise / Bradley-Terry losses for reward models.
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import { PREFERENCE_LOSSES, type PreferenceLossKind } from './loss_kinds.js';

export class LossError extends Error {
  override name = 'LossError';
}


/** Per-pair sequence log-probabilities (sum over response tokens), each [B]. */
export interface PreferenceInputs {
  policyChosen: tf.Tensor1D;
  policyRejected: tf.Tensor1D;
  refChosen: tf.Tensor1D;
  refRejected: tf.Tensor1D;
  /** Temperature of the implicit reward r = beta * log(pi / pi_ref). */
  beta: number;
  /** Conservative-DPO probability that a label is flipped, in [0, 0.5); only DPO uses it. */
  labelSmoothing?: number;
  /** Per-pair weights [B] (e.g. down-weighting stale pairs); the loss is sum(w * l) / sum(w). */
  weights?: tf.Tensor1D;
}

export interface PreferenceOutput {
  /** Weighted mean loss over the batch. */
  loss: tf.Scalar;
  /** Implicit rewards beta * (pi_c - ref_c), [B]; for logging. */
  chosenRewards: tf.Tensor1D;
  /** beta * (pi_r - ref_r), [B]. */
  rejectedRewards: tf.Tensor1D;
}

function checkInputs(x: PreferenceInputs): void {
  if (!Number.isFinite(x.beta) || x.beta <= 0) throw new LossError(`beta must be a finite number > 0; got ${x.beta}`);
  const ls = x.labelSmoothing ?? 0;
  if (!Number.isFinite(ls) || ls < 0 || ls >= 0.5) throw new LossError(`labelSmoothing must be in [0, 0.5); got ${ls}`);
  const named: [string, tf.Tensor | undefined][] = [
    ['policyChosen', x.policyChosen],
    ['policyRejected', x.policyRejected],
    ['refChosen', x.refChosen],
    ['refRejected', x.refRejected],
    ['weights', x.weights],
  ];
  const b = x.policyChosen.shape[0];
  for (const [name, t] of named) {
    if (t === undefined) continue;
    if (t.rank !== 1 || t.shape[0] !== b) {
      throw new LossError(`${name} must have shape [${b}] like policyChosen; got [${t.shape.join(', ')}]`);
    }
  }
  if (b === 0) throw new LossError('preference batch is empty: policyChosen has shape [0]');
}

/** sum(w * l) / sum(w), or the plain mean without weights. */
function weightedMean(perPair: tf.Tensor1D, weights?: tf.Tensor1D): tf.Scalar {
  if (weights === undefined) return tf.mean(perPair);
  return tf.div(tf.sum(tf.mul(perPair, weights)), tf.sum(weights));
}

/**
 * Shared front half of every preference loss: the log-ratio margin
 * h = (log pi(y_c) - log ref(y_c)) - (log pi(y_r) - log ref(y_r)), [B], and the implicit rewards.
 */
function margin(x: PreferenceInputs): { h: tf.Tensor1D; chosenRewards: tf.Tensor1D; rejectedRewards: tf.Tensor1D } {
  const chosenRatio = tf.sub(x.policyChosen, x.refChosen); // [B]
  const rejectedRatio = tf.sub(x.policyRejected, x.refRejected); // [B]
  return {
    h: tf.sub(chosenRatio, rejectedRatio),
    chosenRewards: tf.mul(chosenRatio, x.beta),
    rejectedRewards: tf.mul(rejectedRatio, x.beta),
  };
}

/**
 * DPO, Rafailov et al. 2023 eq. 7: L = -log sigmoid(beta * h), written softplus(-beta * h) because the
 * tfjs 4.22 gradient of logSigmoid on intermediate tensors is wrong.
 * With label smoothing eps this is conservative DPO (cDPO, Mitchell 2023):
 * L = (1 - eps) * softplus(-beta * h) + eps * softplus(beta * h).
 */
export function dpoLoss(x: PreferenceInputs): PreferenceOutput {
  checkInputs(x);
  const eps = x.labelSmoothing ?? 0;
  return tf.tidy(() => {
    const { h, chosenRewards, rejectedRewards } = margin(x);
    const logits = tf.mul(h, x.beta); // [B]
    let perPair = tf.softplus(tf.neg(logits)) as tf.Tensor1D;
    if (eps > 0) perPair = tf.add(tf.mul(perPair, 1 - eps), tf.mul(tf.softplus(logits), eps));
    return { loss: weightedMean(perPair, x.weights), chosenRewards, rejectedRewards };
  });
}

/**
 * IPO, Azar et al. 2023 eq. 17: L = (h - 1/(2 * beta))^2, regressing the margin onto a fixed target
 * instead of pushing it to infinity. h here is over summed sequence log-probs, as the inputs are.
 */
export function ipoLoss(x: PreferenceInputs): PreferenceOutput {
  checkInputs(x);
  return tf.tidy(() => {
    const { h, chosenRewards, rejectedRewards } = margin(x);
    const perPair = tf.square(tf.sub(h, 1 / (2 * x.beta))) as tf.Tensor1D; // [B]
    return { loss: weightedMean(perPair, x.weights), chosenRewards, rejectedRewards };
  });
}

/** Hinge loss of SLiC (Zhao et al. 2023, the calibration loss with margin 1): L = relu(1 - beta * h). */
export function hingeLoss(x: PreferenceInputs): PreferenceOutput {
  checkInputs(x);
  return tf.tidy(() => {
    const { h, chosenRewards, rejectedRewards } = margin(x);
    const perPair = tf.relu(tf.sub(1, tf.mul(h, x.beta))) as tf.Tensor1D; // [B]
    return { loss: weightedMean(perPair, x.weights), chosenRewards, rejectedRewards };
  });
}

/** Picks a preference loss by its config name (learner.loss). */
export function preferenceLoss(kind: PreferenceLossKind, x: PreferenceInputs): PreferenceOutput {
  switch (kind) {
    case 'dpo':
      return dpoLoss(x);
    case 'ipo':
      return ipoLoss(x);
    case 'hinge':
      return hingeLoss(x);
    default:
      throw new LossError(`preference loss must be one of ${PREFERENCE_LOSSES.join(', ')}; got ${JSON.stringify(kind)}`);
  }
}

/**
 * Bradley-Terry reward-model loss (RLHF Workflow, sec. 2): mean of -log sigmoid(r_c - r_r),
 * computed as softplus(r_r - r_c). rChosen, rRejected: [B].
 */
export function bradleyTerryLoss(rChosen: tf.Tensor1D, rRejected: tf.Tensor1D): tf.Scalar {
  if (rChosen.rank !== 1 || rRejected.rank !== 1 || rChosen.shape[0] !== rRejected.shape[0] || rChosen.shape[0] === 0) {
    throw new LossError(`rChosen and rRejected must both have shape [B] with B > 0; got [${rChosen.shape}] and [${rRejected.shape}]`);
  }
  return tf.tidy(() => tf.mean(tf.softplus(tf.sub(rRejected, rChosen))));
}

/**
 * Pairwise preference-model loss: binary cross-entropy with logits, z = logit of P(A better) [B],
 * y = 1 if A is better else 0 [B]: mean of y * softplus(-z) + (1 - y) * softplus(z)
 * (= -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)), without the overflow of the log form).
 */
export function pairwisePreferenceLoss(logitAFirst: tf.Tensor1D, labelA: tf.Tensor1D): tf.Scalar {
  if (logitAFirst.rank !== 1 || labelA.rank !== 1 || logitAFirst.shape[0] !== labelA.shape[0] || labelA.shape[0] === 0) {
    throw new LossError(`logitAFirst and labelA must both have shape [B] with B > 0; got [${logitAFirst.shape}] and [${labelA.shape}]`);
  }
  return tf.tidy(() => {
    const y = tf.cast(labelA, 'float32');
    const aTerm = tf.mul(y, tf.softplus(tf.neg(logitAFirst)));
    const bTerm = tf.mul(tf.sub(1, y), tf.softplus(logitAFirst));
    return tf.mean(tf.add(aTerm, bTerm));
  });
}
