// Prints how often the gold judge agrees with a person's choice between two answers, per task and file, with the misses.
// Usage: npx tsc -p tsconfig.json && node scripts/gold_human_agreement.mjs [pairs.jsonl ...]
//   default: each task's own files (src/gold/tasks/human_prefs/, named by the task)
import { createGoldJudge, GOLD_TASK_NAMES, goldTask, humanAgreement, humanPairsPath, readHumanPairs } from '../dist/src/gold/index.js';

const given = process.argv.slice(2);
const cut = (s) => JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
console.log('| task | file | agreed | share |');
console.log('|---|---|---|---|');
const misses = [];
for (const task of GOLD_TASK_NAMES) {
  const judge = await createGoldJudge(task);
  for (const file of given.length > 0 ? given : goldTask(task).humanPairs.map(humanPairsPath)) {
    const r = await humanAgreement(judge, readHumanPairs(file));
    console.log(`| ${task} | ${file.replace(`${process.cwd()}/`, '')} | ${r.agreed}/${r.pairs} | ${((100 * r.agreed) / r.pairs).toFixed(1)}% |`);
    for (const m of r.misses) misses.push(`- ${task}, ${cut(m.pair.prompt)}: a ${cut(m.pair.a)} ${m.a.toFixed(3)}, b ${cut(m.pair.b)} ${m.b.toFixed(3)}; the person chose ${m.pair.prefer} (${m.pair.why})`);
  }
  await judge.close();
}
console.log(misses.length === 0 ? '\nNo misses.' : `\nMisses:\n${misses.join('\n')}`);
