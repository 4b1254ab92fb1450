// The corpus: Brown detokenisation, cleaning, deduplication, sentence splitting, and document splits that never overlap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detokenizeBrown, goldDocuments, isGoldDocument, loadCorpus, sentencesOf, splitCorpus } from '../../src/data/corpus.js';
import { buildInstructions } from '../../src/data/instructions.js';
import { WordNet } from '../../src/data/wordnet.js';
import { matchKey, splitSentences } from '../../src/data/text.js';

test('Brown sentences lose their tags and get natural spacing and quotes', () => {
  const tagged = "The/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, it/pps did/dod n't/* --/-- and/cc Atlanta's/np$ mayor/nn (/( Allen/np )/) left/vbd ./.";
  assert.equal(detokenizeBrown(tagged), 'The jury said “no evidence”, it didn\'t—and Atlanta\'s mayor (Allen) left.');
  assert.equal(detokenizeBrown('won/vbd by/in Ivan/np Allen/np Jr./np ./.'), 'won by Ivan Allen Jr.');
});

test('the three sources load as cleaned documents with stable ids', () => {
  const docs = loadCorpus({ sources: ['sotu', 'moby-dick', 'brown'], maxDocsPerSource: 3 });
  assert.deepEqual([...new Set(docs.map((d) => d.source))], ['sotu', 'moby-dick', 'brown']);
  assert.ok(docs.some((d) => d.id === 'brown/ca01'));
  assert.ok(docs.some((d) => d.id === 'sotu/1790_george_washington_n'));
  for (const d of docs) {
    assert.ok(d.text.length > 1000, `${d.id} has prose`);
    assert.ok(!/ {2}|\t|\r/.test(d.text), `${d.id} has normalised whitespace`);
    assert.ok(!/\/(at|nn|vbd)\b/.test(d.text), `${d.id} has no POS tags`);
  }
  assert.match(docs.find((d) => d.id === 'brown/ca01')!.text, /^The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced “no evidence” that/);
  assert.throws(() => loadCorpus({ sources: ['wiki'], maxDocsPerSource: 1 }), /unknown corpus source "wiki"; accepted: sotu, moby-dick, brown, wordnet/);
});

test('long paragraphs are never repeated across the corpus', () => {
  const docs = loadCorpus({ sources: ['sotu', 'moby-dick'], maxDocsPerSource: 20 });
  const seen = new Set<string>();
  for (const d of docs) {
    for (const p of d.text.split('\n')) {
      if (p.length < 40) continue;
      const k = matchKey(p);
      assert.ok(!seen.has(k), `paragraph repeated: ${p.slice(0, 60)}`);
      seen.add(k);
    }
  }
});

test('document splits never overlap and do not depend on which other documents are loaded', () => {
  const all = loadCorpus({ sources: ['sotu', 'moby-dick', 'brown'], maxDocsPerSource: 60 });
  const s = splitCorpus(all, 0.1, 0.1);
  const ids = { train: new Set(s.train.map((d) => d.id)), valid: new Set(s.valid.map((d) => d.id)), test: new Set(s.test.map((d) => d.id)) };
  const gold = all.filter((d) => isGoldDocument(d.id));
  assert.ok(gold.length > 0, 'the gold judge split is populated');
  assert.equal(ids.train.size + ids.valid.size + ids.test.size, all.length - gold.length);
  for (const d of gold) assert.ok(!ids.train.has(d.id) && !ids.valid.has(d.id) && !ids.test.has(d.id), `${d.id} (gold) is in no split`);
  for (const id of ids.valid) assert.ok(!ids.train.has(id) && !ids.test.has(id));
  for (const id of ids.test) assert.ok(!ids.train.has(id));
  assert.ok(ids.valid.size > 0 && ids.test.size > 0, 'both held-out splits are populated at 10%');
  const fewer = splitCorpus(all.slice(0, 40), 0.1, 0.1);
  for (const d of fewer.test) assert.ok(ids.test.has(d.id), `${d.id} stays in test`);
  for (const d of fewer.train) assert.ok(ids.train.has(d.id), `${d.id} stays in train`);
});

test('sentence splitting respects abbreviations and initials', () => {
  assert.deepEqual(splitSentences('Mr. Smith went to Washington. He met Gen. Grant and J. Doe at 3 p.m. on Monday. “Is it so?” he asked. The U.S. Senate agreed.'), [
    'Mr. Smith went to Washington.',
    'He met Gen. Grant and J. Doe at 3 p.m. on Monday.',
    '“Is it so?” he asked.',
    'The U.S. Senate agreed.',
  ]);
  const sentences = sentencesOf(loadCorpus({ sources: ['moby-dick'], maxDocsPerSource: 4 }));
  assert.ok(sentences.includes('Call me Ishmael.'));
});

test('WordNet as a source: glosses and examples as sentences, never a gold synset or a held-out word\'s text', () => {
  const docs = loadCorpus({ sources: ['wordnet'], maxDocsPerSource: 0, instructionValidFraction: 0.05 });
  assert.ok(docs.length > 1000, `${docs.length} documents`);
  assert.ok(docs.every((d) => /^wordnet\/\d{4}$/.test(d.id) && d.source === 'wordnet'));
  const text = new Set(sentencesOf(docs));
  assert.ok(text.size > 100_000, `${text.size} sentences`);
  // The definition and example of a common word's first sense are there, written as sentences.
  assert.ok(docs[0]!.text.split('\n').every((p) => /^\p{Lu}/u.test(p) && /[.!?]$/.test(p)));
  const gold = WordNet.load(() => false).goldTexts();
  const leaked = gold.filter((g) => text.has(g));
  // WordNet repeats a few glosses across synsets ("A person who..."), so a gold text may also be a kept synset's text;
  // what must hold is that gold synsets themselves are left out: far fewer of their texts appear than are held.
  assert.ok(leaked.length < gold.length * 0.02, `${leaked.length} of ${gold.length} gold texts appear`);
  // No held-out instruction answer is readable in the corpus: the eval prompts' glosses and examples are absent.
  const { valid } = buildInstructions({ corpusCounts: new Map(), minCount: 0, validFraction: 0.05 });
  const seen = valid.filter((p) => text.has(p.response));
  assert.ok(seen.length < valid.length * 0.02, `${seen.length} of ${valid.length} held-out answers appear in the corpus`);
  // The same ids whatever is left out, and the gold judge's documents never come from WordNet.
  const all = loadCorpus({ sources: ['wordnet'], maxDocsPerSource: 30 });
  assert.deepEqual(all.map((d) => d.id).slice(0, 5), ['wordnet/0000', 'wordnet/0001', 'wordnet/0002', 'wordnet/0003', 'wordnet/0004']);
  assert.ok(!goldDocuments().some((d) => d.source === 'wordnet'));
});
