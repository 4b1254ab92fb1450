// Pairwise preference model (RLHF Workflow sec. 2.2): reads `<|context|> x <|response_a|> a <|response_b|> b` and outputs
// the logit of P(A is better) from a scalar head; trained on both orders of every pair, scored on both orders at inference.
import * as tf from '@tensorflow/tfjs-core';
import { formatPairwise } from '../data/template.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import { scalarScores, type GptModel } from '../kernels/gpt.js';
import { pairwisePreferenceLoss } from '../kernels/losses.js';
import { fitLength, scoringBatch } from './batches.js';
import { tensorsOf } from './model_io.js';
import type { LossOutput } from './optimize.js';
import type { PreferencePair } from './preference_data.js';
import { fitScalarModel, scoreSequences, type FitOptions, type FitResult } from './reward_model.js';

export const PAIRWISE_INPUT = 'formatPairwise: <|context|> x <|response_a|> a <|response_b|> b; logit of P(A better) at the last token';

/** One ordered comparison: the model input and whether A is the better response. */
export interface PairwiseExample {
  ids: number[];
  aBetter: 0 | 1;
}

/** Both orders of a labelled pair: (chosen, rejected) with label 1 and (rejected, chosen) with label 0, so position carries no signal. */
export function bothOrders(tok: TextTokenizer, p: PreferencePair): [PairwiseExample, PairwiseExample] {
  return [
    { ids: formatPairwise(tok, p.prompt, p.chosen.text, p.rejected.text), aBetter: 1 },
    { ids: formatPairwise(tok, p.prompt, p.rejected.text, p.chosen.text), aBetter: 0 },
  ];
}

export function pairwiseLoss(model: GptModel, batch: readonly PairwiseExample[], padId: number, seed: number): LossOutput {
  const b = scoringBatch(batch.map((e) => e.ids), padId, fitLength(batch.map((e) => e.ids.length), model.cfg.contextLength));
  const { input, lastIndex } = tensorsOf(b);
  const z = scalarScores(model, input, lastIndex, { training: true, seed }); // [B]
  const y = tf.tensor1d(batch.map((e) => e.aBetter), 'float32');
  const accuracy = tf.mean(tf.cast(tf.equal(tf.cast(tf.greater(z, 0), 'float32'), y), 'float32')) as tf.Scalar;
  return { loss: pairwisePreferenceLoss(z, y), extras: { accuracy } };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export interface Comparison {
  prompt: string;
  a: string;
  b: string;
}

/**
 * P(A better than B) with position bias cancelled: (sigmoid(z(A, B)) + 1 - sigmoid(z(B, A))) / 2.
 * Swapping A and B gives exactly 1 minus the value, whatever the weights.
 */
export function preferenceProbabilities(model: GptModel, tok: TextTokenizer, items: readonly Comparison[]): number[] {
  const seqs = [
    ...items.map((c) => formatPairwise(tok, c.prompt, c.a, c.b)),
    ...items.map((c) => formatPairwise(tok, c.prompt, c.b, c.a)),
  ];
  const z = scoreSequences(model, seqs, tok.special.pad);
  const n = items.length;
  return items.map((_, i) => (sigmoid(z[i]!) + 1 - sigmoid(z[n + i]!)) / 2);
}

/** Share of pairs where the both-order probability that chosen beats rejected exceeds 1/2 (exactly 1/2 counts half). */
export function pairwiseAccuracy(model: GptModel, tok: TextTokenizer, pairs: readonly PreferencePair[]): number {
  if (pairs.length === 0) return NaN;
  const p = preferenceProbabilities(model, tok, pairs.map((x) => ({ prompt: x.prompt, a: x.chosen.text, b: x.rejected.text })));
  return p.reduce((s, v) => s + (v > 0.5 ? 1 : v === 0.5 ? 0.5 : 0), 0) / pairs.length;
}

/** Trains a scalar-head model as the pairwise preference model on both orders of every pair. */
export function trainPairwise(model: GptModel, tok: TextTokenizer, pairs: readonly PreferencePair[], o: FitOptions): Promise<FitResult> {
  const examples = pairs.flatMap((p) => bothOrders(tok, p));
  // Two ordered examples per pair: twice the rows per step keeps the pairs per step equal to the BT model's.
  return fitScalarModel(model, examples, (batch, seed) => pairwiseLoss(model, batch, tok.special.pad, seed), { ...o, batchSize: o.batchSize * 2 });
}
