// Learner math through the actor: DPO on streamed pairs raises the log-prob margin of chosen over rejected (tiny random-init GPT).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { systemClock } from '../../src/clock.js';
import { DpoLearner } from '../../src/actors/compute/learner_compute.js';
import { LocalPolicy, responseLogProbs } from '../../src/actors/compute/local_policy.js';
import { Learner } from '../../src/actors/learner.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { initBackend } from '../../src/kernels/backend.js';
import { initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import type { PairMsg } from '../../src/streams/topics.js';
import { bus as makeBus, config, toyPair, until } from './fakes.js';

const GPT: GptConfig = { vocabSize: 32, contextLength: 16, layers: 1, dModel: 16, heads: 2, dropout: 0, positional: 'learned' };
const PAD = 31;
const EOS = 30;

/** Four prompts; chosen continues with even ids, rejected with odd ids. */
const toyPairOf = (i: number): PairMsg => toyPair(i, EOS);

function margin(policy: LocalPolicy, reference: LocalPolicy, pairs: PairMsg[]): Promise<number> {
  const prompts = pairs.map((p) => p.promptTokens);
  const c = pairs.map((p) => p.chosen.responseTokens);
  const r = pairs.map((p) => p.rejected.responseTokens);
  return (async () => {
    const [pc, pr, rc, rr] = await Promise.all([policy.logprobs(prompts, c), policy.logprobs(prompts, r), reference.logprobs(prompts, c), reference.logprobs(prompts, r)]);
    return pc.reduce((s, _, i) => s + (pc[i]! - rc[i]!) - (pr[i]! - rr[i]!), 0) / pairs.length;
  })();
}

test('DPO through the Learner actor raises the chosen-over-rejected margin; published weights and checkpoints round-trip', async () => {
  await initBackend('wasm');
  const dir = await mkdtemp(join(tmpdir(), 'dpo-learner-'));
  const lcfg = config({ learner: { batchSize: 4, lr: 0.01, warmupSteps: 0, totalSteps: 16, publishEvery: 4, checkpointEvery: 8, beta: 0.1, gradClip: 1, maxPolicyLag: 1000 } }).learner;
  const policy = initGpt(GPT, 7);
  const reference = initGpt(GPT, 7);
  const port = new DpoLearner({ policy, reference, config: lcfg, padId: PAD, seed: 1 });
  const bus = makeBus('test');
  const metrics = new MetricsRegistry();
  const learner = new Learner({ bus, port, clock: systemClock, metrics }, { learnerId: 'l', config: lcfg, checkpointDir: join(dir, 'ck'), starvedCheckpointMs: 60_000 });
  const pol = new LocalPolicy(policy, { eos: EOS, pad: PAD });
  const ref = new LocalPolicy(reference, { eos: EOS, pad: PAD });
  const evalPairs = [0, 1, 2, 3].map(toyPairOf);
  assert.ok(Math.abs(await margin(pol, ref, evalPairs)) < 1e-5, 'policy starts equal to the reference');

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
  const m = await margin(pol, ref, evalPairs);
  assert.ok(Math.abs(losses[0]! - Math.log(2)) < 1e-3, `first DPO loss is log 2 at equal policy and reference; got ${losses[0]}`);
  assert.ok(losses.at(-1)! < losses[0]! - 0.05, `loss fell: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  assert.ok(m > 1, `log-prob margin of chosen over rejected rose to ${m}`);
  assert.equal(learner.lastStats!.rewardAccuracy, 1);
  console.log(`# DPO toy: loss ${losses[0]!.toFixed(3)} -> ${losses.at(-1)!.toFixed(3)}, margin 0 -> ${m.toFixed(2)} nats`);

  // The published version 4 is the trained policy: a generator loading it computes the same log-probs.
  const latest = await bus.weights.get();
  assert.equal(latest!.meta.version, 4);
  const gen = new LocalPolicy(initGpt(GPT, 99), { eos: EOS, pad: PAD });
  await gen.loadWeights(latest!.meta.version, latest!.bytes);
  const probe = evalPairs.map((p) => p.chosen.responseTokens);
  const a = responseLogProbs(policy, evalPairs.map((p) => p.promptTokens), probe, PAD);
  const b = await gen.logprobs(evalPairs.map((p) => p.promptTokens), probe);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) < 1e-5));

  // The checkpoint restores policy, optimizer and learner state into fresh models.
  assert.equal(bus.counters().acked.pairs, 64, 'every pair acked after the final checkpoint');
  const port2 = new DpoLearner({ policy: initGpt(GPT, 3), reference: initGpt(GPT, 7), config: lcfg, padId: PAD, seed: 1 });
  const state = await port2.loadCheckpoint(join(dir, 'ck'));
  assert.equal(state!.step, 16);
  assert.equal(state!.version, 4);
  assert.equal(port2.stepCount, 16);
  const restored = new LocalPolicy((port2 as unknown as { o: { policy: typeof policy } }).o.policy, { eos: EOS, pad: PAD });
  const c = await restored.logprobs(evalPairs.map((p) => p.promptTokens), probe);
  a.forEach((x, i) => assert.ok(Math.abs(x - c[i]!) < 1e-5));
  assert.equal(await port2.loadCheckpoint(join(dir, 'none')), undefined);

  // The learner's KL figures are log pi/ref of the batch's responses under the weights before the step: chosen only, and all.
  const ps = evalPairs.map((p) => p.promptTokens);
  const [pc, pr, rc, rr] = await Promise.all([pol.logprobs(ps, probe), pol.logprobs(ps, evalPairs.map((p) => p.rejected.responseTokens)), ref.logprobs(ps, probe), ref.logprobs(ps, evalPairs.map((p) => p.rejected.responseTokens))]);
  const mean = (xs: number[]): number => xs.reduce((t, x) => t + x, 0) / xs.length;
  const st = await port.step(evalPairs, [1, 1, 1, 1]);
  assert.ok(Math.abs(st.chosenLogRatio! - mean(pc.map((x, i) => x - rc[i]!))) < 1e-3);
  assert.ok(Math.abs(st.pairKl! - mean([...pc.map((x, i) => x - rc[i]!), ...pr.map((x, i) => x - rr[i]!)])) < 1e-3);
  assert.ok(st.chosenLogRatio! > st.pairKl!, 'DPO raised the chosen responses and lowered the rejected ones');

  // Steps leak no tensors: one more step (its optimizer slots exist already) leaves the count where it was.
  const before = tf.memory().numTensors;
  await port.step([toyPairOf(0), toyPairOf(1)], [1, 0.5]);
  assert.equal(tf.memory().numTensors, before);
  await port.close();
  await port2.close();
  await bus.close();
  await rm(dir, { recursive: true, force: true });
});
