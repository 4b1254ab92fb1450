// The adversarial suite: degenerate answers a policy can drift to score below the SFT policy's median gold score,
// while real held-out sentences score above it. The SFT median is computed here from a committed sample of SFT answers
// to held-out prompts (test/data/fixtures/sft_responses.jsonl, written by scripts/sample_sft_responses.mjs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { ADVERSARIAL_CASES, heldOutSentences, median, REAL_SENTENCE_PROMPT } from '../../src/gold/adversarial.js';
import { createGoldJudge, GOLD_TASK_NAMES, type GoldJudge } from '../../src/gold/index.js';

interface SampleRow {
  prompt: string;
  response: string;
}

const rows = readFileSync(new URL('../../../test/data/fixtures/sft_responses.jsonl', import.meta.url), 'utf8').trim().split('\n').slice(1);
const SAMPLE = rows.map((l) => JSON.parse(l) as SampleRow);
/** Prompts the degenerate answers are given for: the sample's first eight (openings and instructions). */
const PROMPTS = SAMPLE.slice(0, 8).map((r) => r.prompt);

const judges = new Map<string, GoldJudge>();
const sftMedian = new Map<string, number>();
let real: string[] = [];
before(async () => {
  real = heldOutSentences(40);
  for (const task of GOLD_TASK_NAMES) {
    const judge = await createGoldJudge(task);
    judges.set(task, judge);
    sftMedian.set(task, median((await judge.scoreBatch(SAMPLE)).map((s) => s.score)));
  }
});
after(async () => {
  for (const j of judges.values()) await j.close();
});

test('the SFT sample is a real sample: enough answers, mostly non-empty', () => {
  assert.ok(SAMPLE.length >= 32, `${SAMPLE.length} answers`);
  assert.ok(SAMPLE.filter((r) => r.response.trim() !== '').length >= SAMPLE.length * 0.9);
  // A median near 0 would make "below the median" say nothing.
  for (const task of GOLD_TASK_NAMES) assert.ok(sftMedian.get(task)! > 0.02, `${task}: SFT median ${sftMedian.get(task)}`);
});

for (const task of GOLD_TASK_NAMES) {
  test(`${task}: every degenerate answer scores below the SFT median`, async () => {
    const judge = judges.get(task)!;
    const m = sftMedian.get(task)!;
    for (const c of ADVERSARIAL_CASES.filter((x) => x.strict)) {
      for (const [i, prompt] of PROMPTS.entries()) {
        const response = c.make(prompt, real[i]!);
        const s = await judge.score(prompt, response);
        assert.ok(s.score < m, `${c.name}: ${JSON.stringify(response)} to ${JSON.stringify(prompt)} scores ${s.score.toFixed(3)}, SFT median ${m.toFixed(3)} (${JSON.stringify(s.components)})`);
      }
    }
  });

  test(`${task}: the harder probes score below the SFT median nine times in ten, and on average`, async () => {
    const judge = judges.get(task)!;
    const m = sftMedian.get(task)!;
    for (const c of ADVERSARIAL_CASES.filter((x) => !x.strict)) {
      const items = SAMPLE.slice(0, 20).map((r, i) => ({ prompt: r.prompt, response: c.make(r.prompt, real[i]!) }));
      const scores = (await judge.scoreBatch(items)).map((s) => s.score);
      const above = scores.filter((x) => x >= m).length;
      assert.ok(above <= scores.length / 10, `${c.name}: ${above} of ${scores.length} at or above the SFT median ${m.toFixed(3)}`);
      assert.ok(scores.reduce((a, b) => a + b, 0) / scores.length < m, `${c.name}: mean above the SFT median`);
    }
  });

  // A real sentence can still lose: with the default SFT policy, "Closing our eyes will not make reality disappear."
  // gets naturalness 0.10 (rare words the gold split's trigram model predicts little better than their frequency).
  // The judge's miss rate on real text is bounded here and stated in docs/gold_tasks.md.
  test(`${task}: held-out sentences that are not negative score above the SFT median, all but one in 25`, async () => {
    const judge = judges.get(task)!;
    const m = sftMedian.get(task)!;
    const scores = await judge.scoreBatch(real.map((response) => ({ prompt: REAL_SENTENCE_PROMPT, response })));
    const kept = scores.map((s, i) => ({ s, text: real[i]! })).filter((x) => x.s.components.task! >= 0.5);
    assert.ok(kept.length >= 20, `${kept.length} of ${real.length} held-out sentences are not negative`);
    const below = kept.filter((x) => x.s.score <= m);
    assert.ok(below.length <= Math.floor(kept.length / 25), `${below.length} of ${kept.length} below the SFT median ${m.toFixed(3)}: ${below.map((x) => `${x.s.score.toFixed(3)} ${JSON.stringify(x.text)}`).join('; ')}`);
    const keptMedian = median(kept.map((x) => x.s.score));
    assert.ok(keptMedian > 2 * m, `held-out median ${keptMedian.toFixed(3)} is not well above the SFT median ${m.toFixed(3)}`);
  });

  test(`${task}: among sensible answers, the order follows sentiment`, async () => {
    const judge = judges.get(task)!;
    const answers = [
      'It was a wonderful day, and everyone in the town was happy to see the spring.',
      'It was a quiet day, and most people in the town stayed at home.',
      'It was a terrible day, and everyone in the town was sad and afraid.',
    ];
    const [good, plain, bad] = (await judge.scoreBatch(answers.map((response) => ({ prompt: REAL_SENTENCE_PROMPT, response })))).map((s) => s.score);
    assert.ok(good! > plain! && plain! > bad!, `positive ${good}, neutral ${plain}, negative ${bad}`);
  });
}
