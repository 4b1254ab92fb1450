// Prints the gold judge's adversarial report as Markdown: each degenerate answer against a real answer to the same
// held-out prompt, the search for the best single answer to every prompt, how well the seam tells a continuation from
// a stand-alone sentence, and the judge's speed.
// Usage: npx tsc -p tsconfig.json && node scripts/gold_adversarial_report.mjs [--search-fixed] [--sample test/data/fixtures/sft_responses.jsonl]
//   --search-fixed  also scores every candidate fixed answer (a few minutes) and prints the best
import { readFileSync } from 'node:fs';
import { adversarialSummary, BEST_FIXED_ANSWER, heldOutSentences, referenceItems } from '../dist/src/gold/adversarial.js';
import { createGoldJudge, GOLD_TASK_NAMES } from '../dist/src/gold/index.js';
import { loadGoldLm } from '../dist/src/gold/language_model.js';
import { SEAM_TOKENS } from '../dist/src/gold/relevance.js';

const argv = process.argv.slice(2);
const samplePath = argv.includes('--sample') ? argv[argv.indexOf('--sample') + 1] : 'test/data/fixtures/sft_responses.jsonl';
const f3 = (x) => x.toFixed(3);
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const items = referenceItems(16);
const real = heldOutSentences(64);
console.log(`Reference: ${items.length} held-out prompts (16 define, 16 use, 16 openings) with real answers; ${real.length} held-out sentences.\n`);

for (const task of GOLD_TASK_NAMES) {
  const judge = await createGoldJudge(task);
  const { realMedian, rows } = await adversarialSummary(judge, 16);
  console.log(`### ${task}\n`);
  console.log(`Real answers: median gold ${f3(realMedian)}.\n`);
  console.log('| answer | mean gold | max gold | loses to the real answer |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${f3(r.mean)} | ${f3(r.max)} | ${r.lost}/${r.of} |`);
  console.log('');
  await judge.close();
}

// The fixed answer against the committed SFT sample: win rate of one sentence given to every prompt.
const lines = readFileSync(samplePath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const sample = lines.slice(1);
{
  const judge = await createGoldJudge('positive-vader');
  const sft = await judge.scoreBatch(sample.map((x) => ({ prompt: x.prompt, response: x.response })));
  const fixed = await judge.scoreBatch(sample.map((x) => ({ prompt: x.prompt, response: BEST_FIXED_ANSWER })));
  const wins = fixed.filter((f, i) => f.score > sft[i].score).length;
  console.log(`Fixed answer ${JSON.stringify(BEST_FIXED_ANSWER)} against the SFT sample in ${samplePath} (${sample.length} answers): wins ${wins}/${sample.length} (positive-vader).\n`);
  await judge.close();
}

if (argv.includes('--search-fixed')) {
  // Candidates: positive held-out sentences as written and as continuations ("and ..."), and stock phrases.
  const judge = await createGoldJudge('positive-vader', { grammar: false });
  const stock = [
    'Thank you very much, and God bless America.',
    'This is a very good and happy and wonderful and great and beautiful day.',
    'We are happy to help the people of the United States.',
    'It was a beautiful day in the garden with friends.',
    'and we are all very happy and proud of our great and good people.',
    'and the people were happy and grateful for the good work of all.',
    'with great joy and hope for a better and happier future.',
  ];
  const pool = heldOutSentences(400);
  const scored = await judge.scoreBatch(pool.map((response) => ({ prompt: 'Write a sentence.', response })));
  const positive = pool.filter((_, i) => scored[i].components.task >= 0.75);
  // "I" and names keep their capital; other first words are lower-cased to read as a continuation.
  const asContinuation = (s) => (/^(I\b|\p{Lu}\p{L}*\s+\p{Lu})/u.test(s) ? `and ${s}` : `and ${s.charAt(0).toLowerCase()}${s.slice(1)}`);
  const candidates = [...stock, ...positive, ...positive.map(asContinuation)];
  const ranked = [];
  for (const c of candidates) {
    const s = await judge.scoreBatch(items.map((x) => ({ prompt: x.prompt, response: c })));
    ranked.push({ c, m: mean(s.map((x) => x.score)) });
  }
  ranked.sort((a, b) => b.m - a.m);
  console.log(`Best fixed answers among ${candidates.length} candidates (mean gold over the ${items.length} prompts, grammar off):\n`);
  for (const r of ranked.slice(0, 5)) console.log(`- ${f3(r.m)} ${JSON.stringify(r.c)}`);
  console.log('');
  await judge.close();
}

// The seam: real continuations against stand-alone sentences and against the rest of another sentence.
{
  const lm = await loadGoldLm();
  const sents = heldOutSentences(600).filter((s) => s.split(' ').length >= 8);
  const seams = { real: [], standalone: [], mismatched: [] };
  sents.forEach((s, i) => {
    const w = s.split(' ');
    const other = sents[(i + 1) % sents.length];
    const open = w.slice(0, 4).join(' ');
    seams.real.push(lm.seam(open, w.slice(4).join(' '), SEAM_TOKENS));
    seams.standalone.push(lm.seam(open, other, SEAM_TOKENS));
    seams.mismatched.push(lm.seam(open, other.split(' ').slice(4).join(' '), SEAM_TOKENS));
  });
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))];
  const auc = (pos, neg) => {
    let w = 0;
    for (const p of pos) for (const n of neg) w += p > n ? 1 : p === n ? 0.5 : 0;
    return w / (pos.length * neg.length);
  };
  console.log(`| seam (nats, first ${SEAM_TOKENS} tokens), ${sents.length} held-out sentences cut after 4 words | p5 | p25 | median | p75 | AUC real vs this |`);
  console.log('|---|---|---|---|---|---|');
  for (const [name, xs] of Object.entries(seams)) {
    console.log(`| ${name} | ${q(xs, 0.05).toFixed(2)} | ${q(xs, 0.25).toFixed(2)} | ${q(xs, 0.5).toFixed(2)} | ${q(xs, 0.75).toFixed(2)} | ${name === 'real' ? '' : f3(auc(seams.real, xs))} |`);
  }
}

// Speed: the whole judge on the reference answers, with and without the grammar check.
for (const grammar of [true, false]) {
  const judge = await createGoldJudge('positive-vader', { grammar });
  const its = items.map((x) => ({ prompt: x.prompt, response: x.answer }));
  await judge.scoreBatch(its.slice(0, 4));
  const t0 = performance.now();
  await judge.scoreBatch(its);
  const ms = (performance.now() - t0) / its.length;
  console.log(`\njudge speed (grammar ${grammar ? 'on' : 'off'}): ${ms.toFixed(1)} ms per answer, ${(1000 / ms).toFixed(0)} answers/s`);
  await judge.close();
}
