// The Llama-family kernels train: RMSNorm, SwiGLU and grouped attention have finite-difference gradients; DPO steps on an
// imported model raise the chosen-over-rejected margin; the scalar head scores it; a worker thread samples as the main
// thread does and swaps published weights.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { DpoLearner } from '../../src/actors/compute/learner_compute.js';
import { encodeWeights, LocalPolicy } from '../../src/actors/compute/local_policy.js';
import { WorkerPolicy } from '../../src/actors/compute/worker_policy.js';
import { attendGrouped, causalBias } from '../../src/kernels/attention.js';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, initGpt, modelFromWeights, scalarScores, type GptConfig } from '../../src/kernels/gpt.js';
import { rmsNorm, swiglu } from '../../src/kernels/rms_norm.js';
import { Rng } from '../../src/kernels/rng.js';
import { loadHfFolder } from '../../src/models/hf_folder.js';
import type { PairMsg } from '../../src/streams/topics.js';
import { config, toyPair } from '../actors/fakes.js';
import { writeHfFixture } from '../helpers/hf_fixtures.js';
import { assertGradClose } from '../kernels/grad_check.js';

const root = mkdtempSync(join(tmpdir(), 'llama-train-'));
before(async () => {
  await initBackend('wasm');
});
after(() => rmSync(root, { recursive: true, force: true }));

function randn(shape: number[], seed: number, scale = 1, shift = 0): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => shift + scale * rng.normal()), shape);
}

test('RMSNorm, SwiGLU and grouped-query attention have the gradients finite differences give', () => {
  const x = randn([3, 8], 1);
  const w = randn([8], 2, 0.3, 1);
  const proj = randn([3, 8], 3);
  assertGradClose((a, b) => tf.sum(tf.mul(rmsNorm(a!, b as tf.Tensor1D, 1e-6), proj)), [x, w], { seed: 1, samples: 8 });
  const g = randn([4, 6], 4);
  const u = randn([4, 6], 5);
  assertGradClose((a, b) => tf.sum(tf.mul(swiglu(a!, b!), tf.range(0, 24).reshape([4, 6]))), [g, u], { seed: 2, samples: 8 });
  const q = randn([1, 4, 5, 4], 6, 0.5);
  const kT = randn([1, 2, 4, 5], 7, 0.5);
  const v = randn([1, 2, 5, 4], 8);
  const bias = causalBias(5);
  const weights = randn([1, 4, 5, 4], 9);
  assertGradClose((a, b, c) => tf.sum(tf.mul(attendGrouped(a!, b!, c!, bias, 2), weights)), [q, kT, v], { seed: 3, samples: 8 });
  tf.dispose([x, w, proj, g, u, q, kT, v, bias, weights]);
});

/** Chosen continues with even ids, rejected with odd ids, above the ids the tiny vocabulary reserves. */
const llamaPair = (i: number, eos: number): PairMsg => toyPair(i, eos, { prompt: [20, 30], response: 40 });

test('DPO steps on an imported Qwen2-style model (biases, GQA, reference = the starting model) raise the margin', async () => {
  const dir = join(root, 'qwen2');
  writeHfFixture(dir, { type: 'qwen2', kvHeads: 2, std: 0.05 });
  const hf = await loadHfFolder(dir);
  const policy = modelFromWeights(hf.cfg, 'lm', hf.weights);
  const reference = modelFromWeights(hf.cfg, 'lm', hf.weights);
  const eos = hf.tokenizer.special.eos;
  const pad = hf.tokenizer.special.pad;
  const lcfg = config({ learner: { batchSize: 4, lr: 0.01, warmupSteps: 0, totalSteps: 12, beta: 0.1, gradClip: 1 } }).learner;
  const learner = new DpoLearner({ policy, reference, config: lcfg, padId: pad, seed: 1 });
  const pairs = [0, 1, 2, 3].map((i) => llamaPair(i, eos));
  const margin = async (): Promise<number> => {
    const pol = new LocalPolicy(policy, { eos, pad });
    const ref = new LocalPolicy(reference, { eos, pad });
    const prompts = pairs.map((p) => p.promptTokens);
    const [pc, pr, rc, rr] = await Promise.all([
      pol.logprobs(prompts, pairs.map((p) => p.chosen.responseTokens)),
      pol.logprobs(prompts, pairs.map((p) => p.rejected.responseTokens)),
      ref.logprobs(prompts, pairs.map((p) => p.chosen.responseTokens)),
      ref.logprobs(prompts, pairs.map((p) => p.rejected.responseTokens)),
    ]);
    return pc.reduce((s, _, i) => s + (pc[i]! - rc[i]!) - (pr[i]! - rr[i]!), 0) / pairs.length;
  };
  try {
    assert.ok(Math.abs(await margin()) < 1e-5, 'the policy starts equal to the reference');
    const losses = [(await learner.step(pairs, pairs.map(() => 1))).loss];
    const before = tf.memory().numTensors; // after the first step, which creates the optimizer's moments
    for (let s = 1; s < 12; s++) losses.push((await learner.step(pairs, pairs.map(() => 1))).loss);
    assert.equal(tf.memory().numTensors, before, 'DPO steps leak no tensors');
    assert.ok(losses.at(-1)! < losses[0]! - 0.05, `loss falls: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    assert.ok((await margin()) > 0.5, 'the chosen-over-rejected margin grew');
  } finally {
    await learner.close();
    disposeModel(policy);
    disposeModel(reference);
  }
});

test('a scalar reward head on a Llama body scores each row at its last real token', () => {
  const cfg: GptConfig = { arch: 'llama', vocabSize: 40, contextLength: 16, layers: 1, dModel: 16, heads: 4, kvHeads: 2, ffDim: 24, dropout: 0, positional: 'rotary', tiedEmbeddings: false };
  const rm = initGpt(cfg, 3, 'scalar');
  try {
    const scores = tf.tidy(() => {
      const full = scalarScores(rm, tf.tensor2d([[1, 2, 3, 4], [1, 2, 3, 9]], [2, 4], 'int32'), tf.tensor1d([3, 2], 'int32')).arraySync();
      const short = scalarScores(rm, tf.tensor2d([[1, 2, 3]], [1, 3], 'int32'), tf.tensor1d([2], 'int32')).arraySync();
      return { full, short };
    });
    assert.ok(Math.abs(scores.full[1]! - scores.short[0]!) < 1e-5, 'tokens after the last real one do not change the score');
    assert.ok(Math.abs(scores.full[0]! - scores.full[1]!) > 1e-6);
  } finally {
    disposeModel(rm);
  }
});

test('a worker thread samples an imported Llama model as the main thread does, and swaps published weights', async () => {
  const dir = join(root, 'llama');
  writeHfFixture(dir, { type: 'llama', kvHeads: 2, tied: false });
  const hf = await loadHfFolder(dir);
  const model = modelFromWeights(hf.cfg, 'lm', hf.weights);
  const special = { eos: hf.tokenizer.special.eos, pad: hf.tokenizer.special.eos };
  const worker = await WorkerPolicy.create({ gpt: hf.cfg, weights: encodeWeights(model), special, backend: 'wasm' });
  try {
    const local = new LocalPolicy(model, special);
    const prompts = [[1, 30, 31, 32], [1, 40]];
    const opts = { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1, seed: 9 };
    assert.deepEqual(await worker.generate(prompts, 2, opts), await local.generate(prompts, 2, opts));
    const other = initGpt(hf.cfg, 5);
    await worker.loadWeights(1, encodeWeights(other));
    const responses = [[5, 6, 7], [8, 9]];
    const got = await worker.logprobs(prompts, responses);
    const want = await new LocalPolicy(other, special).logprobs(prompts, responses);
    got.forEach((x, i) => assert.ok(Math.abs(x - want[i]!) < 1e-4, `${x} vs ${want[i]}`));
    disposeModel(other);
  } finally {
    await worker.close();
    disposeModel(model);
  }
});

test('a DPO step in micro-batches gives the whole batch step: the same loss, statistics and updated weights', async () => {
  const dir = join(root, 'micro');
  writeHfFixture(dir, { type: 'llama', kvHeads: 2, std: 0.05 });
  const hf = await loadHfFolder(dir);
  const eos = hf.tokenizer.special.eos;
  const pairs = [0, 1, 2, 3, 4].map((i) => llamaPair(i, eos));
  const weights = [1, 0.5, 1, 0.25, 1];
  const results = [];
  for (const microBatch of [0, 2]) {
    const policy = modelFromWeights(hf.cfg, 'lm', hf.weights);
    const reference = modelFromWeights(hf.cfg, 'lm', hf.weights);
    const lcfg = config({ learner: { batchSize: 5, microBatch, lr: 0.01, warmupSteps: 0, totalSteps: 4, gradClip: 1 } }).learner;
    const learner = new DpoLearner({ policy, reference, config: lcfg, padId: eos, seed: 1 });
    await learner.step(pairs, weights);
    const stats = await learner.step(pairs, weights);
    results.push({ stats, w: policy.params['h.0.attn.q_proj.weight']!.dataSync().slice() as Float32Array });
    await learner.close();
    disposeModel(policy);
    disposeModel(reference);
  }
  const [whole, micro] = results as [(typeof results)[0], (typeof results)[0]];
  for (const k of ['loss', 'gradNorm', 'rewardMargin', 'rewardAccuracy', 'chosenLogRatio', 'pairKl'] as const) {
    const a = whole.stats[k] ?? NaN;
    const b = micro.stats[k] ?? NaN;
    assert.ok(Math.abs(a - b) < 1e-5, `${k}: whole ${a} vs micro ${b}`);
  }
  let d = 0;
  for (let i = 0; i < whole.w.length; i++) d = Math.max(d, Math.abs(whole.w[i]! - micro.w[i]!));
  assert.ok(d < 1e-6, `weights after two steps differ by ${d}`);
});
