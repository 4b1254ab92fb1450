// Token layouts: prompt, SFT example and the pairwise preference input.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadCorpus } from '../../src/data/corpus.js';
import { formatPairwise, formatPrompt, formatSft, formatText } from '../../src/data/template.js';
import { BpeTokenizer } from '../../src/data/tokenizer.js';

let tok: BpeTokenizer;
before(async () => {
  tok = await BpeTokenizer.train(loadCorpus({ sources: ['moby-dick'], maxDocsPerSource: 4 }).map((d) => d.text), 400);
});

test('a prompt is bos, prompt marker, text, response marker', () => {
  const s = tok.special;
  const ids = formatPrompt(tok, 'Call me Ishmael');
  assert.deepEqual(ids.slice(0, 2), [s.bos, s.prompt]);
  assert.equal(ids.at(-1), s.response);
  assert.equal(tok.decode(ids.slice(2, -1)), 'Call me Ishmael');
});

test('an SFT example trains on the response and its eos only', () => {
  const ex = formatSft(tok, 'Define whale.', 'A large sea mammal.');
  assert.equal(ex.ids.length, ex.lossMask.length);
  const first = ex.lossMask.indexOf(1);
  assert.equal(ex.ids[first - 1], tok.special.response);
  assert.equal(ex.ids.at(-1), tok.special.eos);
  assert.ok(ex.lossMask.slice(first).every((m) => m === 1));
  assert.equal(tok.decode(ex.ids.slice(first)), 'A large sea mammal.');
  assert.deepEqual(formatText(tok, 'sea').slice(0, 1), [tok.special.bos]);
});

test('the pairwise input is [CONTEXT] x [RESPONSE A] a [RESPONSE B] b', () => {
  const s = tok.special;
  const ids = formatPairwise(tok, 'Tell me', 'yes', 'no');
  assert.equal(ids[0], s.context);
  const ia = ids.indexOf(s.responseA);
  const ib = ids.indexOf(s.responseB);
  assert.ok(ia > 0 && ib > ia);
  assert.equal(tok.decode(ids.slice(1, ia)), 'Tell me');
  assert.equal(tok.decode(ids.slice(ia + 1, ib)), 'yes');
  assert.equal(tok.decode(ids.slice(ib + 1)), 'no');
});
