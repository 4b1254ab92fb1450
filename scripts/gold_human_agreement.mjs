// Prints how often the gold judge agrees with a person's choice between two answers, per task and file, with the misses.
// Usage: npx tsc -p tsconfig.json && node scripts/gold_human_agreement.mjs [pairs.jsonl ...]
//   default files: test/data/fixtures/human_prefs/positive.jsonl and positive_blind.jsonl
import { createGoldJudge, GOLD_TASK_NAMES, humanAgreement, readHumanPairs } from '../dist/src/gold/index.js';

const files = process.argv.slice(2);
if (files.length === 0) files.push('test/data/fixtures/human_prefs/positive.jsonl', 'test/data/fixtures/human_prefs/positive_blind.jsonl');
const cut = (s) => JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
console.log('| task | file | agreed | share |');
console.log('|---|---|---|---|');
const misses = [];
for (const task of GOLD_TASK_NAMES) {
  const judge = await createGoldJudge(task);
  for (const file of files) {
    const r = await humanAgreement(judge, readHumanPairs(file));
    console.log(`| ${task} | ${file} | ${r.agreed}/${r.pairs} | ${((100 * r.agreed) / r.pairs).toFixed(1)}% |`);
    for (const m of r.misses) misses.push(`- ${task}, ${cut(m.pair.prompt)}: a ${cut(m.pair.a)} ${m.a.toFixed(3)}, b ${cut(m.pair.b)} ${m.b.toFixed(3)}; the person chose ${m.pair.prefer} (${m.pair.why})`);
  }
  await judge.close();
}
console.log(misses.length === 0 ? '\nNo misses.' : `\nMisses:\n${misses.join('\n')}`);
