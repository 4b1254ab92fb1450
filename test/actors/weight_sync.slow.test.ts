// The weight-sync check end to end: real tiny models stream through the whole loop; a healthy run shows a mismatch at
// float rounding, a generator that keeps stale weights while claiming the new version is caught (metric, warning, stop).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startLocalCluster, type ClusterSummary } from '../../src/run/local_cluster.js';
import { DpoLearner } from '../../src/actors/compute/learner_compute.js';
import { encodeWeights } from '../../src/actors/compute/local_policy.js';
import { WorkerPolicy } from '../../src/actors/compute/worker_policy.js';
import type { GenerateOptions, GenerateResult, GroupDone, PolicyPort } from '../../src/actors/ports.js';
import { SyncMismatchError } from '../../src/actors/sync_check.js';
import { initBackend } from '../../src/kernels/backend.js';
import { initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import { bus as makeBus, config, FakeScorer } from './fakes.js';

const GPT: GptConfig = { vocabSize: 32, contextLength: 16, layers: 1, dModel: 32, heads: 2, dropout: 0, positional: 'learned' };
const SPECIAL = { eos: 30, pad: 31 };
const lowShare = (r: number[]): number => (r.length === 0 ? 0 : r.filter((t) => t < 8).length / r.length);

/** A generator's policy with the classic silent sync bug: it acknowledges every new version but keeps sampling with the SFT weights. */
class StaleWeightsPolicy implements PolicyPort {
  loadsIgnored = 0;
  constructor(private readonly inner: WorkerPolicy) {}
  generate(prompts: number[][], k: number, opts: GenerateOptions, onGroup?: GroupDone): Promise<GenerateResult> {
    return this.inner.generate(prompts, k, opts, onGroup);
  }
  async loadWeights(): Promise<void> {
    this.loadsIgnored++;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Outcome {
  summary?: ClusterSummary;
  error?: unknown;
  learner: Record<string, number>;
  logs: string[];
}

async function run(name: string, o: { broken: boolean; stop?: number }): Promise<Outcome> {
  await initBackend('wasm');
  const dir = await mkdtemp(join(tmpdir(), `sync-${name}-`));
  const cfg = config({
    compute: { backend: 'wasm', seed: 5 },
    model: { contextLength: 16 },
    run: { mode: 'streaming', prompts: 100_000 },
    generator: { count: 1, samplesPerPrompt: 4, promptsPerBatch: 8, maxNewTokens: 6, temperature: 1 },
    judge: { batchSize: 32 },
    learner: { batchSize: 8, lr: 0.01, warmupSteps: 0, totalSteps: 16, publishEvery: 2, checkpointEvery: 8, beta: 0.1, maxPolicyLag: 3, syncCheckShare: 0.5, syncMismatchWarn: 1e-3, syncMismatchStop: o.stop ?? 0 },
    monitor: { intervalMs: 200 },
  });
  const sftBytes = encodeWeights(initGpt(GPT, 11));
  const workers: WorkerPolicy[] = [];
  const port = new DpoLearner({ policy: initGpt(GPT, 11), reference: initGpt(GPT, 11), config: cfg.learner, padId: SPECIAL.pad, seed: 5 });
  const prompts = Array.from({ length: 16 }, (_, i) => ({ promptId: `q${i}`, text: `q${i}`, tokens: [1, 8 + (i % 16), 9] }));
  const bus = makeBus('test', { ackWaitMs: 30_000 });
  const logs: string[] = [];
  const cluster = await startLocalCluster(
    cfg,
    bus,
    {
      policy: async (role): Promise<PolicyPort> => {
        const w = await WorkerPolicy.create({ gpt: GPT, weights: sftBytes, special: SPECIAL, backend: 'wasm' });
        workers.push(w);
        return role === 'generator' && o.broken ? new StaleWeightsPolicy(w) : w;
      },
      scorer: () => new FakeScorer(lowShare),
      learner: port,
      decode: (t) => t.join(' '),
    },
    { prompts, checkpointDir: join(dir, 'ck'), log: (l) => logs.push(l) },
  );
  const out: Outcome = { learner: {}, logs };
  try {
    out.summary = await cluster.done;
  } catch (err) {
    out.error = err;
  } finally {
    out.learner = cluster.registries.get('learner')!.snapshot();
    await Promise.all(workers.map((w) => w.close()));
    await port.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

/** Per-version mismatch gauges of a learner snapshot: version -> mean absolute per-token difference. */
function perVersion(values: Record<string, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [k, v] of Object.entries(values)) {
    const m = /^learner_sync_logprob_diff_version_(\d+)$/.exec(k);
    if (m) out.set(Number(m[1]), v);
  }
  return out;
}

test('a healthy run: every checked version matches the learner at float rounding, and nothing warns', async () => {
  const r = await run('healthy', { broken: false });
  assert.equal(r.error, undefined, String(r.error));
  const diffs = perVersion(r.learner);
  console.log(`# healthy: ${[...diffs].map(([v, d]) => `v${v} ${d.toExponential(2)}`).join(', ')}; checked ${r.learner.learner_sync_samples_checked_total} samples`);
  assert.ok(diffs.size >= 4, `several versions checked: ${[...diffs.keys()]}`);
  for (const [v, d] of diffs) assert.ok(d < 1e-4, `version ${v}: mean |diff| ${d} per token is float rounding`);
  for (const [k, v] of Object.entries(r.learner)) if (k.startsWith('learner_sync_seq_ratio_version_')) assert.ok(Math.abs(Math.log(v)) < 1e-3, `${k} = ${v}`);
  assert.equal(r.learner.learner_sync_warnings_total ?? 0, 0);
  assert.deepEqual(r.logs.filter((l) => l.includes('WARNING')), []);
});

test('a generator that keeps stale weights: the mismatch metric jumps, the learner warns, and the run goes on', async () => {
  const r = await run('broken', { broken: true });
  assert.equal(r.error, undefined, String(r.error));
  const diffs = perVersion(r.learner);
  console.log(`# broken: ${[...diffs].map(([v, d]) => `v${v} ${d.toExponential(2)}`).join(', ')}`);
  assert.ok(diffs.get(0)! < 1e-4, 'version 0 (the SFT weights it does hold) still matches');
  const later = [...diffs].filter(([v]) => v >= 2);
  assert.ok(later.length > 0 && later.every(([, d]) => d > 1e-3), `later versions mismatch: ${JSON.stringify(later)}`);
  assert.ok(r.learner.learner_sync_warnings_total! >= 1);
  assert.ok(r.logs.some((l) => /WARNING weight sync: samples of version \d+ differ/.test(l)), r.logs.join('\n'));
});

test('with learner.syncMismatchStop, a generator that keeps stale weights stops the run with the reason', async () => {
  const r = await run('stop', { broken: true, stop: 1e-3 });
  assert.ok(r.error instanceof SyncMismatchError, `run ended with ${String(r.error)}`);
  assert.match((r.error as Error).message, /version \d+ differ .* above learner\.syncMismatchStop 0\.001: generators are not sampling with the weights the learner published/);
  assert.ok(r.summary === undefined);
});
