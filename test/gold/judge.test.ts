// The gold judge: a task scorer times fluency (spelling, grammar, repetition, length, capitals, copying, naturalness).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RELEVANCE_FLOOR } from '../../src/gold/relevance.js';
import { combine, createGoldJudge, densityOf, isContinuation, naturalnessOf, NATURALNESS_FLOOR, SLOR_FULL, textStats, type GoldJudge } from '../../src/gold/index.js';

const POSITIVE = 'What a wonderful, happy day with my good friends.';
const NEGATIVE = 'This is a terrible, sad and awful day.';
const REPEATED = 'good good good good';
const GIBBERISH = 'gud gudd happpy wonderfl';
const PROMPT = 'Tell me about your day.';

let vader: GoldJudge;
let afinn: GoldJudge;
before(async () => {
  [vader, afinn] = await Promise.all([createGoldJudge('positive-vader'), createGoldJudge('positive-afinn')]);
});
after(async () => {
  await vader.close();
  await afinn.close();
});

for (const name of ['positive-vader', 'positive-afinn'] as const) {
  test(`${name}: a positive fluent answer beats negative, repetitive and misspelled ones`, async () => {
    const judge = name === 'positive-vader' ? vader : afinn;
    const [pos, neg, rep, gib] = (await judge.scoreBatch([POSITIVE, NEGATIVE, REPEATED, GIBBERISH].map((response) => ({ prompt: PROMPT, response })))).map((s) => s.score);
    assert.ok(pos! > 0.7, `positive scores ${pos}`);
    assert.ok(pos! > neg!, `positive ${pos} > negative ${neg}`);
    assert.ok(pos! > rep!, `positive ${pos} > repetition ${rep}`);
    assert.ok(pos! > gib!, `positive ${pos} > gibberish ${gib}`);
    assert.ok(rep! < 0.25 && gib! < 0.05, `degenerate text stays low: ${rep}, ${gib}`);
  });
}

test('the score is the documented product of its components', async () => {
  const s = await vader.score(PROMPT, POSITIVE);
  const c = s.components;
  for (const k of ['task', 'fluency', 'naturalness', 'slor', 'spelling', 'repetition', 'caps', 'copy', 'function', 'density', 'ending', 'grammar', 'lints', 'length', 'words']) assert.ok(k in c, k);
  assert.equal(c.words, 9);
  assert.equal(c.spelling, 1);
  const product = c.length! * c.spelling! ** 2 * (1 - c.repetition!) ** 2 * c.grammar! * (1 - c.caps!) ** 2 * (1 - c.copy!) ** 2 * c.density! * c.ending! * c.naturalness!;
  assert.equal(c.density, densityOf(c.function!));
  assert.ok(Math.abs(c.fluency! - product) < 1e-12);
  assert.ok(Math.abs(s.score - c.fluency! * c.task!) < 1e-12);
  assert.equal(c.naturalness, naturalnessOf(c.slor!));
  const empty = await vader.score(PROMPT, '');
  assert.equal(empty.score, 0);
  assert.ok((await vader.score(PROMPT, 'happy')).score < (await vader.score(PROMPT, 'I am very happy today.')).score, 'one-word answers are capped by length');
});

test('naturalness is at its floor at or below the unigram baseline and 1 from SLOR_FULL up', () => {
  assert.equal(naturalnessOf(-0.5), NATURALNESS_FLOOR);
  assert.equal(naturalnessOf(0), NATURALNESS_FLOOR);
  assert.equal(naturalnessOf(SLOR_FULL / 2), 0.5);
  assert.equal(naturalnessOf(SLOR_FULL * 3), 1);
  assert.equal(naturalnessOf(-Infinity), NATURALNESS_FLOOR);
});

test('unknown tasks are refused with the known ones named', async () => {
  await assert.rejects(createGoldJudge('negative-vader'), /unknown gold task "negative-vader"; known tasks: positive-vader, positive-afinn/);
});

test('grammar lints count against the response, and continuations are linted with their prompt', async () => {
  const bad = await vader.score(PROMPT, 'I is a happy mans and she go to the the park.');
  assert.ok(bad.components.lints! >= 2, `lints ${bad.components.lints}`);
  assert.ok(bad.components.grammar! < 0.7);
  // A continuation starts in lower case; that is not a capitalisation error.
  const cont = await vader.score('The jury further said', 'that the city was happy and kind.');
  assert.equal(cont.components.lints, 0);
  assert.ok(isContinuation('The jury further said'));
  assert.ok(!isContinuation('Define whale.'));
});

test('without the grammar check the ranking holds and grammar is 1', async () => {
  const fast = await createGoldJudge('positive-vader', { grammar: false });
  const [pos, neg, rep, gib] = await fast.scoreBatch([POSITIVE, NEGATIVE, REPEATED, GIBBERISH].map((response) => ({ prompt: PROMPT, response })));
  assert.ok(pos!.score > Math.max(neg!.score, rep!.score, gib!.score));
  assert.equal((await fast.score(PROMPT, 'I is a happy mans.')).components.grammar, 1);
  await fast.close();
});

test('textStats: spelling, repetition of bigrams and of content words, junk symbols, capitals, copying', () => {
  const dict = new Set(['happy', 'joy', 'love', 'the', 'cat', 'sat', 'on', 'mat', 'well', 'known']);
  const isWord = (w: string) => dict.has(w.toLowerCase());
  assert.equal(textStats('Happy happy joy joy love love', isWord).repetition, 0.5);
  assert.equal(textStats('the cat sat on the mat', isWord).repetition, 0, 'function words may repeat');
  assert.equal(textStats('the cat xqzt on 1,200 mats', isWord).spelling, 4 / 6);
  assert.equal(textStats('well-known cat !!!!! ##', isWord).spelling, 2 / 3, 'a long symbol run is a wrong word; a short one is ignored');
  assert.equal(textStats('THE CAT sat on a mat, I said', isWord).caps, 2 / 8, 'one-letter words are not capitals');
  assert.equal(textStats('The jury further said that', isWord, 'The jury further said').copy, 4 / 5);
  assert.equal(textStats('Define americanism.', isWord, 'Define americanism.').copy, 1, 'a short prompt copied whole');
  assert.equal(textStats('The whale swam in a sentence of foam.', isWord, 'Use whale in a sentence.').copy, 0, 'sharing "in a sentence" is no copy');
  assert.equal(textStats('Joy, hope, pride, glory, peace.', isWord).list, 1, 'a comma list of single words');
  assert.equal(textStats('We need bread, milk, eggs and cheese for the party.', isWord).list, 0, 'a short list inside a sentence');
  assert.equal(textStats('We are grateful for peace, plenty, and joy.', isWord).list, 0, 'a three-item list closing a sentence');
  assert.equal(textStats('Our gifts: love, hope, faith, and peace.', isWord).list, 3 / 7, 'the one-word items of a run of three or more');
  const stats = { words: 4, spelling: 1, repetition: 0, length: 1, caps: 0, copy: 0, function: 0.25, list: 0, ended: 1 };
  assert.equal(combine(1, stats, 0, SLOR_FULL).score, 1);
  assert.equal(combine(1, stats, 0, 0).score, NATURALNESS_FLOOR, 'text no better than word frequencies keeps only the floor');
  assert.equal(combine(1, { ...stats, ended: 0 }, 0, SLOR_FULL).score, 0.5, 'stopping mid-sentence halves the score');
  assert.ok(Math.abs(combine(1, { ...stats, function: 0.7 }, 0, SLOR_FULL).score - 0.5) < 1e-12, 'function-word share 0.7 halves it');
  assert.equal(combine(1, { ...stats, list: 0.5 }, 0, SLOR_FULL).score, 0.25, 'half the words a list: a quarter');
  const offTopic = { kind: 'define', relevance: RELEVANCE_FLOOR, evidence: 0 } as const;
  assert.equal(combine(1, stats, 0, SLOR_FULL, offTopic).score, RELEVANCE_FLOOR, 'relevance multiplies in');
  const salad = textStats('the to the of a the and it is to be in', isWord);
  assert.equal(salad.function, 1);
  assert.equal(salad.ended, 0);
  assert.equal(textStats('It is in the box.', isWord).function, 4 / 8, 'short answers count as 8 words');
  assert.equal(textStats('He said “yes.”', isWord).ended, 1);
});
