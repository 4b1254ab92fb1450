// DPO with a LoRA adapter through the Learner actor: only the adapter changes, the reference is the base with the
// adapter off, a published version is the adapter alone (a generator applies it to its base), and a checkpoint holds the
// adapter and its optimizer state and resumes.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { systemClock } from '../../src/clock.js';
import { loadCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { decodeSafetensors } from '../../src/checkpoint/safetensors.js';
import { ADAPTER_KEY } from '../../src/actors/compute/adapter_weights.js';
import { DpoLearner } from '../../src/actors/compute/learner_compute.js';
import { LocalPolicy, responseLogProbs } from '../../src/actors/compute/local_policy.js';
import { Learner } from '../../src/actors/learner.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, initGpt, type GptConfig, type GptModel } from '../../src/kernels/gpt.js';
import { initLora, withoutAdapter } from '../../src/kernels/lora.js';
import type { PairMsg } from '../../src/streams/topics.js';
import { bus as makeBus, config, toyPair, until } from './fakes.js';

const PAD = 31;
const EOS = 30;
const toyPairOf = (i: number): PairMsg => toyPair(i, EOS);
const SPEC = { rank: 4, alpha: 8, dropout: 0, targetModules: ['c_attn', 'c_proj', 'c_fc'] };
const GPT: GptConfig = { vocabSize: 32, contextLength: 16, layers: 1, dModel: 16, heads: 2, dropout: 0, positional: 'learned' };

const snapshot = (params: Record<string, tf.Variable>): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(params).map(([n, p]) => [n, Float32Array.from(p.dataSync() as Float32Array)]));

function margin(model: GptModel, pairs: PairMsg[]): number {
  const ps = pairs.map((p) => p.promptTokens);
  const lp = (rs: number[][]) => responseLogProbs(model, ps, rs, PAD);
  const c = lp(pairs.map((p) => p.chosen.responseTokens));
  const r = lp(pairs.map((p) => p.rejected.responseTokens));
  const rc = withoutAdapter(model, () => lp(pairs.map((p) => p.chosen.responseTokens)));
  const rr = withoutAdapter(model, () => lp(pairs.map((p) => p.rejected.responseTokens)));
  return c.reduce((s, _, i) => s + (c[i]! - rc[i]!) - (r[i]! - rr[i]!), 0) / pairs.length;
}

test('DPO with LoRA: only the adapter trains, versions publish the adapter alone, and a checkpoint of the adapter resumes', async () => {
  await initBackend('wasm');
  const dir = await mkdtemp(join(tmpdir(), 'lora-learner-'));
  const lcfg = config({ learner: { batchSize: 4, lr: 0.02, warmupSteps: 0, totalSteps: 16, publishEvery: 4, checkpointEvery: 8, beta: 0.1, gradClip: 1, maxPolicyLag: 1000, weightDecay: 0.01, adapter: 'lora' } }).learner;
  const policy = initGpt(GPT, 7);
  initLora(policy, SPEC, 11);
  const base0 = snapshot(policy.params);
  const adapter0 = snapshot(policy.lora!.params);
  const port = new DpoLearner({ policy, config: lcfg, padId: PAD, seed: 1, weightDecay: lcfg.weightDecay });
  const bus = makeBus('test');
  const learner = new Learner({ bus, port, clock: systemClock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: lcfg, checkpointDir: join(dir, 'ck'), starvedCheckpointMs: 60_000 });
  const evalPairs = [0, 1, 2, 3].map(toyPairOf);
  assert.equal(margin(policy, evalPairs), 0, 'with B = 0 the policy is exactly its reference');

  learner.start();
  const losses: number[] = [];
  for (let i = 0; i < 64; i++) {
    await bus.publish('pairs', toyPairOf(i), { msgId: `t${i}` });
    if ((i + 1) % 4 === 0) {
      await until(() => learner.step === (i + 1) / 4, 20_000, `step ${(i + 1) / 4}`);
      losses.push(learner.lastStats!.loss);
    }
  }
  await learner.finished;
  assert.ok(Math.abs(losses[0]! - Math.log(2)) < 1e-6, `first loss is log 2 (policy = reference); got ${losses[0]}`);
  assert.ok(losses.at(-1)! < losses[0]! - 0.05, `loss fell: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  const m = margin(policy, evalPairs);
  assert.ok(m > 0.5, `the adapter raised the chosen-over-rejected margin to ${m}`);

  // Only adapter parameters changed; every one of them did (B from zero, A through B's gradient).
  const base1 = snapshot(policy.params);
  for (const [n, v] of Object.entries(base0)) assert.deepEqual(base1[n], v, `base parameter ${n} is frozen`);
  const adapter1 = snapshot(policy.lora!.params);
  for (const [n, v] of Object.entries(adapter0)) assert.notDeepEqual(adapter1[n], v, `adapter tensor ${n} trained`);

  // A version is the adapter alone; a generator holding only the base applies it and samples what the learner has.
  const latest = await bus.weights.get();
  assert.equal(latest!.meta.version, 4);
  const published = decodeSafetensors(latest!.bytes);
  assert.equal(published.metadata[ADAPTER_KEY], 'lora');
  assert.deepEqual(Object.keys(published.tensors).sort(), Object.keys(policy.lora!.params).sort());
  const gen = new LocalPolicy(initGpt(GPT, 7), { eos: EOS, pad: PAD });
  await gen.loadWeights(latest!.meta.version, latest!.bytes);
  await gen.loadWeights(latest!.meta.version, latest!.bytes); // a newer version of the same adapter swaps in place
  const ps = evalPairs.map((p) => p.promptTokens);
  const probe = evalPairs.map((p) => p.chosen.responseTokens);
  const want = responseLogProbs(policy, ps, probe, PAD);
  const got = await gen.logprobs(ps, probe);
  want.forEach((x, i) => assert.equal(got[i], x));

  // The checkpoint holds the adapter and the adapter's optimizer state only, and restores into a fresh adapter.
  const ck = await loadCheckpoint(join(dir, 'ck'));
  assert.deepEqual(Object.keys(ck.weights).sort(), Object.keys(policy.lora!.params).sort());
  const slots = Object.keys(ck.optimizer!).filter((k) => k.startsWith('exp_avg/')).map((k) => k.slice('exp_avg/'.length)).sort();
  assert.deepEqual(slots, Object.keys(policy.lora!.params).sort(), 'optimizer state only for the adapter');
  assert.deepEqual((ck.config as { adapter: unknown }).adapter, { kind: 'lora', ...SPEC });
  assert.ok((await readdir(join(dir, 'ck'))).includes('optimizer.safetensors'));
  const fresh = initGpt(GPT, 7);
  initLora(fresh, SPEC, 99);
  const port2 = new DpoLearner({ policy: fresh, config: lcfg, padId: PAD, seed: 1, weightDecay: lcfg.weightDecay });
  const state = await port2.loadCheckpoint(join(dir, 'ck'));
  assert.equal(state!.step, 16);
  assert.equal(port2.stepCount, 16);
  assert.deepEqual(snapshot(fresh.lora!.params), adapter1);
  // Resumed, the next step is the step the original learner takes: same adapter, same optimizer moments.
  const a = await port.step(evalPairs, [1, 1, 1, 1]);
  const b = await port2.step(evalPairs, [1, 1, 1, 1]);
  assert.equal(b.loss, a.loss);
  assert.deepEqual(snapshot(fresh.lora!.params), snapshot(policy.lora!.params));

  const before = tf.memory().numTensors;
  await port.step([toyPairOf(0), toyPairOf(1)], [1, 0.5]);
  assert.equal(tf.memory().numTensors, before, 'a LoRA step leaks no tensors');
  await port.close();
  await port2.close();
  await gen.close();
  disposeModel(fresh);
  await bus.close();
  await rm(dir, { recursive: true, force: true });
});
