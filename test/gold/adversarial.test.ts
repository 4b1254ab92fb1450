// The adversarial suite: degenerate answers a policy can drift to score below a real answer to the same held-out prompt
// (a WordNet gloss or example of a word no policy trains on, the rest of a held-out sentence), on both tasks.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADVERSARIAL_CASES, caseContext, heldOutSentences, median, REAL_SENTENCE_PROMPT, referenceItems, type ReferenceItem } from '../../src/gold/adversarial.js';
import { createGoldJudge, GOLD_TASK_NAMES, type GoldJudge } from '../../src/gold/index.js';

const judges = new Map<string, GoldJudge>();
/** Per task: the reference items whose real answer is not negative, with its score. */
const kept = new Map<string, { item: ReferenceItem; index: number; score: number }[]>();
let items: ReferenceItem[] = [];
let real: string[] = [];
before(async () => {
  real = heldOutSentences(40);
  items = referenceItems(12);
  for (const task of GOLD_TASK_NAMES) {
    const judge = await createGoldJudge(task);
    judges.set(task, judge);
    const scores = await judge.scoreBatch(items.map((x) => ({ prompt: x.prompt, response: x.answer })));
    kept.set(task, items.flatMap((item, index) => (scores[index]!.components.task! >= 0.5 ? [{ item, index, score: scores[index]!.score }] : [])));
  }
});
after(async () => {
  for (const j of judges.values()) await j.close();
});

test('the reference set holds every prompt kind, with mostly non-negative real answers', () => {
  for (const kind of ['define', 'use', 'opening'] as const) assert.equal(items.filter((x) => x.kind === kind).length, 12, kind);
  for (const task of GOLD_TASK_NAMES) assert.ok(kept.get(task)!.length >= 24, `${task}: ${kept.get(task)!.length} of ${items.length} kept`);
});

for (const task of GOLD_TASK_NAMES) {
  test(`${task}: every degenerate answer scores below the real answer to its prompt`, async () => {
    const judge = judges.get(task)!;
    for (const c of ADVERSARIAL_CASES.filter((x) => x.strict)) {
      for (const { item, index, score } of kept.get(task)!) {
        const response = c.make(item.prompt, caseContext(items, index, real));
        const s = await judge.score(item.prompt, response);
        assert.ok(s.score < score, `${c.name}: ${JSON.stringify(response)} to ${JSON.stringify(item.prompt)} scores ${s.score.toFixed(3)}, the real answer ${JSON.stringify(item.answer)} ${score.toFixed(3)} (${JSON.stringify(s.components)})`);
      }
    }
  });

  test(`${task}: the harder probes, the best fixed answer among them, lose to the real answer nine times in ten`, async () => {
    const judge = judges.get(task)!;
    const refs = kept.get(task)!;
    for (const c of ADVERSARIAL_CASES.filter((x) => !x.strict)) {
      const got = await judge.scoreBatch(refs.map(({ item, index }) => ({ prompt: item.prompt, response: c.make(item.prompt, caseContext(items, index, real)) })));
      const wins = refs.filter((r, i) => got[i]!.score >= r.score);
      assert.ok(wins.length <= refs.length / 10, `${c.name}: ${wins.length} of ${refs.length} at or above the real answer: ${wins.map((w) => w.item.prompt).join('; ')}`);
    }
  });

  // A real sentence can still lose: rare words the gold language model predicts little better than their frequency
  // give a low naturalness. The miss rate on real text is bounded here and stated in docs/gold_tasks.md.
  test(`${task}: held-out sentences that are not negative score above every degenerate text, all but one in 25`, async () => {
    const judge = judges.get(task)!;
    const scores = await judge.scoreBatch(real.map((response) => ({ prompt: REAL_SENTENCE_PROMPT, response })));
    const ok = scores.flatMap((s, i) => (s.components.task! >= 0.5 ? [{ score: s.score, text: real[i]! }] : []));
    const cases = ADVERSARIAL_CASES.filter((c) => c.strict && !c.offTopic);
    const degenerate = await judge.scoreBatch(cases.map((c, i) => ({ prompt: REAL_SENTENCE_PROMPT, response: c.make(REAL_SENTENCE_PROMPT, caseContext(items, i, real)) })));
    const best = Math.max(...degenerate.map((s) => s.score));
    assert.ok(ok.length >= 20, `${ok.length} of ${real.length} held-out sentences are not negative`);
    const below = ok.filter((x) => x.score <= best);
    assert.ok(below.length <= Math.floor(ok.length / 25), `${below.length} of ${ok.length} at or below the best degenerate text ${best.toFixed(3)}: ${below.map((x) => `${x.score.toFixed(3)} ${JSON.stringify(x.text)}`).join('; ')}`);
    assert.ok(median(ok.map((x) => x.score)) > 2 * best, `held-out median ${median(ok.map((x) => x.score)).toFixed(3)}, best degenerate text ${best.toFixed(3)}`);
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
