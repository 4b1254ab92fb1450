// Preference data: labels follow the gold judge, ties are dropped, noise behaves as Bradley-Terry, splits are by prompt, caching works.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createGoldJudge, type GoldJudge } from '../../src/gold/index.js';
import { Rng } from '../../src/kernels/rng.js';
import {
  buildPreferenceData,
  labelDataset,
  labelPairs,
  loadPreferenceData,
  splitByPrompt,
  type PreferenceSources,
  type PromptGroup,
} from '../../src/train/preference_data.js';
import { tinyConfig } from './fixtures.js';

let judge: GoldJudge;
before(async () => {
  judge = await createGoldJudge('positive-vader');
});
after(async () => {
  await judge.close();
});

const group = (id: string, golds: number[]): PromptGroup => ({
  promptId: id,
  prompt: `prompt ${id}`,
  promptTokens: [1, 2],
  responses: golds.map((gold, i) => ({ text: `r${i}`, tokens: [10 + i], gold, finished: true })),
});

test('deterministic labels prefer the higher gold score and drop ties', () => {
  const pairs = labelPairs(group('a', [0.2, 0.9, 0.2, 0.5]), { noise: 'none', temperature: 1, minMargin: 1e-6 }, new Rng(1));
  assert.equal(pairs.length, 5); // C(4, 2) = 6 pairs, one tie (0.2 vs 0.2)
  for (const p of pairs) {
    assert.ok(p.chosen.gold > p.rejected.gold);
    assert.equal(p.agreesWithGold, true);
  }
});

test('Bradley-Terry label noise: agreement is sigmoid(gap / T)', () => {
  const groups = Array.from({ length: 400 }, (_, i) => group(`g${i}`, [0.6, 0.4]));
  const rate = (temperature: number) => {
    const ds = labelDataset(groups, { noise: 'bradley-terry', temperature, minMargin: 1e-6 }, 0, 5);
    return ds.train.filter((p) => p.agreesWithGold).length / ds.train.length;
  };
  assert.equal(rate(1e-4), 1);
  const expected = 1 / (1 + Math.exp(-0.2 / 0.2)); // 0.731
  assert.ok(Math.abs(rate(0.2) - expected) < 0.06, `agreement ${rate(0.2)} vs ${expected}`);
  assert.ok(Math.abs(rate(100) - 0.5) < 0.08, `agreement ${rate(100)}`);
});

test('held-out pairs come from prompts disjoint from the train pairs and keep gold labels under noise', () => {
  const groups = Array.from({ length: 50 }, (_, i) => group(`g${i}`, [0.1, 0.5, 0.9]));
  const split = splitByPrompt(groups, 0.2, 9);
  assert.equal(split.heldOut.length, 10);
  const trainIds = new Set(split.train.map((g) => g.promptId));
  assert.ok(split.heldOut.every((g) => !trainIds.has(g.promptId)));
  const ds = labelDataset(groups, { noise: 'bradley-terry', temperature: 1, minMargin: 1e-6 }, 0.2, 9);
  assert.ok(ds.heldOut.every((p) => p.agreesWithGold && p.chosen.gold > p.rejected.gold));
  assert.ok(ds.train.some((p) => !p.agreesWithGold), 'T = 1 on gaps <= 0.8 must flip some train labels');
});

test('built pairs follow the real gold judge, are saved as JSONL, and a second build is reused', async () => {
  const responses = ['I love this wonderful, happy day with my friends.', 'This is a terrible, awful and sad day.', 'It was a day.'];
  const prompts = Array.from({ length: 6 }, (_, i) => ({ id: `p${i}`, text: 'Tell me about your day.' }));
  const src: PreferenceSources = {
    prompts,
    encodePrompt: (t) => [1, t.length],
    decode: (ids) => responses[ids[0]!]!,
    // Each prompt gets the same three responses, in a rotated order so position carries no information.
    sample: async (ps, k, _seed) => ({
      tokens: ps.map((_, p) => Array.from({ length: k }, (_, r) => [(p + r) % responses.length])),
      finished: ps.map(() => Array.from({ length: k }, () => true)),
    }),
    gold: async (prompt, response) => (await judge.score(prompt, response)).score,
  };
  const cfg = tinyConfig({ rm: { responsesPerPrompt: 3, heldOutFraction: 0.34, prompts: 6 } });
  const lines: string[] = [];
  const first = await buildPreferenceData(cfg, src, 'sft-hash-1', { log: (l) => lines.push(l), progress: false });
  assert.equal(first.reused, false);
  for (const f of ['train.jsonl', 'heldout.jsonl', 'groups.jsonl', 'manifest.json']) assert.ok(existsSync(join(first.dir, f)), f);
  const ds = loadPreferenceData(first.dir);
  assert.equal(ds.train.length + ds.heldOut.length, 6 * 3);
  assert.equal(ds.heldOut.length, 2 * 3);
  const gold = await Promise.all(responses.map(async (r) => (await judge.score('Tell me about your day.', r)).score));
  assert.ok(gold[0]! > gold[2]! && gold[2]! > gold[1]!, `gold scores ${gold}`);
  for (const p of [...ds.train, ...ds.heldOut]) {
    const c = responses.indexOf(p.chosen.text);
    const r = responses.indexOf(p.rejected.text);
    assert.ok(gold[c]! > gold[r]!, `chosen "${p.chosen.text}" over "${p.rejected.text}"`);
    assert.equal(p.chosen.gold, gold[c]);
  }
  const second = await buildPreferenceData(cfg, src, 'sft-hash-1', { log: (l) => lines.push(l), progress: false });
  assert.equal(second.reused, true);
  assert.ok(lines.some((l) => l.includes('reusing')));
  const third = await buildPreferenceData(cfg, src, 'sft-hash-2', { log: () => {}, progress: false });
  assert.equal(third.reused, false, 'a new SFT model means new preference data');
});
