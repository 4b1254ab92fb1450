// Prints the gold judge's adversarial report as Markdown: old (formula version 1) and new gold scores of each
// degenerate answer, of held-out real sentences and of the committed SFT sample, then how well each language-model
// variant separates degenerate from real text, and the judge's speed.
// Usage: npx tsc -p tsconfig.json && node scripts/gold_adversarial_report.mjs [--sample test/data/fixtures/sft_responses.jsonl]
import { readFileSync } from 'node:fs';
import { sentencesOf, goldDocuments } from '../dist/src/data/corpus.js';
import { ADVERSARIAL_CASES, heldOutSentences, median, REAL_SENTENCE_PROMPT, versionOneScore } from '../dist/src/gold/adversarial.js';
import { createGoldJudge, GOLD_LM_OPTIONS, GOLD_TASK_NAMES } from '../dist/src/gold/index.js';
import { WordLm } from '../dist/src/gold/word_lm.js';

const argv = process.argv.slice(2);
const samplePath = argv.includes('--sample') ? argv[argv.indexOf('--sample') + 1] : 'test/data/fixtures/sft_responses.jsonl';
const lines = readFileSync(samplePath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const header = lines[0].header;
const sample = lines.slice(1);
const real = heldOutSentences(64);
const f3 = (x) => x.toFixed(3);

console.log(`SFT sample: ${sample.length} answers from ${samplePath} (sft ${String(header.sft).slice(0, 12)}, seed ${header.seed}); ${real.length} held-out sentences.\n`);
for (const task of GOLD_TASK_NAMES) {
  const judge = await createGoldJudge(task);
  const scores = async (items) => judge.scoreBatch(items);
  const sft = await scores(sample.map((x) => ({ prompt: x.prompt, response: x.response })));
  const sftOld = median(sft.map(versionOneScore));
  const sftNew = median(sft.map((s) => s.score));
  const realScores = await scores(real.map((response) => ({ prompt: REAL_SENTENCE_PROMPT, response })));
  const nonNegative = realScores.filter((s) => s.components.task >= 0.5);
  console.log(`### ${task}\n`);
  console.log('| answer | old gold (mean / max) | new gold (mean / max) | new: all below SFT median |');
  console.log('|---|---|---|---|');
  for (const c of ADVERSARIAL_CASES) {
    const got = await scores(sample.map((x, i) => ({ prompt: x.prompt, response: c.make(x.prompt, real[i % real.length]) })));
    const o = got.map(versionOneScore);
    const n = got.map((s) => s.score);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`| ${c.name} | ${f3(mean(o))} / ${f3(Math.max(...o))} | ${f3(mean(n))} / ${f3(Math.max(...n))} | ${n.every((x) => x < sftNew) ? 'yes' : `no (${n.filter((x) => x >= sftNew).length}/${n.length})`} |`);
  }
  const above = (xs, m) => `${xs.filter((x) => x > m).length}/${xs.length}`;
  console.log(`| **SFT answers (median)** | ${f3(sftOld)} | ${f3(sftNew)} | |`);
  console.log(`| held-out sentences, all (median; share above the SFT median) | ${f3(median(realScores.map(versionOneScore)))}; ${above(realScores.map(versionOneScore), sftOld)} | ${f3(median(realScores.map((s) => s.score)))}; ${above(realScores.map((s) => s.score), sftNew)} | |`);
  console.log(`| held-out sentences, task score >= 0.5 (median; share above) | ${f3(median(nonNegative.map(versionOneScore)))}; ${above(nonNegative.map(versionOneScore), sftOld)} | ${f3(median(nonNegative.map((s) => s.score)))}; ${above(nonNegative.map((s) => s.score), sftNew)} | |`);
  console.log('');
  await judge.close();
}

// Which fluency measure separates degenerate answers from real sentences: AUC = P(real scores above degenerate).
const auc = (pos, neg) => {
  let w = 0;
  for (const p of pos) for (const n of neg) w += p > n ? 1 : p === n ? 0.5 : 0;
  return w / (pos.length * neg.length);
};
const degenerate = ADVERSARIAL_CASES.filter((c) => c.name !== 'empty answer').flatMap((c) => sample.slice(0, 16).map((x, i) => [x.prompt, c.make(x.prompt, real[i])]));
const sentences = sentencesOf(goldDocuments());
console.log(`| fluency measure (fitted on ${sentences.length} gold-split sentences) | AUC real vs degenerate | median real | median degenerate | median SFT | fit s |`);
console.log('|---|---|---|---|---|---|');
for (const order of [2, 3, 4]) {
  const t0 = performance.now();
  const lm = WordLm.fit(sentences, { ...GOLD_LM_OPTIONS, order });
  const fit = (performance.now() - t0) / 1000;
  for (const [name, f] of [['SLOR', (s) => s.slor], ['-perplexity', (s) => -s.perplexity]]) {
    const r = real.map((x) => f(lm.score(REAL_SENTENCE_PROMPT, x)));
    const d = degenerate.map(([p, x]) => f(lm.score(p, x)));
    const s = sample.map((x) => f(lm.score(x.prompt, x.response)));
    console.log(`| ${order}-gram KN ${name} | ${f3(auc(r, d))} | ${median(r).toFixed(2)} | ${median(d).toFixed(2)} | ${median(s).toFixed(2)} | ${fit.toFixed(1)} |`);
  }
}

// Speed: the whole judge on the SFT sample, with and without the grammar check.
for (const grammar of [true, false]) {
  const judge = await createGoldJudge('positive-vader', { grammar });
  const items = sample.map((x) => ({ prompt: x.prompt, response: x.response }));
  await judge.scoreBatch(items.slice(0, 4));
  const t0 = performance.now();
  await judge.scoreBatch(items);
  const ms = (performance.now() - t0) / items.length;
  console.log(`\njudge speed (grammar ${grammar ? 'on' : 'off'}): ${ms.toFixed(1)} ms per answer, ${(1000 / ms).toFixed(0)} answers/s`);
  await judge.close();
}
