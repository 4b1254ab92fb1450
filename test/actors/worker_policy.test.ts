// The piscina-backed policy port samples and scores exactly like the in-thread one, and swaps weights from safetensors bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeWeights, LocalPolicy } from '../../src/actors/compute/local_policy.js';
import { WorkerPolicy } from '../../src/actors/compute/worker_policy.js';
import { initBackend } from '../../src/kernels/backend.js';
import { initGpt, type GptConfig } from '../../src/kernels/gpt.js';

const GPT: GptConfig = { vocabSize: 32, contextLength: 24, layers: 1, dModel: 16, heads: 2, dropout: 0, positional: 'learned' };
const SPECIAL = { eos: 30, pad: 31 };

test('WorkerPolicy matches LocalPolicy on samples and log-probs, before and after a weight swap', async () => {
  await initBackend('wasm');
  const sft = initGpt(GPT, 1);
  const local = new LocalPolicy(sft, SPECIAL);
  const worker = await WorkerPolicy.create({ gpt: GPT, weights: encodeWeights(sft), special: SPECIAL, backend: 'wasm' });
  try {
    assert.equal(worker.backend, 'wasm');
    const prompts = [[1, 2, 3], [4, 5]];
    const opts = { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1, seed: 42 };
    const a = await local.generate(prompts, 3, opts);
    const b = await worker.generate(prompts, 3, opts);
    assert.deepEqual(b, a);
    assert.equal(a.tokens.length, 2);
    assert.equal(a.tokens[0]!.length, 3);
    const responses = a.tokens.flat();
    const rowsPrompts = prompts.flatMap((p) => [p, p, p]);
    const la = await local.logprobs(rowsPrompts, responses);
    const lb = await worker.logprobs(rowsPrompts, responses);
    la.forEach((x, i) => assert.ok(Math.abs(x - lb[i]!) < 1e-5));
    // Per-token log-probs: one per response token, summing to the sequence log-prob, alike in the worker.
    const ta = await local.tokenLogprobs(rowsPrompts, responses);
    const tb = await worker.tokenLogprobs(rowsPrompts, responses);
    ta.forEach((row, i) => {
      assert.equal(row.length, responses[i]!.length);
      assert.ok(row.every((x) => x <= 0));
      assert.ok(Math.abs(row.reduce((s, x) => s + x, 0) - la[i]!) < 1e-4);
      row.forEach((x, t) => assert.ok(Math.abs(x - tb[i]![t]!) < 1e-5));
    });

    const next = initGpt(GPT, 2);
    await worker.loadWeights(1, encodeWeights(next));
    assert.equal(worker.version, 1);
    const lc = await worker.logprobs(rowsPrompts, responses);
    const ln = await new LocalPolicy(next, SPECIAL).logprobs(rowsPrompts, responses);
    lc.forEach((x, i) => assert.ok(Math.abs(x - ln[i]!) < 1e-5));
    assert.ok(lc.some((x, i) => Math.abs(x - lb[i]!) > 1e-3), 'new weights change the log-probs');
  } finally {
    await worker.close();
  }
});

test('continuous batching: both ports report every group once, with the one-batch samples, before the call returns', async () => {
  await initBackend('wasm');
  const sft = initGpt(GPT, 3);
  const local = new LocalPolicy(sft, SPECIAL);
  const worker = await WorkerPolicy.create({ gpt: GPT, weights: encodeWeights(sft), special: SPECIAL, backend: 'wasm' });
  try {
    const prompts = [[1, 2, 3], [4, 5], [6], [7, 8, 9, 10]];
    const opts = { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1, seed: 7 };
    const batched = await local.generate(prompts, 3, opts);
    for (const port of [local, worker]) {
      const groups = new Map<number, { tokens: number[][]; finished: boolean[] }>();
      const r = await port.generate(prompts, 3, { ...opts, slots: 5 }, (p, tokens, finished) => {
        assert.ok(!groups.has(p), `group ${p} reported twice`);
        groups.set(p, { tokens, finished });
      });
      assert.deepEqual(r.tokens, batched.tokens);
      assert.deepEqual(r.finished, batched.finished);
      // The behaviour log-probs agree up to float rounding (padding differs between the two ways of batching).
      r.logprobs!.flat(2).forEach((x, i) => assert.ok(Math.abs(x - batched.logprobs!.flat(2)[i]!) < 1e-5, `log-prob ${i}: ${x}`));
      assert.deepEqual(r.versions!.flat(), Array.from({ length: 12 }, () => [0, 0]));
      assert.deepEqual([...groups.keys()].sort(), [0, 1, 2, 3]);
      for (const [p, g] of groups) {
        assert.deepEqual(g.tokens, batched.tokens[p]);
        assert.deepEqual(g.finished, batched.finished[p]);
      }
    }
  } finally {
    await worker.close();
  }
});
