// Continuous batching: the same responses as the one-batch sampler for the same seed, refills in order, no leaks.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { generateContinuous } from '../../src/kernels/continuous_sampling.js';
import { disposeModel, initGpt, type GptConfig, type GptModel } from '../../src/kernels/gpt.js';
import { disposeCache, forwardCached, gatherCacheRows } from '../../src/kernels/kv_cache.js';
import { generate, SamplingError, type SampleOptions } from '../../src/kernels/sampling.js';

before(async () => {
  await initBackend('wasm');
});

const CFG: GptConfig = { vocabSize: 64, contextLength: 24, layers: 2, dModel: 32, heads: 4, dropout: 0, positional: 'rotary' };
const PROMPTS = [[3, 9, 12, 40, 2], [17, 5], [1, 2, 3, 4, 5, 6, 7], [8], [30, 31, 32], [9, 9, 9, 9], [44, 2, 7], [5, 6]];

function sharpModel(cfg: GptConfig, seed: number): GptModel {
  const m = initGpt(cfg, seed);
  tf.tidy(() => {
    for (const p of Object.values(m.params)) if (p.rank === 2) p.assign(tf.mul(p, 8));
  });
  return m;
}

/** An eos id that greedy decoding meets early on some rows and never on others, so row lengths vary. */
function commonToken(m: GptModel, opts: SampleOptions): number {
  const r = generate(m, PROMPTS, { ...opts, eosId: -1 });
  const counts = new Map<number, number>();
  for (const row of r.tokens) for (const id of row.slice(0, 3)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
}

for (const positional of ['learned', 'rotary'] as const) {
  test(`every slot count gives the one-batch sampler's tokens, stops and logprobs (${positional})`, () => {
    const m = sharpModel({ ...CFG, positional }, 7);
    const base: SampleOptions = { maxNewTokens: 8, temperature: 1, topK: 0, topP: 1, eosId: -1, padId: 0, seed: 11 };
    const opts = { ...base, eosId: commonToken(m, base) };
    const ref = generate(m, PROMPTS, opts);
    assert.ok(ref.finished.some((f) => f) && ref.tokens.some((t) => t.length === opts.maxNewTokens), 'lengths vary with this eos');
    const before = tf.memory().numTensors;
    for (const slots of [1, 3, 8, 20]) {
      const order: number[] = [];
      const got = generateContinuous(m, PROMPTS, opts, { slots, onDone: (i, r) => {
        order.push(i);
        assert.equal(r.tokens.length, ref.tokens[i]!.length);
      } });
      assert.deepEqual(got.tokens, ref.tokens, `slots ${slots}`);
      assert.deepEqual(got.finished, ref.finished);
      got.logprobs.forEach((x, i) => assert.ok(Math.abs(x - ref.logprobs[i]!) < 1e-3, `slots ${slots} row ${i}: ${x} vs ${ref.logprobs[i]}`));
      assert.deepEqual([...order].sort((a, b) => a - b), PROMPTS.map((_, i) => i), 'each prompt is reported once');
      if (slots === 1) assert.deepEqual(order, PROMPTS.map((_, i) => i));
    }
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    disposeModel(m);
  });
}

test('with two slots a short response is reported before a long one that started earlier', () => {
  const m = sharpModel(CFG, 8);
  const base: SampleOptions = { maxNewTokens: 10, temperature: 0, topK: 0, topP: 1, eosId: -1, padId: 0, seed: 1 };
  const opts = { ...base, eosId: commonToken(m, base) };
  // Greedy responses do not depend on the row, so the longest can be put first: it must not hold up the queue.
  const lengths = generate(m, PROMPTS, opts).tokens.map((t) => t.length);
  const prompts = PROMPTS.map((p, i) => ({ p, n: lengths[i]! })).sort((a, b) => b.n - a.n).map((x) => x.p);
  const ref = generate(m, prompts, opts);
  const order: number[] = [];
  generateContinuous(m, prompts, opts, { slots: 2, onDone: (i) => order.push(i) });
  // Two slots, each producing one token per step, refilled in slot order the step a response ends.
  const expected: number[] = [];
  const slot = [0, 1];
  const made = [0, 0];
  for (let next = 2; expected.length < prompts.length; ) {
    for (let r = 0; r < 2; r++) {
      if (slot[r]! < 0) continue;
      if (++made[r]! === ref.tokens[slot[r]!]!.length) {
        expected.push(slot[r]!);
        slot[r] = next < prompts.length ? next++ : -1;
        made[r] = 0;
      }
    }
  }
  assert.deepEqual(order, expected);
  assert.notDeepEqual(expected, prompts.map((_, i) => i), `lengths ${lengths.join(',')} let a later prompt overtake an earlier one`);
  assert.throws(() => generateContinuous(m, PROMPTS, opts, { slots: 0 }), SamplingError);
  assert.deepEqual(generateContinuous(m, [], opts, { slots: 2 }), { tokens: [], finished: [], logprobs: [], tokenLogprobs: [] });
  disposeModel(m);
});

test('gatherCacheRows keeps each row valid columns only and its next-token logits', () => {
  const m = sharpModel(CFG, 9);
  const a = forwardCached(m, null, [[0, 0, 5, 6], [1, 2, 3, 4]], [[0, 0, 1, 1], [1, 1, 1, 1]]);
  const b = forwardCached(m, null, [[7, 8, 9]]);
  const g = gatherCacheRows([a.cache, b.cache], [{ source: 1, row: 0 }, null, { source: 0, row: 0 }]);
  assert.deepEqual(g.valid, [[1, 1, 1], [0, 0, 0], [1, 1, 0]]);
  assert.deepEqual(g.nextPosition, [3, 0, 2]);
  // Stored keys and values move exactly: row 2 holds row 0 of `a` without its two padding columns.
  const keysOf = (t: tf.Tensor4D, row: number, from: number, n: number): number[] =>
    Array.from(tf.tidy(() => tf.slice(t, [row, 0, 0, from], [1, -1, -1, n]).dataSync()));
  assert.deepEqual(keysOf(g.layers[1]!.kT, 2, 0, 2), keysOf(a.cache.layers[1]!.kT, 0, 2, 2));
  assert.deepEqual(keysOf(g.layers[0]!.kT, 0, 0, 3), keysOf(b.cache.layers[0]!.kT, 0, 0, 3));
  const valuesOf = (t: tf.Tensor4D, row: number, from: number, n: number): number[] =>
    Array.from(tf.tidy(() => tf.slice(t, [row, 0, from, 0], [1, -1, n, -1]).dataSync()));
  assert.deepEqual(valuesOf(g.layers[1]!.v, 2, 0, 2), valuesOf(a.cache.layers[1]!.v, 0, 2, 2));
  // Decoding one token on the gathered cache equals decoding it on the source caches.
  const viaGather = forwardCached(m, g, [[10], [0], [11]], [[1], [0], [1]]);
  const viaB = forwardCached(m, b.cache, [[10]]);
  const viaA = forwardCached(m, a.cache, [[11], [0]], [[1], [0]]);
  const got = viaGather.logits.arraySync();
  const want0 = viaB.logits.arraySync()[0]!;
  const want2 = viaA.logits.arraySync()[0]!;
  got[0]!.forEach((x, j) => assert.ok(Math.abs(x - want0[j]!) < 1e-4));
  got[2]!.forEach((x, j) => assert.ok(Math.abs(x - want2[j]!) < 1e-4));
  for (const s of [a, b, viaGather, viaB, viaA]) {
    s.logits.dispose();
    disposeCache(s.cache);
  }
  disposeCache(g);
  disposeModel(m);
});
