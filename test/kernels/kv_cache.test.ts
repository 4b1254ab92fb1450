// Incremental decoding with a KV cache gives the logits of a full forward, for left-padded batches of different lengths.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import { disposeCache, forwardCached } from '../../src/kernels/kv_cache.js';
import { assertDecodeMatchesFull, fullLast, maxAbsDiff } from './decode_parity.js';

before(async () => {
  await initBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

const CFG: GptConfig = { vocabSize: 64, contextLength: 16, layers: 2, dModel: 32, heads: 4, dropout: 0, positional: 'learned' };

for (const positional of ['learned', 'rotary'] as const) {
  test(`prefill + decode steps equal the full forward (${positional}, prompts of lengths 5, 2, 7)`, () => {
    const m = initGpt({ ...CFG, positional }, 21);
    // Larger weights than the init make the comparison meaningful (init logits are nearly flat).
    tf.tidy(() => {
      for (const p of Object.values(m.params)) if (p.rank === 2) p.assign(tf.mul(p, 10));
    });
    const startTensors = tf.memory().numTensors;
    const prompts = [[3, 9, 12, 40, 2], [17, 5], [1, 2, 3, 4, 5, 6, 7]];
    const width = 7;
    const cache = assertDecodeMatchesFull(m, prompts, width, 1e-4);
    assert.deepEqual(cache.nextPosition, prompts.map((p) => p.length + 3));
    disposeCache(cache);
    assert.equal(tf.memory().numTensors, startTensors, 'the cache and logits are all disposed');
    disposeModel(m);
  });
}

test('a row marked invalid in a step is skipped: it keeps its position and its later logits stay exact', () => {
  const m = initGpt({ ...CFG, positional: 'rotary' }, 22);
  tf.tidy(() => {
    for (const p of Object.values(m.params)) if (p.rank === 2) p.assign(tf.mul(p, 10));
  });
  let step = forwardCached(m, null, [[4, 5], [6, 7]]);
  let prev = step.cache;
  step.logits.dispose();
  step = forwardCached(m, prev, [[8], [0]], [[1], [0]]); // row 1 pauses (e.g. it finished)
  disposeCache(prev);
  assert.deepEqual(step.cache.nextPosition, [3, 2]);
  prev = step.cache;
  step.logits.dispose();
  step = forwardCached(m, prev, [[9], [10]]);
  disposeCache(prev);
  const got = step.logits.dataSync();
  assert.ok(maxAbsDiff(got.subarray(0, 64), fullLast(m, [4, 5, 8, 9])) < 1e-4);
  assert.ok(maxAbsDiff(got.subarray(64, 128), fullLast(m, [6, 7, 10])) < 1e-4);
  step.logits.dispose();
  disposeCache(step.cache);
  disposeModel(m);
});

test('the cache refuses to grow past contextLength', () => {
  const m = initGpt({ ...CFG, contextLength: 8 }, 23);
  const step = forwardCached(m, null, [[1, 2, 3, 4, 5, 6, 7, 8]]);
  assert.throws(() => forwardCached(m, step.cache, [[9]]), /contextLength is 8/);
  step.logits.dispose();
  disposeCache(step.cache);
  disposeModel(m);
});
