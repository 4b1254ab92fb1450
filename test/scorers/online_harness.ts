// The online stage with each kind of scorer on a given bus, and its accounting: shared by the in-process and the NATS suites.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { BtScorer, PairwiseScorer, tokenizerCodec } from '../../src/actors/compute/scorer.js';
import { startLocalCluster } from '../../src/run/local_cluster.js';
import type { ScorerPort } from '../../src/actors/ports.js';
import type { Config } from '../../src/config/index.js';
import { initBackend } from '../../src/kernels/backend.js';
import { initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import { createScorerPort, scorerSeed } from '../../src/scorers/registry.js';
import type { Bus } from '../../src/streams/bus.js';
import { config, decode, FakeLearnerPort, FakePolicy, prompts } from '../actors/fakes.js';
import { startFakeLlm } from '../helpers/fake_llm.js';
import { startHttpServer, type TestServer } from '../helpers/http_server.js';

const GPT: GptConfig = { vocabSize: 40, contextLength: 32, layers: 1, dModel: 16, heads: 2, dropout: 0, positional: 'learned' };
const S = { bos: 32, eos: 33, pad: 34, prompt: 35, response: 36, context: 37, responseA: 38, responseB: 39 };
export const PROMPTS = 12;
export const K = 4;

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

const dir = mkdtempSync(join(tmpdir(), 'rlhf-online-scorers-'));
const modulePath = join(dir, 'vowels.mjs');
writeFileSync(modulePath, "export function score(prompt, responses) { return responses.map((r) => (r.match(/[aeiou]/g) ?? []).length + r.length / 100); }\n");

export type Kind = 'bt' | 'pairwise' | 'http-reward' | 'llm-judge' | 'module';

/** The judge.* / section overrides of a kind, and the servers it talks to. */
export async function settingsFor(kind: Kind): Promise<{ sections: Record<string, Record<string, unknown>>; requests: () => number }> {
  if (kind === 'http-reward') {
    const s = await startHttpServer((r) => ({ json: { rewards: (r.body as { query: string[] }).query.map((q) => q.charCodeAt(q.length - 1)) } }));
    servers.push(s);
    return { sections: { judge: { scorer: kind, url: `${s.url}/get_reward` }, httpReward: { format: 'openrlhf' } }, requests: () => s.received.length };
  }
  if (kind === 'llm-judge') {
    const s = await startFakeLlm();
    servers.push(s);
    return { sections: { judge: { scorer: kind, url: s.url }, llmJudge: { model: 'fake-judge' } }, requests: () => s.received.length };
  }
  if (kind === 'module') return { sections: { judge: { scorer: kind }, scorerModule: { path: modulePath } }, requests: () => 0 };
  return { sections: { judge: { scorer: kind }, rm: { kind } }, requests: () => 0 };
}

export async function runWith(kind: Kind, cfg: Config, bus: Bus): Promise<void> {
  await initBackend('wasm');
  const model = initGpt(GPT, 5, 'scalar');
  const proxy = (): ScorerPort => (cfg.rm.kind === 'bt' ? new BtScorer(model, S, 'bt@test') : new PairwiseScorer(model, S, 'pairwise@test'));
  const ports: ScorerPort[] = [];
  const learner = new FakeLearnerPort(1);
  const cluster = await startLocalCluster(
    cfg,
    bus,
    {
      policy: () => new FakePolicy(2),
      scorer: async (i) => {
        const p = await createScorerPort(cfg, { proxy, codec: tokenizerCodec(decode, S), seed: scorerSeed(1, i), env: {} });
        ports.push(p);
        return p;
      },
      learner,
      decode,
    },
    { prompts: prompts(PROMPTS), checkpointDir: join(dir, `ck-${kind}-${Date.now()}`) },
  );
  const s = await cluster.done;
  const groups = cluster.generators.reduce((n, g) => n + g.groupsPublished, 0);
  assert.equal(groups, s.promptsPublished, `${kind}: one group per prompt published (${s.promptsPublished})`);
  // Every group judged exactly once: settled once across judges, and paired or tied, never both, never dead-lettered.
  const settled = cluster.judges.reduce((n, j) => n + j.groupsSettled, 0);
  assert.equal(settled, groups, `${kind}: groups settled`);
  assert.equal(s.pairs + s.ties, groups, `${kind}: pairs ${s.pairs} + ties ${s.ties}`);
  assert.equal(s.samplesScored, groups * K);
  // A last partial learner batch may stay untrained; the learner never trains more pairs than were made.
  assert.ok(s.pairsTrained <= s.pairs);
  const judged = Object.entries(s.metrics).filter(([id]) => id.startsWith('judge-')).map(([, m]) => m);
  assert.equal(judged.reduce((n, m) => n + (m.judge_groups_total ?? 0), 0), groups);
  assert.equal(judged.reduce((n, m) => n + (m.judge_groups_bad_reply_total ?? 0), 0), 0);
  if (kind === 'pairwise' || kind === 'llm-judge') {
    const comparisons = judged.reduce((n, m) => n + (m.judge_comparisons_total ?? 0), 0);
    assert.equal(comparisons, groups * (K - 1 + K / 2 - 1), `${kind}: the tournament's comparisons`);
  }
  assert.ok(s.pairs > 0, `${kind}: some pairs`);
  const trained = learner.trained.flatMap((b) => b.pairIds);
  assert.equal(new Set(trained).size, trained.length, `${kind}: no pair trained twice`);
  for (const p of ports) await p.close();
}

export const kinds: Kind[] = ['bt', 'pairwise', 'http-reward', 'llm-judge', 'module'];
export const baseCfg = (sections: Record<string, Record<string, unknown>>, bus: Record<string, unknown> = {}): Config =>
  config({
    ...sections,
    judge: { count: 2, batchSize: 8, ...sections.judge },
    bus: { ackWaitMs: 5000, ...bus },
    run: { mode: 'streaming', prompts: PROMPTS },
    generator: { count: 2, samplesPerPrompt: K, promptsPerBatch: 2, maxNewTokens: 5 },
    learner: { batchSize: 2, publishEvery: 1, checkpointEvery: 100, totalSteps: 1000, maxPolicyLag: 4 },
    monitor: { intervalMs: 50 },
  });

