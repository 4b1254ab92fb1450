// Batched sampling: seeded determinism, eos and length limits, greedy = argmax of the full forward, logprob bookkeeping.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, forwardLogits, initGpt, type GptConfig, type GptModel } from '../../src/kernels/gpt.js';
import { packSequences, sequenceLogProbs } from '../../src/kernels/logprobs.js';
import { Rng } from '../../src/kernels/rng.js';
import { generate, sampleFromLogits, sampleWithLogProb, SamplingError, type SampleOptions } from '../../src/kernels/sampling.js';

before(async () => {
  await initBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

const CFG: GptConfig = { vocabSize: 64, contextLength: 16, layers: 2, dModel: 32, heads: 4, dropout: 0, positional: 'learned' };
const OPTS: SampleOptions = { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1, eosId: 63, padId: 0, seed: 5 };
const PROMPTS = [[3, 9, 12, 40, 2], [17, 5], [1, 2, 3, 4, 5, 6, 7]];

/** A model with sharper logits than the init, so greedy and sampled paths differ from run to run of the seed. */
function sharpModel(cfg: GptConfig, seed: number): GptModel {
  const m = initGpt(cfg, seed);
  tf.tidy(() => {
    for (const p of Object.values(m.params)) if (p.rank === 2) p.assign(tf.mul(p, 8));
  });
  return m;
}

function argmaxNext(m: GptModel, seq: number[]): number {
  return tf.tidy(() => {
    const logits = forwardLogits(m, tf.tensor2d([seq], [1, seq.length], 'int32'));
    return tf.argMax(tf.reshape(tf.slice(logits, [0, seq.length - 1, 0], [1, 1, m.cfg.vocabSize]), [-1])).dataSync()[0]!;
  });
}

test('the same seed gives the same samples, another seed other samples, and nothing leaks', () => {
  const m = sharpModel(CFG, 1);
  const before = tf.memory().numTensors;
  const a = generate(m, PROMPTS, OPTS);
  const b = generate(m, PROMPTS, OPTS);
  const c = generate(m, PROMPTS, { ...OPTS, seed: 6 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.tokens, c.tokens);
  assert.equal(tf.memory().numTensors, before);
  for (const row of a.tokens) assert.ok(row.length <= OPTS.maxNewTokens && row.length > 0);
  disposeModel(m);
});

for (const positional of ['learned', 'rotary'] as const) {
  test(`temperature 0 and top-k 1 are greedy: each token is the argmax of a full forward (${positional})`, () => {
    const m = sharpModel({ ...CFG, positional }, 2);
    const greedy = generate(m, PROMPTS, { ...OPTS, temperature: 0, eosId: -1 });
    PROMPTS.forEach((p, r) => {
      const seq = [...p];
      for (const id of greedy.tokens[r]!) {
        assert.equal(id, argmaxNext(m, seq));
        seq.push(id);
      }
      assert.equal(greedy.tokens[r]!.length, OPTS.maxNewTokens);
      assert.equal(greedy.finished[r], false);
    });
    const topOne = generate(m, PROMPTS, { ...OPTS, topK: 1, eosId: -1, seed: 99 });
    assert.deepEqual(topOne.tokens, greedy.tokens);
    disposeModel(m);
  });
}

test('a row stops at eos (eos included) while the others go on to maxNewTokens', () => {
  const m = sharpModel(CFG, 3);
  const greedy = generate(m, PROMPTS, { ...OPTS, temperature: 0, eosId: -1 });
  // Make the second greedy token of row 0 the eos id: row 0 must stop at its first occurrence.
  const eos = greedy.tokens[0]![1]!;
  const r = generate(m, PROMPTS, { ...OPTS, temperature: 0, eosId: eos });
  assert.equal(r.finished[0], true);
  assert.equal(r.tokens[0]!.at(-1), eos);
  assert.ok(r.finished.some((f) => !f), 'with this seed some row never meets eos');
  PROMPTS.forEach((_, i) => {
    const cut = greedy.tokens[i]!.indexOf(eos);
    assert.deepEqual(r.tokens[i], cut < 0 ? greedy.tokens[i] : greedy.tokens[i]!.slice(0, cut + 1));
    assert.equal(r.finished[i], cut >= 0);
  });
  disposeModel(m);
});

test('returned logprobs equal sequenceLogProbs of the packed prompt + response under a full forward', () => {
  const m = sharpModel({ ...CFG, positional: 'rotary' }, 4);
  const r = generate(m, PROMPTS, { ...OPTS, temperature: 0.7, topP: 0.9 });
  const lp = tf.tidy(() => {
    const p = packSequences(PROMPTS, r.tokens, 0, CFG.contextLength);
    return Array.from(sequenceLogProbs(forwardLogits(m, p.input), p.target, p.mask).dataSync());
  });
  r.logprobs.forEach((x, i) => assert.ok(Math.abs(x - lp[i]!) < 1e-3, `row ${i}: ${x} vs ${lp[i]}`));
  disposeModel(m);
});

test('long prompts are cut from the left so prompt + response fits contextLength', () => {
  const m = sharpModel(CFG, 5);
  const long = Array.from({ length: 30 }, (_, i) => (i * 7) % 60);
  const r = generate(m, [long], { ...OPTS, temperature: 0, eosId: -1, maxNewTokens: 6 });
  const ref = generate(m, [long.slice(-10)], { ...OPTS, temperature: 0, eosId: -1, maxNewTokens: 6 });
  assert.deepEqual(r.tokens, ref.tokens);
  assert.throws(() => generate(m, [[1]], { ...OPTS, maxNewTokens: 16 }), SamplingError);
  assert.throws(() => generate(m, [[]], OPTS), /prompt 0 is empty/);
  assert.throws(() => generate(m, [[64]], OPTS), /token id 64/);
  disposeModel(m);
});

test('sampleFromLogits: top-k keeps the k best, top-p the smallest nucleus, frequencies follow softmax', () => {
  const row = new Float32Array([0, Math.log(2), Math.log(3), Math.log(4)]); // probabilities 0.1 .. 0.4
  const rng = new Rng(1);
  const counts = [0, 0, 0, 0];
  const n = 20000;
  for (let i = 0; i < n; i++) counts[sampleFromLogits(row, 1, 0, 1, rng)]!++;
  counts.forEach((c, i) => assert.ok(Math.abs(c / n - (i + 1) / 10) < 0.015, `token ${i}: ${c / n}`));
  for (let i = 0; i < 200; i++) assert.ok(sampleFromLogits(row, 1, 2, 1, rng) >= 2);
  // Nucleus 0.6: {3 (0.4), 2 (0.3)} reaches 0.7 >= 0.6, so only 3 and 2 can be drawn.
  for (let i = 0; i < 200; i++) assert.ok(sampleFromLogits(row, 1, 0, 0.6, rng) >= 2);
  assert.equal(sampleFromLogits(row, 0, 0, 1, rng), 3);
});

test('sampleWithLogProb draws what sampleFromLogits draws and returns the exact log-probability', () => {
  const rowRng = new Rng(3);
  for (let trial = 0; trial < 20; trial++) {
    const row = Float32Array.from({ length: 97 }, () => rowRng.normal() * 3);
    let m = -Infinity;
    for (const x of row) m = Math.max(m, x);
    const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    for (const [t, k, p] of [[1, 0, 1], [0.7, 0, 1], [1, 5, 1], [1, 0, 0.9]] as const) {
      const a = new Rng(100 + trial);
      const b = new Rng(100 + trial);
      const got = sampleWithLogProb(row, t, k, p, a);
      assert.equal(got.id, sampleFromLogits(row, t, k, p, b));
      assert.ok(Math.abs(got.logprob - (row[got.id]! - lse)) < 1e-6, `t=${t} k=${k} p=${p}`);
    }
  }
});
