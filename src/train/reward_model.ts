// Bradley-Terry reward model (scalar head on the last token, initialised from SFT) and the training loop both proxy models share.
import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../kernels/adamw.js';
import { scalarScores, setWeights, type GptModel } from '../kernels/gpt.js';
import { bradleyTerryLoss } from '../kernels/losses.js';
import { deriveSeed, Rng } from '../kernels/rng.js';
import { cosineWithWarmup } from '../kernels/schedule.js';
import type { Config } from '../config/index.js';
import { fitLength, scoringBatch, shuffledBatches } from './batches.js';
import { tensorsOf, weightsRecord, type TrainLog } from './model_io.js';
import { optimizeStep, type LossOutput } from './optimize.js';
import type { PreferencePair } from './preference_data.js';
import { ProgressBar, yieldToEvents } from './progress.js';

/** How the BT model's input is laid out (written to config.json so a loader builds the same sequence). */
export const BT_INPUT = 'promptTokens (formatPrompt: bos prompt x response) + response tokens + eos; score at the eos';

/** The BT model's input: the formatted prompt, the response without eos, then eos (where the score is read). */
export function btSequence(promptTokens: readonly number[], responseTokens: readonly number[], eosId: number): number[] {
  const body = responseTokens.at(-1) === eosId ? responseTokens.slice(0, -1) : responseTokens;
  return [...promptTokens, ...body, eosId];
}

/** Rows scored per forward pass at inference. */
const SCORE_CHUNK = 64;

/** Scalar scores of sequences, in chunks, as numbers: [N]. */
export function scoreSequences(model: GptModel, seqs: readonly number[][], padId: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < seqs.length; i += SCORE_CHUNK) {
    const chunk = seqs.slice(i, i + SCORE_CHUNK);
    const b = scoringBatch(chunk, padId, fitLength(chunk.map((s) => s.length), model.cfg.contextLength));
    const scores = tf.tidy(() => {
      const { input, lastIndex } = tensorsOf(b);
      return scalarScores(model, input, lastIndex, { training: false }); // [B]
    });
    out.push(...(scores.dataSync() as Float32Array));
    scores.dispose();
  }
  return out;
}

/** r(x, y) for each response to one prompt: [K]. */
export function btScores(model: GptModel, promptTokens: readonly number[], responses: readonly number[][], special: { eos: number; pad: number }): number[] {
  return scoreSequences(model, responses.map((r) => btSequence(promptTokens, r, special.eos)), special.pad);
}

/** Bradley-Terry loss on a batch of pairs: chosen and rejected go through one forward pass [2B, T]. */
export function btLoss(model: GptModel, pairs: readonly PreferencePair[], special: { eos: number; pad: number }, seed: number): LossOutput {
  const seqs = [
    ...pairs.map((p) => btSequence(p.promptTokens, p.chosen.tokens, special.eos)),
    ...pairs.map((p) => btSequence(p.promptTokens, p.rejected.tokens, special.eos)),
  ];
  const b = scoringBatch(seqs, special.pad, fitLength(seqs.map((s) => s.length), model.cfg.contextLength));
  const { input, lastIndex } = tensorsOf(b);
  const r = scalarScores(model, input, lastIndex, { training: true, seed }); // [2B]
  const n = pairs.length;
  const rc = tf.slice(r, [0], [n]) as tf.Tensor1D;
  const rr = tf.slice(r, [n], [n]) as tf.Tensor1D;
  const accuracy = tf.mean(tf.cast(tf.greater(rc, rr), 'float32')) as tf.Scalar;
  return { loss: bradleyTerryLoss(rc, rr), extras: { accuracy } };
}

/** Share of pairs where the model scores chosen above rejected (ties count half). */
export function btAccuracy(model: GptModel, pairs: readonly PreferencePair[], special: { eos: number; pad: number }): number {
  if (pairs.length === 0) return NaN;
  const rc = scoreSequences(model, pairs.map((p) => btSequence(p.promptTokens, p.chosen.tokens, special.eos)), special.pad);
  const rr = scoreSequences(model, pairs.map((p) => btSequence(p.promptTokens, p.rejected.tokens, special.eos)), special.pad);
  return rc.reduce((s, c, i) => s + (c > rr[i]! ? 1 : c === rr[i]! ? 0.5 : 0), 0) / pairs.length;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  gradClip: number;
  seed: number;
  label: string;
  log?: TrainLog;
  progress?: boolean;
  signal?: AbortSignal;
  /** Called after each epoch (e.g. held-out accuracy); its line is logged. */
  afterEpoch?: (epoch: number) => string;
  /**
   * Early stopping: after each epoch `score()` (accuracy on a validation split) is taken; training ends once it has
   * not risen for `patience` epochs (or after `epochs`), and the weights of the best epoch are restored.
   */
  early?: { score: () => number; patience: number };
}

export class RewardTrainingError extends Error {
  override name = 'RewardTrainingError';
}

export interface FitResult {
  steps: number;
  msPerStep: number;
  /** Mean training loss and batch accuracy over the last epoch. */
  trainLoss: number;
  trainAccuracy: number;
  /** With early stopping: epochs run, the validation score after each, and the epoch (1-based) whose weights were kept. */
  epochsRun?: number;
  validCurve?: number[];
  bestEpoch?: number;
}

/**
 * The loop both proxy models share: shuffled mini-batches of examples, AdamW, cosine schedule with a
 * 10% warm-up (the paper: cosine, 1 epoch), gradient clipping. `loss` builds the batch's loss inside the
 * gradient scope.
 */
export async function fitScalarModel<E>(model: GptModel, examples: readonly E[], loss: (batch: E[], seed: number) => LossOutput, o: FitOptions): Promise<FitResult> {
  if (examples.length === 0) throw new RewardTrainingError(`${o.label}: no training examples (the preference data holds no train pairs)`);
  const stepsPerEpoch = Math.ceil(examples.length / o.batchSize);
  const total = stepsPerEpoch * o.epochs;
  const warmup = Math.ceil(total / 10);
  const opt = new AdamW({ lr: o.lr, weightDecay: o.weightDecay });
  const rng = new Rng(deriveSeed(o.seed, o.label, 'batches'));
  const bar = o.progress === false ? undefined : new ProgressBar(o.label, total);
  const started = performance.now();
  let step = 0;
  let lossSum = 0;
  let accSum = 0;
  let seen = 0;
  let stepsRun = 0;
  const curve: number[] = [];
  let best: { epoch: number; score: number; weights: ReturnType<typeof weightsRecord> } | undefined;
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      lossSum = 0;
      accSum = 0;
      seen = 0;
      for (const idx of shuffledBatches(examples.length, o.batchSize, rng)) {
        await yieldToEvents();
        if (o.signal?.aborted) throw new RewardTrainingError(`${o.label}: training was stopped before it finished; no checkpoint was written`);
        const lr = cosineWithWarmup(step, { peakLr: o.lr, warmupSteps: warmup, totalSteps: total, minLrRatio: 0.1 });
        const batch = idx.map((i) => examples[i]!);
        const r = optimizeStep(model.params, () => loss(batch, deriveSeed(o.seed, o.label, 'dropout', step)), opt, { lr, clip: o.gradClip });
        lossSum += r.loss * batch.length;
        accSum += (r.extras.accuracy ?? NaN) * batch.length;
        seen += batch.length;
        step += 1;
        bar?.tick(1, `epoch ${epoch + 1}/${o.epochs} loss ${(lossSum / seen).toFixed(3)} acc ${(accSum / seen).toFixed(3)}`);
      }
      stepsRun = step;
      if (o.afterEpoch) {
        const line = o.afterEpoch(epoch);
        if (bar) bar.log(line);
        else o.log?.(line);
      }
      if (o.early) {
        const score = o.early.score();
        curve.push(score);
        if (!best || score > best.score) best = { epoch, score, weights: weightsRecord(model) };
        else if (epoch - best.epoch >= o.early.patience) break;
      }
    }
  } finally {
    bar?.close();
    opt.dispose();
  }
  if (best && best.epoch !== curve.length - 1) setWeights(model, best.weights as Parameters<typeof setWeights>[1]);
  const fit: FitResult = { steps: stepsRun, msPerStep: (performance.now() - started) / Math.max(1, stepsRun), trainLoss: lossSum / seen, trainAccuracy: accSum / seen };
  if (best) Object.assign(fit, { epochsRun: curve.length, validCurve: curve, bestEpoch: best.epoch + 1 });
  return fit;
}

/** The FitOptions a config gives. */
export function fitOptionsOf(cfg: Config, label: string, extra: Partial<FitOptions> = {}): FitOptions {
  return {
    epochs: cfg.rm.epochs,
    batchSize: cfg.rm.batchSize,
    lr: cfg.rm.lr,
    weightDecay: cfg.sft.weightDecay,
    gradClip: cfg.sft.gradClip,
    seed: deriveSeed(cfg.compute.seed, label),
    label,
    ...extra,
  };
}

/** Trains a scalar-head model as a Bradley-Terry reward model on the pairs. */
export function trainBt(model: GptModel, pairs: readonly PreferencePair[], special: { eos: number; pad: number }, o: FitOptions): Promise<FitResult> {
  return fitScalarModel(model, pairs, (batch, seed) => btLoss(model, batch, special, seed), o);
}
