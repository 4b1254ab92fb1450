// Bradley-Terry reward model: trained on gold-labelled pairs of real sentences, it ranks unseen pairs better than chance.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, initGpt } from '../../src/kernels/gpt.js';
import { btAccuracy, btScores, btSequence, trainBt } from '../../src/train/reward_model.js';
import { loadModel } from '../../src/train/model_io.js';
import { loadPreferenceData } from '../../src/train/preference_data.js';
import { ensureRewardModel, RM_KINDS } from '../../src/train/stages.js';
import { goldSentencePairs, tinyArtifacts, tinyConfig, tinyGpt } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

test('the BT input is prompt + response + one eos, whether or not the response carries eos', () => {
  assert.deepEqual(btSequence([1, 2], [5, 6], 9), [1, 2, 5, 6, 9]);
  assert.deepEqual(btSequence([1, 2], [5, 6, 9], 9), [1, 2, 5, 6, 9]);
});

test('a BT reward model trained on a few hundred gold-labelled pairs beats chance on held-out pairs', async () => {
  // 60 addresses give 280 distinct sentences of 5-14 words: 140 to train on, 140 held out (12 gave only 74).
  const { tokenizer, train, heldOut } = await goldSentencePairs(240, 100, 60);
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

test('the cached pipeline: SFT -> sampled pairs -> both proxy models, checkpoints the judge can load, reuse on a second call', async () => {
  const cfg = tinyConfig({
    sft: { pretrainSteps: 4, epochs: 1, batchSize: 8, instructionPairs: 6, continuationPairs: 0, instructionLength: 32, pretrainLength: 24 },
    rm: { prompts: 6, responsesPerPrompt: 3, heldOutFraction: 0.34, epochs: 1, batchSize: 4 },
    generator: { maxNewTokens: 6 },
  });
  const data = await tinyArtifacts();
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  for (const kind of RM_KINDS) {
    const r = await ensureRewardModel(cfg, kind, { data, log, progress: false });
    assert.equal(r.reused, false);
    const { model, config, tokenizer } = await loadModel(r.dir);
    assert.equal(config.kind, kind);
    assert.equal(config.head, 'scalar');
    assert.ok(tokenizer);
    const acc = r.summary.heldOutAccuracy as number;
    assert.ok(acc >= 0 && acc <= 1, `held-out accuracy ${acc}`);
    disposeModel(model);
  }
  const prefs = loadPreferenceData(join(cfg.run.cacheDir, 'prefs'));
  assert.ok(prefs.train.length > 0 && prefs.heldOut.length > 0);
  assert.ok([...prefs.train, ...prefs.heldOut].every((p) => p.chosen.gold > p.rejected.gold));
  const again = await ensureRewardModel(cfg, 'bt', { data, log, progress: false });
  assert.equal(again.reused, true);
  assert.ok(lines.some((l) => l.startsWith('sft: inputs unchanged')));
  assert.ok(lines.some((l) => l.startsWith('prefs: inputs unchanged')));
  assert.ok(lines.some((l) => l.startsWith('rm-bt: inputs unchanged')));
});
