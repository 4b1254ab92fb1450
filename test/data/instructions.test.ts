// WordNet instruction pairs: known glosses and examples, word filter, split by word.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { buildInstructions, wordCounts, type InstructionPair } from '../../src/data/instructions.js';
import { isGoldSynset } from '../../src/data/wordnet.js';
import { goldGlosses } from '../../src/gold/language_model.js';

let all: { train: InstructionPair[]; valid: InstructionPair[] };
before(() => {
  all = buildInstructions({ corpusCounts: new Map(), minCount: 0, validFraction: 0.1 });
});

const find = (word: string, kind: string) => [...all.train, ...all.valid].find((p) => p.word === word && p.kind === kind);

test('"Define X." answers with the gloss of the most common sense', () => {
  assert.deepEqual(find('dog', 'define'), {
    word: 'dog',
    pos: 'n',
    kind: 'define',
    prompt: 'Define dog.',
    response: 'A member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds.',
  });
  // happy's most common sense ("enjoying or showing or marked by joy or pleasure") is one of the gold judge's synsets.
  assert.equal(isGoldSynset('a', 1151786), true);
  assert.equal(find('happy', 'define')?.response, 'Marked by good fortune.', 'a gold synset is skipped for the next sense');
  assert.equal(find('run', 'define')?.pos, 'v', 'the verb has more tagged senses than the noun');
});

test('"Use X in a sentence." answers with a WordNet example that contains the word', () => {
  assert.equal(find('dog', 'use')?.response, 'The dog barked all night.');
  for (const p of [...all.train, ...all.valid].filter((x) => x.kind === 'use').slice(0, 2000)) {
    assert.match(p.response.toLowerCase(), new RegExp(`\\b${p.word}`));
    assert.ok(p.response.split(' ').length >= 5);
    assert.match(p.response, /^[^a-z].*[.!?]$/);
  }
});

test('pairs are split by word and only plain words qualify', () => {
  const trainWords = new Set(all.train.map((p) => p.word));
  for (const p of all.valid) assert.ok(!trainWords.has(p.word), `${p.word} is in both splits`);
  const frac = all.valid.length / (all.train.length + all.valid.length);
  assert.ok(frac > 0.07 && frac < 0.13, `valid share ${frac} is near 0.1`);
  for (const p of all.train) assert.match(p.word, /^[a-z]{3,20}$/);
});

test('the corpus-count filter keeps only words the corpus uses', () => {
  const counts = wordCounts(['The dog and the whale met a happy dog.', 'A dog is happy; the whale is happy too.']);
  assert.equal(counts.get('dog'), 3);
  const some = buildInstructions({ corpusCounts: counts, minCount: 2, validFraction: 0 });
  assert.deepEqual([...new Set(some.train.map((p) => p.word))].sort(), ['dog', 'happy', 'the', 'whale'].filter((w) => find(w, 'define')));
  assert.equal(some.valid.length, 0);
});

test('no instruction pair uses the text of a gold synset (those glosses fit the gold judge\'s language model)', () => {
  const gold = new Set(goldGlosses());
  const used = [...all.train, ...all.valid].filter((p) => gold.has(p.response));
  // WordNet repeats some glosses across synsets: a repeated one is left out too.
  assert.ok(used.length === 0, `${used.length} pairs use gold text: ${used.slice(0, 5).map((p) => p.response).join(' | ')}`);
});
