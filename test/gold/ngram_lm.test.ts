// The Kneser-Ney model: a proper distribution in every context, and the word model's tokens and scores.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KneserNeyLm, NgramLmError } from '../../src/gold/ngram_lm.js';
import { lmTokens, WordLm } from '../../src/gold/word_lm.js';

const SEQS = [
  [0, 0, 3, 4, 5, 1],
  [0, 0, 3, 4, 6, 1],
  [0, 0, 3, 7, 5, 1],
  [0, 0, 6, 4, 5, 1],
  [0, 0, 3, 4, 5, 5, 1],
];

test('probabilities over the vocabulary sum to 1 in seen, partly seen and unseen contexts', () => {
  const vocab = 9;
  for (const order of [1, 2, 3, 4]) {
    const lm = KneserNeyLm.fit(SEQS, order, vocab);
    for (const ctx of [[0, 0], [0, 3], [3, 4], [8, 8], [4, 8], [7, 5]]) {
      let sum = 0;
      for (let w = 0; w < vocab; w++) sum += Math.exp(lm.logProb([...ctx, w], 2));
      assert.ok(Math.abs(sum - 1) < 1e-9, `order ${order}, context ${ctx}: sum ${sum}`);
    }
  }
});

test('seen continuations beat unseen ones, and a model survives its JSON form', () => {
  const lm = KneserNeyLm.fit(SEQS, 3, 9);
  assert.ok(lm.logProb([3, 4, 5], 2) > lm.logProb([3, 4, 7], 2));
  assert.ok(lm.logProb([3, 4, 5], 2) > lm.logProb([3, 4, 8], 2), 'a word never seen stays above zero but below seen ones');
  assert.ok(Number.isFinite(lm.logProb([3, 4, 8], 2)));
  const back = KneserNeyLm.fromJson(JSON.parse(JSON.stringify(lm.toJson())));
  for (const seq of [[3, 4, 5], [6, 4, 1], [8, 8, 8]]) assert.equal(back.logProb(seq, 2), lm.logProb(seq, 2));
  assert.throws(() => KneserNeyLm.fit(SEQS, 0, 9), NgramLmError);
});

test('word tokens: case kept but for the first word, numbers, punctuation and curly quotes', () => {
  assert.deepEqual(lmTokens('The U.S. paid 1,200 dollars — “twice”, didn’t it?'), ['the', 'U', '.', 'S', '.', 'paid', '<num>', 'dollars', '-', '"', 'twice', '"', ',', "didn't", 'it', '?']);
  assert.deepEqual(lmTokens('“Soon” he said', true), ['"', 'soon', '"', 'he', 'said']);
  assert.deepEqual(lmTokens('Soon he said', false), ['Soon', 'he', 'said'], 'a continuation keeps its first word as written');
});

test('SLOR prefers a sentence to the same words shuffled, and an ended sentence to one cut off', () => {
  const text = [
    'the cat sat on the mat .',
    'the dog sat on the rug .',
    'a cat lay on the mat .',
    'the dog ran to the door .',
    'a bird sat on the fence .',
    'the cat ran to the fence .',
  ];
  const lm = WordLm.fit([...text, ...text], { order: 3, minCount: 1 });
  const real = lm.score('Tell me.', 'The dog sat on the mat.');
  const shuffled = lm.score('Tell me.', 'mat the on dog the sat.');
  assert.ok(real.slor > 0 && real.slor > shuffled.slor + 1, `real ${real.slor}, shuffled ${shuffled.slor}`);
  assert.ok(lm.score('Tell me.', 'The dog sat on the').logProb < real.logProb, 'stopping mid-sentence costs the end token');
  assert.equal(lm.score('Tell me.', '').tokens, 0);
  // A continuation is conditioned on its opening.
  assert.ok(lm.score('The dog', 'sat on the mat.').logProb > lm.score('Tell me.', 'sat on the mat.').logProb);
  const back = WordLm.fromJson(JSON.parse(JSON.stringify(lm.toJson())));
  assert.deepEqual(back.score('Tell me.', 'The cat sat.'), lm.score('Tell me.', 'The cat sat.'));
});
