// The weight-sync check on its own: which pairs it checks, and what it measures for samples of the right and wrong weights.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeWeights, LocalPolicy, sampleGroups } from '../../src/actors/compute/local_policy.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { sampleMismatch, SyncChecker } from '../../src/actors/sync_check.js';
import { initBackend } from '../../src/kernels/backend.js';
import { initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import { encodeLogprobs } from '../../src/streams/behaviour_logprobs.js';
import type { PairMsg, PairSide } from '../../src/streams/topics.js';
import { bus as makeBus } from './fakes.js';

const GPT: GptConfig = { vocabSize: 32, contextLength: 16, layers: 1, dModel: 32, heads: 2, dropout: 0, positional: 'learned' };
const SPECIAL = { eos: 30, pad: 31 };
const PROMPT = [1, 9, 9];

test('sampleMismatch: mean absolute per-token difference and the log of the implied sequence ratio', () => {
  const r = sampleMismatch([-1, -2, -0.5], new Float32Array([-1.5, -2, 0]));
  assert.ok(Math.abs(r.meanAbsDiff - 1 / 3) < 1e-12);
  assert.ok(Math.abs(r.logRatio - 0) < 1e-12, 'differences of opposite sign cancel in the ratio, not in the mean');
  assert.equal(r.tokens, 3);
});

/** Samples responses with `model`'s weights and makes pairs that claim `version`. */
function pairs(model: ReturnType<typeof initGpt>, version: number, n: number, tag: string, extra: Partial<PairSide> = {}): PairMsg[] {
  const r = sampleGroups(model, Array.from({ length: n }, () => PROMPT), 2, { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1, seed: version + 7 }, SPECIAL);
  return r.tokens.map((group, i) => {
    const side = (k: number): PairSide => ({
      sampleId: `${tag}${i}:${k}`,
      responseTokens: group[k]!,
      text: '',
      score: k === 0 ? 1 : 0,
      policyVersion: version,
      behaviourLogprobs: encodeLogprobs(r.logprobs![i]![k]!),
      ...extra,
    });
    return { type: 'pair', v: 1, runId: 'test', pairId: `${tag}${i}`, promptId: `p${i}`, groupId: `g${i}`, promptTokens: PROMPT, chosen: side(0), rejected: side(1), judgeId: 'j', judgeModel: 'm', margin: 1, createdAt: 1 };
  });
}

test('checks the first pair of each version and a share of the rest; sampling with the wrong weights shows and warns', async () => {
  await initBackend('wasm');
  const sft = initGpt(GPT, 11);
  const trained = initGpt(GPT, 12);
  const bus = makeBus('test');
  await bus.weights.put(1, 10, encodeWeights(trained));
  const metrics = new MetricsRegistry();
  const logs: string[] = [];
  const check = new SyncChecker({ weights: bus.weights, policy: new LocalPolicy(initGpt(GPT, 11), SPECIAL), metrics, log: (l) => logs.push(l) }, { share: 0, warn: 0.01, stop: 0.05 });
  try {
    // Version 0 sampled with the SFT weights: in sync. Share 0: only the first pair of the version is checked.
    for (const p of pairs(sft, 0, 4, 'a')) check.offer(p);
    await check.idle();
    assert.equal(metrics.snapshot().learner_sync_samples_checked_total, 2);
    const v0 = check.perVersion().get(0)!;
    assert.ok(v0.meanAbsDiff < 1e-5, `in sync: ${v0.meanAbsDiff}`);
    assert.ok(Math.abs(Math.log(v0.seqRatio)) < 1e-4);
    assert.equal(check.failure, undefined);

    // Samples that claim version 1 but were drawn with the SFT weights (a generator that never loaded it).
    for (const p of pairs(sft, 1, 2, 'b')) check.offer(p);
    await check.idle();
    const v1 = check.perVersion().get(1)!;
    assert.ok(v1.meanAbsDiff > 0.05, `out of sync: ${v1.meanAbsDiff}`);
    const snap = metrics.snapshot();
    assert.equal(snap.learner_sync_logprob_diff_version_1, v1.meanAbsDiff);
    assert.equal(snap.learner_sync_seq_ratio_version_1, v1.seqRatio);
    assert.equal(snap.learner_sync_warnings_total, 1);
    assert.match(logs.join('\n'), /WARNING weight sync: samples of version 1 differ/);
    assert.match(String((check.failure as Error | undefined)?.message), /above learner\.syncMismatchStop 0\.05/);

    // Samples sampled under several versions (in-flight updates) have no one version to check; they are counted.
    for (const p of pairs(trained, 1, 1, 'c', { lastPolicyVersion: 2 })) check.offer(p);
    await check.idle();
    assert.equal(metrics.snapshot().learner_sync_samples_unchecked_total, 2);
  } finally {
    await bus.close();
  }
});

test('share 1 checks every pair unless too many wait; drawing with the published version is in sync', async () => {
  await initBackend('wasm');
  const trained = initGpt(GPT, 12);
  const bus = makeBus('test');
  await bus.weights.put(1, 10, encodeWeights(trained));
  const metrics = new MetricsRegistry();
  const check = new SyncChecker({ weights: bus.weights, policy: new LocalPolicy(initGpt(GPT, 11), SPECIAL), metrics, log: () => {} }, { share: 1, warn: 0.01, stop: 0, maxQueued: 3 });
  try {
    // Offered at once: the first pair and two more queue, the rest are skipped (the learner never waits on a backlog).
    for (const p of pairs(trained, 1, 5, 'd')) check.offer(p);
    await check.idle();
    assert.equal(metrics.snapshot().learner_sync_samples_checked_total, 6);
    assert.equal(metrics.snapshot().learner_sync_checks_skipped_total, 2);
    for (const p of pairs(trained, 1, 2, 'e')) {
      check.offer(p);
      await check.idle();
    }
    assert.equal(metrics.snapshot().learner_sync_samples_checked_total, 10);
    assert.ok(check.perVersion().get(1)!.meanAbsDiff < 1e-5);
    assert.equal(metrics.snapshot().learner_sync_warnings_total ?? 0, 0);
  } finally {
    await bus.close();
  }
});
