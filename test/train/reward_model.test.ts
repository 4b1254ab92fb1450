// Bradley-Terry reward model: trained on gold-labelled pairs of real sentences, it ranks unseen pairs better than chance.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, initGpt } from '../../src/kernels/gpt.js';
import { btAccuracy, btScores, btSequence, trainBt } from '../../src/train/reward_model.js';
import { goldSentencePairs, tinyGpt } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

test('the BT input is prompt + response + one eos, whether or not the response carries eos', () => {
  assert.deepEqual(btSequence([1, 2], [5, 6], 9), [1, 2, 5, 6, 9]);
  assert.deepEqual(btSequence([1, 2], [5, 6, 9], 9), [1, 2, 5, 6, 9]);
});

test('a BT reward model trained on a few hundred gold-labelled pairs beats chance on held-out pairs', async () => {
  const { tokenizer, train, heldOut } = await goldSentencePairs(240, 100);
  assert.ok(train.length >= 200 && heldOut.length >= 80, `pairs ${train.length} / ${heldOut.length}`);
  // Held-out pairs use sentences the model never saw in training.
  const seen = new Set(train.flatMap((p) => [p.chosen.text, p.rejected.text]));
  assert.ok(heldOut.every((p) => !seen.has(p.chosen.text) && !seen.has(p.rejected.text)));
  const model = initGpt(tinyGpt(tokenizer.vocabSize, 48), 5, 'scalar');
  const special = tokenizer.special;
  const tensorsBefore = tf.memory().numTensors;
  const fit = await trainBt(model, train, special, { epochs: 3, batchSize: 16, lr: 3e-3, weightDecay: 0.01, gradClip: 1, seed: 1, label: 'bt-test', progress: false });
  assert.equal(tf.memory().numTensors, tensorsBefore, 'training leaks no tensors');
  const acc = btAccuracy(model, heldOut, special);
  assert.ok(fit.trainAccuracy > 0.7, `train accuracy ${fit.trainAccuracy}`);
  // Chance is 0.5; the model must have learnt which words the gold judge likes, not memorised sentences.
  assert.ok(acc > 0.6, `held-out accuracy ${acc}`);
  const scores = btScores(model, heldOut[0]!.promptTokens, [heldOut[0]!.chosen.tokens, heldOut[0]!.rejected.tokens], special);
  assert.equal(scores.length, 2);
  assert.ok(scores.every(Number.isFinite));
  disposeModel(model);
});
