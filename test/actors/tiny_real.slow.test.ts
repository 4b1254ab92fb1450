// A tiny real streaming run: GPT policies in worker threads, the DPO learner, a rule-based proxy: the policy learns what the proxy likes.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startLocalCluster } from '../../src/run/local_cluster.js';
import { DpoLearner } from '../../src/actors/compute/learner_compute.js';
import { encodeWeights, LocalPolicy } from '../../src/actors/compute/local_policy.js';
import { WorkerPolicy } from '../../src/actors/compute/worker_policy.js';
import type { PolicyPort } from '../../src/actors/ports.js';
import { initBackend } from '../../src/kernels/backend.js';
import { initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import { bus as makeBus, config, FakeScorer } from './fakes.js';

const GPT: GptConfig = { vocabSize: 32, contextLength: 16, layers: 1, dModel: 32, heads: 2, dropout: 0, positional: 'learned' };
const SPECIAL = { eos: 30, pad: 31 };
/** The proxy (and gold) preference: the share of response tokens with ids below 8. */
const lowShare = (r: number[]): number => (r.length === 0 ? 0 : r.filter((t) => t < 8).length / r.length);

test('streaming online DPO with real models: versions advance and the policy moves toward what the proxy prefers', async () => {
  await initBackend('wasm');
  const dir = await mkdtemp(join(tmpdir(), 'tiny-real-'));
  const cfg = config({
    compute: { backend: 'wasm', seed: 5 },
    model: { contextLength: 16 },
    run: { mode: 'streaming', prompts: 100_000 },
    generator: { count: 1, samplesPerPrompt: 4, promptsPerBatch: 8, maxNewTokens: 6, temperature: 1 },
    judge: { batchSize: 32 },
    learner: { batchSize: 8, lr: 0.01, warmupSteps: 0, totalSteps: 20, publishEvery: 2, checkpointEvery: 10, beta: 0.1, maxPolicyLag: 3 },
    evaluator: { everyVersions: 5, prompts: 32, maxNewTokens: 6 },
    monitor: { intervalMs: 200 },
  });
  const sft = initGpt(GPT, 11);
  const sftBytes = encodeWeights(sft);
  const workers: WorkerPolicy[] = [];
  const port = new DpoLearner({ policy: initGpt(GPT, 11), reference: initGpt(GPT, 11), config: cfg.learner, padId: SPECIAL.pad, seed: 5 });
  const prompts = Array.from({ length: 16 }, (_, i) => ({ promptId: `q${i}`, text: `q${i}`, tokens: [1, 8 + (i % 16), 9] }));
  const evalPrompts = Array.from({ length: 32 }, (_, i) => ({ promptId: `e${i}`, text: `e${i}`, tokens: [2, 8 + (i % 20), 9] }));
  const bus = makeBus('test', { ackWaitMs: 30_000 });
  const t0 = Date.now();
  const cluster = await startLocalCluster(
    cfg,
    bus,
    {
      policy: async (role): Promise<PolicyPort> => {
        if (role === 'reference') return new LocalPolicy(initGpt(GPT, 11), SPECIAL);
        const w = await WorkerPolicy.create({ gpt: GPT, weights: sftBytes, special: SPECIAL, backend: 'wasm' });
        workers.push(w);
        return w;
      },
      scorer: () => new FakeScorer(lowShare),
      learner: port,
      decode: (t) => t.join(' '),
      gold: async (items) => items.map((x) => lowShare(x.tokens)),
    },
    { prompts, evalPrompts, checkpointDir: join(dir, 'ck') },
  );
  try {
    const s = await cluster.done;
    const evals = s.evals;
    console.log(`# tiny real run: ${s.steps} steps, version ${s.version}, ${s.samplesGenerated} samples, ${s.pairsTrained} pairs trained, ${s.pairsDroppedStale} stale dropped, ${s.ties} ties, ${Date.now() - t0} ms`);
    console.log(`# evals: ${evals.map((e) => `v${e.version} gold ${e.goldReward.toFixed(3)} win ${e.winRateVsSft.toFixed(2)} kl ${e.kl?.toFixed(2)}`).join('; ')}`);
    assert.equal(s.steps, 20);
    assert.equal(s.version, 10);
    assert.equal(evals[0]!.version, 0);
    assert.equal(evals[0]!.winRateVsSft, 0.5, 'the SFT policy against its own samples');
    assert.ok(Math.abs(evals[0]!.kl!) < 1e-4);
    const last = evals.at(-1)!;
    assert.equal(last.version, 10);
    assert.ok(last.goldReward > evals[0]!.goldReward + 0.1, `gold reward rose: ${evals[0]!.goldReward} -> ${last.goldReward}`);
    assert.ok(last.winRateVsSft > 0.6, `win rate vs SFT ${last.winRateVsSft}`);
    assert.ok(last.kl! > 0, `KL to the reference grew to ${last.kl}`);
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await port.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
});
