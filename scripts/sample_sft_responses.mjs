// Writes a committed sample of SFT answers to held-out prompts, the reference the gold adversarial suite compares with.
// Usage (after `npx tsc -p tsconfig.json` and `node dist/src/cli/main.js sft --config FILE --set run.cacheDir=DIR`):
//   node scripts/sample_sft_responses.mjs [--config config/default.yaml] [--set run.cacheDir=DIR ...] [--out FILE] [--n 64]
// One answer per eval prompt (the first n of <cacheDir>/data/prompts.eval.jsonl), sampled as the evaluator samples:
// temperature evaluator.temperature, at most evaluator.maxNewTokens tokens, a fixed seed; the eos token is dropped.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadConfig } from '../dist/src/config/index.js';
import { loadData } from '../dist/src/data/build.js';
import { formatPrompt } from '../dist/src/data/template.js';
import { initBackend } from '../dist/src/kernels/backend.js';
import { deriveSeed } from '../dist/src/kernels/rng.js';
import { generate } from '../dist/src/kernels/sampling.js';
import { disposeModel } from '../dist/src/kernels/gpt.js';
import { readManifest } from '../dist/src/train/manifest.js';
import { loadModel } from '../dist/src/train/model_io.js';
import { sftDir } from '../dist/src/train/sft.js';

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? undefined : argv[i + 1];
};
const sets = argv.flatMap((a, i) => (argv[i - 1] === '--set' ? [a] : []));
const file = opt('config') ?? 'config/default.yaml';
const out = opt('out') ?? 'test/data/fixtures/sft_responses.jsonl';
const n = Number(opt('n') ?? 64);
if (!Number.isInteger(n) || n < 1) throw new Error(`--n must be a positive integer; got ${opt('n')}`);

const cfg = loadConfig({ file, overrides: sets });
await initBackend(cfg.compute.backend, { native: cfg.compute.nativeKernels, nativeThreads: cfg.compute.nativeThreads });
const data = loadData(cfg);
const prompts = data.prompts.eval.slice(0, n);
const dir = sftDir(cfg);
const { model, tokenizer } = await loadModel(dir);
const tok = tokenizer ?? data.tokenizer;
const seed = deriveSeed(cfg.compute.seed, 'gold-sft-sample');
const r = generate(model, prompts.map((p) => formatPrompt(tok, p.text)), {
  maxNewTokens: cfg.evaluator.maxNewTokens,
  temperature: cfg.evaluator.temperature,
  topK: 0,
  topP: 1,
  eosId: tok.special.eos,
  padId: tok.special.pad,
  seed,
});
disposeModel(model);
const rows = prompts.map((p, i) => {
  const ids = r.tokens[i];
  const body = ids.at(-1) === tok.special.eos ? ids.slice(0, -1) : ids;
  return { prompt: p.text, kind: p.kind, response: tok.decode(body), finished: r.finished[i] };
});
const header = { sft: readManifest(dir)?.hash ?? null, data: data.manifest.contentHash, config: file, sets, seed, maxNewTokens: cfg.evaluator.maxNewTokens, temperature: cfg.evaluator.temperature };
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, [JSON.stringify({ header }), ...rows.map((x) => JSON.stringify(x))].join('\n') + '\n');
console.log(`wrote ${rows.length} SFT answers to ${out} (sft ${String(header.sft).slice(0, 12)}, ${rows.filter((x) => x.finished).length} ended before the cap)`);
