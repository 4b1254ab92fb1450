// How well the SFT policy answers: it samples one answer per eval prompt with the run's sampling settings, scores every
// answer with the gold judge, and prints the median fluency against that of held-out real sentences, the share of
// answers that are sentences, and answers drawn by a fixed seed (not chosen by hand).
// Usage: npx tsc -p tsconfig.json && node scripts/sft_answers.mjs --config config/default.yaml [--set k=v ...]
//          [--prompts 128] [--show 10] [--temperature T] [--seed 1]
import { loadConfig } from '../dist/src/config/index.js';
import { startBackend } from '../dist/src/cli/common.js';
import { loadData } from '../dist/src/data/build.js';
import { formatPrompt } from '../dist/src/data/template.js';
import { hashOrder } from '../dist/src/data/text.js';
import { createGoldJudge } from '../dist/src/gold/index.js';
import { heldOutSentences, median, REAL_SENTENCE_PROMPT } from '../dist/src/gold/adversarial.js';
import { disposeModel } from '../dist/src/kernels/gpt.js';
import { generate } from '../dist/src/kernels/sampling.js';
import { loadPolicy } from '../dist/src/models/policy_source.js';
import { sftDir } from '../dist/src/train/sft.js';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? def : argv[i + 1];
};
const sets = argv.flatMap((a, i) => (a === '--set' ? [argv[i + 1]] : []));
const cfg = loadConfig({ file: opt('config', 'config/default.yaml'), overrides: sets });
await startBackend(cfg, () => {});
const data = loadData(cfg);
const { model, tokenizer } = await loadPolicy(sftDir(cfg));
const n = Number(opt('prompts', 128));
const seed = Number(opt('seed', 1));
const prompts = data.prompts.eval.slice(0, n);
const temperature = Number(opt('temperature', cfg.generator.temperature));
const out = generate(
  model,
  prompts.map((p) => formatPrompt(tokenizer, p.text)),
  { maxNewTokens: cfg.generator.maxNewTokens, temperature, topK: 0, topP: cfg.generator.topP, eosId: tokenizer.special.eos, padId: tokenizer.special.pad, seed },
);
disposeModel(model);
const answers = out.tokens.map((ids) => tokenizer.decode(ids.filter((t) => t !== tokenizer.special.eos)).trim());

const judge = await createGoldJudge(cfg.data.task);
const scores = await judge.scoreBatch(prompts.map((p, i) => ({ prompt: p.text, response: answers[i] })));
const real = heldOutSentences(n);
const realScores = await judge.scoreBatch(real.map((s) => ({ prompt: REAL_SENTENCE_PROMPT, response: s })));
await judge.close();

const f = (x) => x.toFixed(3);
const sftFluency = median(scores.map((s) => s.components.fluency));
const realFluency = median(realScores.map((s) => s.components.fluency));
console.log(`SFT ${sftDir(cfg)}, ${prompts.length} eval prompts, temperature ${temperature}, top-p ${cfg.generator.topP}, seed ${seed}`);
console.log(`median fluency: SFT answers ${f(sftFluency)}, held-out real sentences ${f(realFluency)} (ratio ${f(sftFluency / realFluency)})`);
console.log(`median gold: SFT answers ${f(median(scores.map((s) => s.score)))}; relevance ${f(median(scores.map((s) => s.components.relevance)))}`);
console.log(`answers that end a sentence within ${cfg.generator.maxNewTokens} tokens: ${answers.filter((a, i) => out.finished[i] && /[.!?]$/.test(a)).length}/${answers.length}`);
for (const kind of ['define', 'use', 'opening']) {
  const idx = prompts.flatMap((p, i) => (p.kind === kind ? [i] : []));
  if (idx.length > 0) console.log(`  ${kind}: ${idx.length} prompts, median fluency ${f(median(idx.map((i) => scores[i].components.fluency)))}, median gold ${f(median(idx.map((i) => scores[i].score)))}`);
}
const show = hashOrder(prompts.map((_, i) => i), (i) => prompts[i].id, `sft-answers/${seed}`).slice(0, Number(opt('show', 10)));
console.log('\n| prompt | SFT answer | gold | fluency |\n|---|---|---|---|');
for (const i of show) console.log(`| ${prompts[i].text} | ${answers[i].replace(/\|/g, '\\|')} | ${f(scores[i].score)} | ${f(scores[i].components.fluency)} |`);
