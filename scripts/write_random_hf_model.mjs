// Writes a random-init model folder in the Hugging Face layout at a real model's size, to try `--model DIR` at scale
// without downloading anything. Usage (after `npx tsc -p tsconfig.json`):
//   node scripts/write_random_hf_model.mjs --out DIR [--size gpt2-124m|smollm2-135m] [--tokenizer FILE --eos TOKEN [--bos TOKEN]]
// gpt2-124m: GPT-2 small's shapes (12 layers, d 768, 12 heads, vocabulary 50257, 1024 positions, tied head, weights
// N(0, 0.02)); smollm2-135m: SmolLM2-135M's (30 layers, d 576, 9 heads, 3 key-value heads, vocabulary 49152).
// The tokenizer is a small byte-level BPE unless --tokenizer names a tokenizer.json (for example the one `rlhf-stream
// data` writes under <cacheDir>/data/, whose end token is <|eos|> and begin token <|bos|>); ids beyond it are never
// produced by its encoder and decode to nothing.
import { readFileSync } from 'node:fs';
import { writeHfFixture } from '../dist/test/helpers/hf_fixtures.js';

const SIZES = {
  'gpt2-124m': { type: 'gpt2', layers: 12, d: 768, heads: 12, kvHeads: 12, ff: 3072, ctx: 1024, vocab: 50257, tied: true },
  'smollm2-135m': { type: 'llama', layers: 30, d: 576, heads: 9, kvHeads: 3, ff: 1536, ctx: 2048, vocab: 49152, tied: true },
};

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? undefined : argv[i + 1];
};
const out = opt('out');
const size = opt('size') ?? 'gpt2-124m';
if (!out) throw new Error('--out DIR is required');
if (!(size in SIZES)) throw new Error(`--size must be one of ${Object.keys(SIZES).join(', ')}; got ${JSON.stringify(size)}`);
let tokenizer;
if (opt('tokenizer') !== undefined) {
  const json = readFileSync(opt('tokenizer'), 'utf8');
  const parsed = JSON.parse(json);
  const eos = opt('eos');
  if (!eos) throw new Error('--tokenizer needs --eos TOKEN (the end-of-text token, e.g. <|eos|>)');
  const ids = new Set([...Object.values(parsed.model.vocab), ...(parsed.added_tokens ?? []).map((t) => t.id)]);
  tokenizer = { json, size: ids.size, eos, ...(opt('bos') ? { bos: opt('bos') } : {}) };
}
const t0 = Date.now();
writeHfFixture(out, { ...SIZES[size], std: 0.02, ...(tokenizer ? { tokenizer } : {}) });
console.log(`${size}: wrote ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
