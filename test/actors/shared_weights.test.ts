// Weights held once per process: the in-process store keeps each version in its own SharedArrayBuffer, threads given
// those bytes share them (no copy), loading reads them in place, and a published version never changes under a reader.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { encodeWeights, loadWeightsInto, LocalPolicy } from '../../src/actors/compute/local_policy.js';
import { WorkerPolicy } from '../../src/actors/compute/worker_policy.js';
import { decodeSafetensors } from '../../src/checkpoint/safetensors.js';
import { parseConfig } from '../../src/config/index.js';
import { initBackend } from '../../src/kernels/backend.js';
import { forwardLogits, initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import { InProcessBus } from '../../src/streams/inprocess/bus.js';
import { isShared, sharedBytes, sharedCopy } from '../../src/streams/shared_memory.js';

const GPT: GptConfig = { vocabSize: 32, contextLength: 40, layers: 1, dModel: 16, heads: 2, dropout: 0, positional: 'learned' };
const SPECIAL = { eos: 30, pad: 31 };

const newBus = (): InProcessBus => new InProcessBus(parseConfig({}).bus, 'shared-weights-test', { log: () => {} });

test('the in-process store holds a version once, in shared memory, and hands every reader that one copy', async () => {
  const bus = newBus();
  try {
    const mine = new Uint8Array(1000).map((_, i) => i & 255);
    await bus.weights.put(1, 1, mine);
    const a = (await bus.weights.get(1))!;
    const b = (await bus.weights.get(1))!;
    assert.ok(isShared(a.bytes), 'the stored version lives in a SharedArrayBuffer');
    assert.equal(a.bytes.buffer, b.bytes.buffer, 'two readers get the same memory, not a copy each');
    // Stored as a copy: the learner reusing its own buffer cannot change what was published.
    mine.fill(7);
    assert.equal(a.bytes[1], 1);
    // A newer version gets a buffer of its own; the older one is left as it was.
    await bus.weights.put(2, 2, new Uint8Array(1000).fill(9));
    const c = (await bus.weights.get(2))!;
    assert.notEqual(c.bytes.buffer, a.bytes.buffer);
    assert.deepEqual([...(await bus.weights.get(1))!.bytes.subarray(0, 4)], [0, 1, 2, 3]);
  } finally {
    await bus.close();
  }
});

test('two worker threads given shared bytes see the same memory: a write by one is read by the other and by this thread', async () => {
  const shared = sharedBytes(new Uint8Array(16));
  assert.equal(sharedBytes(shared), shared, 'already shared bytes are not copied again');
  assert.notEqual(sharedCopy(shared).buffer, shared.buffer, 'sharedCopy always copies');
  // Thread A writes 42 at index 3 and signals; thread B waits for the signal (Atomics on the same memory) and reads.
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const bytes = workerData.bytes;
    const flag = new Int32Array(workerData.flag);
    if (workerData.role === 'writer') { bytes[3] = 42; Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); parentPort.postMessage('wrote'); }
    else { Atomics.wait(flag, 0, 0, 10000); parentPort.postMessage(bytes[3]); }`;
  const flag = new SharedArrayBuffer(4);
  const run = (role: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { bytes: shared, flag, role } });
      w.once('message', (m) => {
        resolve(m);
        void w.terminate();
      });
      w.once('error', reject);
    });
  const [read] = await Promise.all([run('reader'), run('writer')]);
  assert.equal(read, 42, 'the reader thread saw the writer thread\'s write');
  assert.equal(shared[3], 42, 'and so does the thread that shared the bytes');
});

test('loading shared bytes reads the tensors in place and gives the same model as plain bytes', async () => {
  await initBackend('wasm');
  const src = initGpt(GPT, 3);
  const plain = encodeWeights(src);
  const shared = encodeWeights(src, { shared: true });
  assert.ok(isShared(shared), 'encoded straight into shared memory');
  assert.deepEqual([...shared], [...plain]);
  const { tensors } = decodeSafetensors(shared, { alias: true });
  for (const t of Object.values(tensors)) assert.equal(t.data.buffer, shared.buffer, 'a view into the shared bytes, not a copy');
  const { tensors: copied } = decodeSafetensors(plain);
  for (const t of Object.values(copied)) assert.notEqual(t.data.buffer, plain.buffer, 'without alias each tensor is its own copy');
  const a = initGpt(GPT, 1);
  const b = initGpt(GPT, 2);
  loadWeightsInto(a, plain);
  loadWeightsInto(b, shared);
  const tokens = [[1, 2, 3, 4, 5]];
  const logits = (m: typeof a): number[] => tf.tidy(() => Array.from(forwardLogits(m, tf.tensor2d(tokens, undefined, 'int32')).dataSync()));
  assert.deepEqual(logits(a), logits(b));
});

test('policy threads started from one shared base and loading a shared version score like the in-thread model', async () => {
  await initBackend('wasm');
  const sft = initGpt(GPT, 4);
  const base = sharedBytes(encodeWeights(sft));
  const threads = await Promise.all([0, 1].map(() => WorkerPolicy.create({ gpt: GPT, weights: base, special: SPECIAL, backend: 'wasm' })));
  const bus = newBus();
  try {
    const prompts = [[1, 2, 3], [4, 5]];
    const responses = [[6, 7, 8], [9, 10]];
    const want0 = await new LocalPolicy(sft, SPECIAL).tokenLogprobs(prompts, responses);
    const next = initGpt(GPT, 5);
    await bus.weights.put(1, 1, encodeWeights(next));
    const want1 = await new LocalPolicy(next, SPECIAL).tokenLogprobs(prompts, responses);
    for (const t of threads) {
      const got0 = await t.tokenLogprobs(prompts, responses);
      got0.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - want0[i]![j]!) < 1e-5)));
      const blob = (await bus.weights.get(1))!;
      await t.loadWeights(1, blob.bytes);
      const got1 = await t.tokenLogprobs(prompts, responses);
      got1.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - want1[i]![j]!) < 1e-5)));
    }
  } finally {
    for (const t of threads) await t.close();
    await bus.close();
  }
});

test('a generator mid-sample keeps its version while the learner publishes a new one', async () => {
  // The cpu backend builds its tensors over the shared bytes themselves (no copy into a heap), so the sampling thread
  // reads the stored version's memory as it samples: a version written in place would show in its log-probs.
  await initBackend('wasm');
  const v1 = initGpt(GPT, 6);
  const v2 = initGpt(GPT, 7);
  const bus = newBus();
  const gen = await WorkerPolicy.create({ gpt: GPT, weights: sharedBytes(encodeWeights(initGpt(GPT, 8))), special: SPECIAL, backend: 'cpu' });
  try {
    await bus.weights.put(1, 1, encodeWeights(v1));
    const held = (await bus.weights.get(1))!;
    await gen.loadWeights(1, held.bytes);
    const snapshot = Uint8Array.from(held.bytes);
    const prompts = Array.from({ length: 12 }, (_, i) => [1 + (i % 20), 2, 3]);
    const sampling = gen.generate(prompts, 4, { maxNewTokens: 30, temperature: 1, topK: 0, topP: 1, seed: 11 });
    // The learner publishes v2 (and v3 on top, so the store drops nothing it might reuse) while the batch samples.
    await bus.weights.put(2, 2, encodeWeights(v2));
    await bus.weights.put(3, 3, encodeWeights(v2));
    const r = await sampling;
    assert.equal(gen.version, 1);
    assert.deepEqual(held.bytes, snapshot, 'the published v1 bytes are unchanged');
    assert.ok(r.versions === undefined || r.versions.every((g) => g.every(([first, last]) => first === 1 && last === 1)));
    // Every sampled token's behaviour log-prob is v1's, and not v2's.
    const rowsPrompts = prompts.flatMap((p) => [p, p, p, p]);
    const responses = r.tokens.flat();
    const behaviour = r.logprobs!.flat();
    const under1 = await new LocalPolicy(v1, SPECIAL).tokenLogprobs(rowsPrompts, responses);
    const under2 = await new LocalPolicy(v2, SPECIAL).tokenLogprobs(rowsPrompts, responses);
    let diff1 = 0;
    let diff2 = 0;
    behaviour.forEach((row, i) =>
      row.forEach((x, t) => {
        diff1 = Math.max(diff1, Math.abs(x - under1[i]![t]!));
        diff2 = Math.max(diff2, Math.abs(x - under2[i]![t]!));
      }),
    );
    assert.ok(diff1 < 1e-4, `sampled with v1: max |d log p| ${diff1}`);
    assert.ok(diff2 > 1e-2, `not with v2: max |d log p| ${diff2}`);
  } finally {
    await gen.close();
    await bus.close();
  }
});
