// Pairwise preference model: input layout, both-order training examples, and position-bias-free scoring (P(A>B) + P(B>A) = 1).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { formatPairwise } from '../../src/data/template.js';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, initGpt, scalarScores } from '../../src/kernels/gpt.js';
import { bothOrders, pairwiseAccuracy, preferenceProbabilities } from '../../src/train/pairwise_model.js';
import { tensorsOf } from '../../src/train/model_io.js';
import { scoringBatch } from '../../src/train/batches.js';
import type { PreferencePair } from '../../src/train/preference_data.js';
import { tinyGpt, tinyTokenizer } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const side = (text: string, gold: number) => ({ text, tokens: [], gold, finished: true });

test('each pair trains in both orders with the label following the better response', async () => {
  const tok = await tinyTokenizer();
  const pair: PreferencePair = { promptId: 'p', prompt: 'Define ship.', promptTokens: [], chosen: side('A vessel.', 0.8), rejected: side('The the.', 0.1), agreesWithGold: true };
  const [ab, ba] = bothOrders(tok, pair);
  assert.deepEqual(ab.ids, formatPairwise(tok, 'Define ship.', 'A vessel.', 'The the.'));
  assert.deepEqual(ba.ids, formatPairwise(tok, 'Define ship.', 'The the.', 'A vessel.'));
  assert.equal(ab.aBetter, 1);
  assert.equal(ba.aBetter, 0);
  assert.equal(ab.ids[0], tok.special.context);
  assert.ok(ab.ids.includes(tok.special.responseA) && ab.ids.includes(tok.special.responseB));
});

test('both-order scoring is symmetric: P(A > B) + P(B > A) = 1, though a single order is not', async () => {
  const tok = await tinyTokenizer();
  // Random weights stand in for a position-biased model: a single ordered score is then far from symmetric.
  const model = initGpt(tinyGpt(tok.vocabSize, 64), 21, 'scalar');
  tf.tidy(() => model.params['score.weight']!.assign(tf.mul(model.params['score.weight']!, 50)));
  const items = [
    { prompt: 'Define whale.', a: 'A large sea mammal.', b: 'A fish with wings that sings.' },
    { prompt: 'Use harbour in a sentence.', a: 'The boats rested in the harbour.', b: 'Harbour.' },
    { prompt: 'The ship sailed', a: 'out at dawn.', b: 'away, away, away.' },
  ];
  const before = tf.memory().numTensors;
  const forward = preferenceProbabilities(model, tok, items);
  const backward = preferenceProbabilities(model, tok, items.map((c) => ({ prompt: c.prompt, a: c.b, b: c.a })));
  assert.equal(tf.memory().numTensors, before, 'scoring leaks no tensors');
  for (let i = 0; i < items.length; i++) {
    assert.ok(Math.abs(forward[i]! + backward[i]! - 1) < 1e-6, `pair ${i}: ${forward[i]} + ${backward[i]}`);
    assert.ok(forward[i]! > 0 && forward[i]! < 1);
  }
  // Single-order probabilities sigmoid(z(A, B)) and sigmoid(z(B, A)) of the same pair do not sum to 1.
  const seqs = items.flatMap((c) => [formatPairwise(tok, c.prompt, c.a, c.b), formatPairwise(tok, c.prompt, c.b, c.a)]);
  const z = tf.tidy(() => {
    const { input, lastIndex } = tensorsOf(scoringBatch(seqs, tok.special.pad, 64));
    return Array.from(scalarScores(model, input, lastIndex).dataSync());
  });
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const worst = Math.max(...items.map((_, i) => Math.abs(sig(z[2 * i]!) + sig(z[2 * i + 1]!) - 1)));
  assert.ok(worst > 0.01, `single-order sums deviate from 1 by at most ${worst}`);
  // Accuracy on a pair and its mirror image adds to 1 as well.
  const pair: PreferencePair = { promptId: 'p', prompt: items[0]!.prompt, promptTokens: [], chosen: side(items[0]!.a, 1), rejected: side(items[0]!.b, 0), agreesWithGold: true };
  const mirror: PreferencePair = { ...pair, chosen: pair.rejected, rejected: pair.chosen };
  assert.equal(pairwiseAccuracy(model, tok, [pair]) + pairwiseAccuracy(model, tok, [mirror]), 1);
  disposeModel(model);
});
