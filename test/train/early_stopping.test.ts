// Early stopping of the proxy models' training loop, and the pairwise model's validation split by prompt.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, initGpt } from '../../src/kernels/gpt.js';
import { trainBt } from '../../src/train/reward_model.js';
import { weightsRecord } from '../../src/train/model_io.js';
import { validationSplit } from '../../src/train/stages.js';
import { goldSentencePairs, tinyGpt } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

test('early stopping: training ends once the validation score has not risen for `patience` epochs, and the best epoch is kept', async () => {
  const { tokenizer, train } = await goldSentencePairs(80, 10);
  const model = initGpt(tinyGpt(tokenizer.vocabSize, 32), 6, 'scalar');
  const scripted = [0.5, 0.7, 0.6, 0.65, 0.9, 0.95];
  const snapshots: Float32Array[] = [];
  let calls = 0;
  const tensorsBefore = tf.memory().numTensors;
  const fit = await trainBt(model, train, tokenizer.special, {
    epochs: 6, batchSize: 16, lr: 3e-3, weightDecay: 0.01, gradClip: 1, seed: 2, label: 'bt-early', progress: false,
    afterEpoch: () => {
      snapshots.push(weightsRecord(model)['score.weight']!.data as Float32Array);
      return '';
    },
    early: { score: () => scripted[calls++]!, patience: 2 },
  });
  assert.equal(tf.memory().numTensors, tensorsBefore, 'training and the restore leak no tensors');
  // Best at epoch 2 (0.7); epochs 3 and 4 do not beat it, so epoch 4 is the last; epochs 5 and 6 never run.
  assert.deepEqual([fit.epochsRun, fit.bestEpoch, fit.validCurve], [4, 2, [0.5, 0.7, 0.6, 0.65]]);
  assert.equal(fit.steps, 4 * Math.ceil(train.length / 16));
  assert.deepEqual(weightsRecord(model)['score.weight']!.data, snapshots[1], 'the weights are those after epoch 2');
  assert.notDeepEqual(snapshots[3], snapshots[1]);
  disposeModel(model);
});

test('the pairwise model\'s validation split holds whole prompts, apart from the pairs it fits', () => {
  const pair = (promptId: string, i: number) => ({ promptId, prompt: promptId, promptTokens: [], chosen: { text: `c${i}`, tokens: [], gold: 1, finished: true }, rejected: { text: `r${i}`, tokens: [], gold: 0, finished: true }, agreesWithGold: true });
  const pairs = Array.from({ length: 40 }, (_, i) => pair(`p${i % 20}`, i));
  const { fit, valid } = validationSplit(pairs, 0.2, 3);
  assert.equal(fit.length + valid.length, 40);
  assert.equal(new Set(valid.map((p) => p.promptId)).size, 4);
  const fitIds = new Set(fit.map((p) => p.promptId));
  assert.ok(valid.every((p) => !fitIds.has(p.promptId)));
});
