// A policy thread's base view: with LoRA versions the evaluator's thread also serves the reference (the base, adapter
// off), so a one-process run holds one model where it held two; full weights end the view with a clear refusal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { encodeAdapter } from '../../src/actors/compute/adapter_weights.js';
import { encodeWeights, LocalPolicy } from '../../src/actors/compute/local_policy.js';
import { WorkerPolicy } from '../../src/actors/compute/worker_policy.js';
import { initBackend } from '../../src/kernels/backend.js';
import { initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import { initLora, resolveLoraSpec } from '../../src/kernels/lora.js';
import { sharedBytes } from '../../src/streams/shared_memory.js';

const GPT: GptConfig = { vocabSize: 32, contextLength: 24, layers: 1, dModel: 16, heads: 2, dropout: 0, positional: 'learned' };
const SPECIAL = { eos: 30, pad: 31 };

const close = (a: number[][], b: number[][], tol = 1e-5): boolean => a.every((row, i) => row.every((x, t) => Math.abs(x - b[i]![t]!) < tol));

test('the base view samples and scores with the base while the thread holds an adapter version, and refuses after full weights', async () => {
  await initBackend('wasm');
  const base = initGpt(GPT, 1);
  const thread = await WorkerPolicy.create({ gpt: GPT, weights: sharedBytes(encodeWeights(base)), special: SPECIAL, backend: 'wasm' });
  try {
    const reference = thread.view('reference', 'reference');
    // An adapter version with B != 0, so the adapted model differs from the base.
    const adapted = initGpt(GPT, 1);
    const lora = initLora(adapted, resolveLoraSpec(GPT, { rank: 4, alpha: 8, dropout: 0, targetModules: [] }), 2);
    for (const [name, p] of Object.entries(lora.params)) if (name.endsWith('.lora_B')) p.assign(tf.randomNormal(p.shape, 0, 0.5, 'float32', 3));
    await thread.loadWeights(1, encodeAdapter(adapted));
    assert.equal(thread.version, 1);

    const prompts = [[1, 2, 3], [4, 5]];
    const responses = [[6, 7, 8], [9, 10]];
    const wantBase = await new LocalPolicy(base, SPECIAL).tokenLogprobs(prompts, responses);
    const wantAdapted = await new LocalPolicy(adapted, SPECIAL).tokenLogprobs(prompts, responses);
    assert.ok(!close(wantBase, wantAdapted, 1e-3), 'the adapter changes the log-probs');
    // Interleaved calls on the one thread: each gets its own weights.
    const [p, r] = await Promise.all([thread.tokenLogprobs(prompts, responses), reference.tokenLogprobs!(prompts, responses)]);
    assert.ok(close(p, wantAdapted), 'the policy port scores with the adapter');
    assert.ok(close(r, wantBase), 'the base view scores with the base');
    const rs = await reference.logprobs!(prompts, responses);
    rs.forEach((x, i) => assert.ok(Math.abs(x - wantBase[i]!.reduce((s, y) => s + y, 0)) < 1e-4));
    const opts = { maxNewTokens: 5, temperature: 1, topK: 0, topP: 1, seed: 9 };
    assert.deepEqual((await reference.generate(prompts, 2, opts)).tokens, (await new LocalPolicy(base, SPECIAL).generate(prompts, 2, opts)).tokens);
    assert.equal(thread.version, 1, 'sampling the base leaves the thread on its version');
    await assert.rejects(reference.loadWeights(2, encodeAdapter(adapted)), /loads no versions/);

    // A view that loads adapters (the sync check) holds its own version on the same base.
    const sync = thread.view('sync', 'adapters');
    const older = initGpt(GPT, 1);
    const lora0 = initLora(older, resolveLoraSpec(GPT, { rank: 4, alpha: 8, dropout: 0, targetModules: [] }), 4);
    for (const [name, p] of Object.entries(lora0.params)) if (name.endsWith('.lora_B')) p.assign(tf.randomNormal(p.shape, 0, 0.5, 'float32', 5));
    await sync.loadWeights(7, encodeAdapter(older));
    assert.equal(sync.version, 7);
    const wantOlder = await new LocalPolicy(older, SPECIAL).tokenLogprobs(prompts, responses);
    const [s2, p2, r2] = await Promise.all([sync.tokenLogprobs!(prompts, responses), thread.tokenLogprobs(prompts, responses), reference.tokenLogprobs!(prompts, responses)]);
    assert.ok(close(s2, wantOlder), 'the sync view scores with its own adapter');
    assert.ok(close(p2, wantAdapted), 'the thread still scores with its version');
    assert.ok(close(r2, wantBase), 'the reference still sees the base');
    await assert.rejects(sync.loadWeights(8, encodeWeights(initGpt(GPT, 6))), /not an adapter/);

    // Full weights replace the base: the view can no longer serve the reference and says so.
    await thread.loadWeights(2, encodeWeights(initGpt(GPT, 5)));
    await assert.rejects(reference.tokenLogprobs!(prompts, responses), /no longer holds the base.*thread of its own/);
  } finally {
    await thread.close();
  }
});
