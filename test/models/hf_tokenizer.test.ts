// Imported tokenizers: @huggingface/tokenizers gives the native `tokenizers` ids on a byte-level (GPT-2) and a Llama-style
// (BPE with byte fallback) tokenizer.json, both round-trip, and a ChatML chat template renders the expected prompt.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { HfTokenizer } from '../../src/data/hf_tokenizer.js';
import { formatPrompt } from '../../src/data/template.js';
import { byteLevelTokenizer, CHATML_TEMPLATE, llamaStyleTokenizer } from '../helpers/hf_fixtures.js';

interface NativeTokenizer {
  encode(text: string, pair?: null, options?: { addSpecialTokens?: boolean }): Promise<{ getIds(): number[] }>;
}
const native = (json: string): NativeTokenizer =>
  (createRequire(import.meta.url)('tokenizers') as { Tokenizer: { fromString(s: string): NativeTokenizer } }).Tokenizer.fromString(json);

const TEXTS = [
  'the weather is nice there',
  'The cat sat on the mat, and then it ran away!',
  '  two leading spaces and   three inside',
  'line one\nline two\n\ttabbed',
  'numbers 12345 and 3.14159',
  'café naïve déjà vu — “quotes”',
  'emoji 🙂 and 日本語 text',
  "it's what we're doing, isn't it?",
];

for (const [name, build] of [['byte-level (GPT-2)', byteLevelTokenizer], ['Llama-style (BPE with byte fallback)', llamaStyleTokenizer]] as const) {
  test(`${name}: ids equal the native tokenizers encoder and every text round-trips`, async () => {
    const { json, eos } = build();
    const ours = new HfTokenizer(json, JSON.stringify({ eos_token: eos }));
    const ref = native(json);
    for (const text of TEXTS) {
      const ids = ours.encode(text);
      assert.deepEqual(ids, (await ref.encode(text, null, { addSpecialTokens: false })).getIds(), `ids of ${JSON.stringify(text)}`);
      assert.equal(ours.decode(ids), text, `round trip of ${JSON.stringify(text)}`);
    }
    assert.equal(ours.decode([]), '', 'an empty answer decodes to the empty text');
  });
}

test('Llama-style: characters outside the vocabulary fall back to byte tokens', () => {
  const { json } = llamaStyleTokenizer();
  const tok = new HfTokenizer(json, JSON.stringify({ eos_token: '</s>', bos_token: '<s>' }));
  const ids = tok.encode('é');
  assert.deepEqual(ids.map((id) => tok.token(id)), ['▁', '<0xC3>', '<0xA9>']);
  assert.equal(tok.special.bos, 1);
  assert.equal(tok.special.eos, 2);
});

test('a ChatML chat template renders the expected prompt, and prompts go to the policy through it', () => {
  const { json } = byteLevelTokenizer();
  const tok = new HfTokenizer(json, JSON.stringify({ eos_token: '<|im_end|>', chat_template: CHATML_TEMPLATE }));
  const text = tok.renderChat([{ role: 'user', content: 'Define commissary.' }]);
  assert.equal(text, '<|im_start|>user\nDefine commissary.<|im_end|>\n<|im_start|>assistant\n');
  const ids = formatPrompt(tok, 'Define commissary.');
  assert.deepEqual(ids, tok.encode(text));
  const imStart = ids.filter((id) => tok.token(id) === '<|im_start|>').length;
  assert.equal(imStart, 2, 'special tokens in the rendered text are single tokens');
  assert.equal(tok.token(tok.special.eos), '<|im_end|>');
  assert.equal(tok.decode(ids, true), text);
});

test('tokenizer_config.json naming a token the vocabulary lacks, or no eos at all, is refused', () => {
  const { json } = byteLevelTokenizer();
  assert.throws(() => new HfTokenizer(json, JSON.stringify({ eos_token: '<|nope|>' })), /eos_token "<\|nope\|>" is not in tokenizer\.json's vocabulary/);
  assert.throws(() => new HfTokenizer(json, JSON.stringify({})), /no end-of-sequence token/);
});
