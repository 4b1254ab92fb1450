// Relevance: a definition of the word asked about, a sentence that uses it, a continuation that fits the opening.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadGoldLm } from '../../src/gold/language_model.js';
import { containsWord, contentStems, RELEVANCE_FLOOR, RelevanceScorer, stem } from '../../src/gold/relevance.js';

let scorer: RelevanceScorer;
before(async () => {
  scorer = RelevanceScorer.load(await loadGoldLm());
});

test('stem matches a word with its inflections and nothing shorter than the word', () => {
  for (const [a, b] of [['climbing', 'climb'], ['ships', 'ship'], ['stopped', 'stop'], ['making', 'make'], ['cities', 'city'], ['happily', 'happy']]) {
    assert.equal(stem(a!), stem(b!), `${a} ~ ${b}`);
  }
  assert.notEqual(stem('glass'), stem('gla'), 'a double s is kept');
  assert.notEqual(stem('harbor'), stem('harp'));
});

test('containsWord finds the word, an inflection or a hyphenated part; contentStems drops function and gloss words', () => {
  assert.ok(containsWord('The snow melted in the sun.', 'melt'));
  assert.ok(containsWord('Well-thumbed pages of the dictionary.', 'thumbed'));
  assert.ok(!containsWord('The snow was warm.', 'melt'));
  assert.deepEqual([...contentStems('The quality of being a ship')], ['ship']);
});

test('"Define X.": a definition sharing two stems with X\'s senses is fully relevant; an off-topic or other word\'s is not', () => {
  assert.equal(scorer.score('Define harbor.', 'A sheltered place on a coast where ships can safely anchor.').relevance, 1);
  assert.equal(scorer.score('Define harbor.', 'Thank you very much, and God bless America.').relevance, RELEVANCE_FLOOR);
  assert.equal(scorer.score('Define harbor.', 'A set of steps between two long side pieces, used for climbing.').relevance, RELEVANCE_FLOOR);
  assert.equal(scorer.score('Define harbor.', 'A harbor is a harbor, and harbors are harbors.').relevance, RELEVANCE_FLOOR, 'the word itself never counts');
  const one = scorer.score('Define harbor.', 'It is a fine and sheltered thing.');
  assert.ok(one.relevance > RELEVANCE_FLOOR && one.relevance < 0.5, `one stem in common: ${one.relevance}`);
  assert.equal(scorer.score('Define zzyzxq.', 'Anything at all.').relevance, 1, 'a word WordNet lacks has no key: no judgement');
});

test('"Use X in a sentence.": the word or an inflection must stand in the answer, which is not the prompt', () => {
  assert.equal(scorer.score('Use melt in a sentence.', 'The warm sun began to melt the snow.').relevance, 1);
  assert.equal(scorer.score('Use melt in a sentence.', 'The snow melted by noon.').relevance, 1);
  assert.equal(scorer.score('Use melt in a sentence.', 'It is a wonderful day for all of us.').relevance, RELEVANCE_FLOOR);
  assert.equal(scorer.score('Use melt in a sentence.', 'Use melt in a sentence.').relevance, RELEVANCE_FLOOR);
});

test('an opening: a continuation that fits it scores above a stand-alone sentence', () => {
  const fits = scorer.score('A bullet smashed directly', 'into the window, yet the family escaped unharmed.');
  const standalone = scorer.score('A bullet smashed directly', 'It was a beautiful day in the garden with friends.');
  const thanks = scorer.score('There being cause, however,', 'Thank you very much, and God bless America.');
  assert.equal(fits.kind, 'opening');
  assert.ok(fits.relevance > 0.9, `fits ${fits.relevance}`);
  assert.equal(standalone.relevance, RELEVANCE_FLOOR, `stand-alone ${standalone.evidence}`);
  assert.equal(thanks.relevance, RELEVANCE_FLOOR, `a capital in mid-sentence the model never saw: ${thanks.evidence}`);
});

test('an instruction of no known kind is not judged for relevance', () => {
  assert.deepEqual(scorer.score('Write a sentence.', 'The sun is out.'), { kind: 'none', relevance: 1, evidence: 0 });
});
