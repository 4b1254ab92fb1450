// The byte-level BPE tokenizer: exact vocabulary size, special tokens, round trips, reload, parity with the native encoder.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadCorpus } from '../../src/data/corpus.js';
import { splitSentences } from '../../src/data/text.js';
import { BpeTokenizer, SPECIAL_TOKENS, TokenizerError } from '../../src/data/tokenizer.js';

let tok: BpeTokenizer;
let texts: string[];
before(async () => {
  texts = loadCorpus({ sources: ['moby-dick', 'brown'], maxDocsPerSource: 4 }).map((d) => d.text);
  tok = await BpeTokenizer.train(texts, 512);
});

test('the vocabulary is exactly the configured size, bytes first and special tokens last', () => {
  assert.equal(tok.vocabSize, 512);
  const ids = Object.values(tok.special);
  assert.deepEqual(ids, [504, 505, 506, 507, 508, 509, 510, 511]);
  assert.equal(tok.decode([0x41, 0x42]), 'AB');
  const vocab = (JSON.parse(tok.toJson()) as { model: { vocab: Record<string, number> } }).model.vocab;
  assert.equal(Object.keys(vocab).length, 512);
});

test('special tokens have the reported ids and are single tokens', async () => {
  const native = tok.toNative();
  for (const [name, content] of Object.entries(SPECIAL_TOKENS)) {
    const id = tok.special[name as keyof typeof SPECIAL_TOKENS];
    assert.equal(tok.decode([id], true), content);
    assert.equal(tok.decode([id]), '', 'decode drops special tokens unless asked');
    assert.deepEqual((await native.encode(content)).getIds(), [id], `${content} is one token for the standard loader`);
  }
  // The project's own encoder never turns user text into control tokens.
  assert.ok(!tok.encode('<|eos|>').includes(tok.special.eos));
});

test('real corpus text and non-ASCII text round-trip exactly', () => {
  const samples = [
    'naïve café — ok',
    'Ahab’s “white whale” — ¡olé! 日本語 🐋 Zoë',
    '  two  spaces\tand a tab\nand a newline ',
    ...texts.map((t) => t.slice(0, 3000)),
  ];
  for (const s of samples) assert.equal(tok.decode(tok.encode(s)), s);
  assert.ok(tok.encode(texts[0]!.slice(0, 2000)).length < Buffer.byteLength(texts[0]!.slice(0, 2000)) / 2, 'merges compress English');
});

test('a saved tokenizer.json reloads to identical encodings, matching the native encoder', async () => {
  const reloaded = BpeTokenizer.fromJson(tok.toJson());
  assert.equal(reloaded.vocabSize, tok.vocabSize);
  assert.deepEqual(reloaded.special, tok.special);
  const native = reloaded.toNative();
  const sentences = splitSentences(texts.join('\n')).slice(0, 300);
  sentences.push('naïve café — ok', 'Zoë’s 🐋 isn’t here.');
  for (const s of sentences) {
    const ids = tok.encode(s);
    assert.deepEqual(reloaded.encode(s), ids);
    assert.deepEqual((await native.encode(s)).getIds(), ids, `native and TS encoders agree on ${JSON.stringify(s)}`);
  }
  assert.equal(await native.decode(tok.encode('naïve café — ok'), true), 'naïve café — ok');
});

test('training is deterministic', async () => {
  const again = await BpeTokenizer.train(texts, 512);
  assert.equal(again.toJson(), tok.toJson());
});

test('bad sizes and bad files are refused with the accepted range', async () => {
  await assert.rejects(BpeTokenizer.train(texts, 100), /vocabSize must be an integer >= 264/);
  await assert.rejects(BpeTokenizer.train(['tiny text'], 4096), (e: Error) => e instanceof TokenizerError && /vocabulary cannot reach 4096/.test(e.message));
  assert.throws(() => BpeTokenizer.fromJson('{"model":{"type":"WordPiece"}}'), /must hold a BPE model/);
  assert.throws(() => tok.decode([512]), /outside the vocabulary \[0, 512\)/);
});
