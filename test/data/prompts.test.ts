// RLHF prompts: openings and instructions, train and eval never overlapping after normalisation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Document } from '../../src/data/corpus.js';
import type { InstructionPair } from '../../src/data/instructions.js';
import { buildPrompts, sentenceOpenings } from '../../src/data/prompts.js';
import { matchKey } from '../../src/data/text.js';

const doc = (id: string, text: string): Document => ({ id, source: 'brown', text });
const pair = (word: string, kind: 'define' | 'use'): InstructionPair => ({
  word,
  pos: 'n',
  kind,
  prompt: kind === 'define' ? `Define ${word}.` : `Use ${word} in a sentence.`,
  response: 'Something fitting.',
});

test('openings are the first words of sentences long enough to continue', () => {
  const docs = [doc('a', 'The old man sailed far out to sea. He slept. “Quote marks open here,” she said loudly today. It was a fine day for it.')];
  assert.deepEqual(sentenceOpenings(docs, 4), ['The old man sailed', 'It was a fine']);
});

test('train and eval prompts never share a text after normalisation, and eval has the requested size', () => {
  const shared = 'We shall go on to the end of the road.';
  const trainDocs = [doc('t1', `${shared} The people of this nation are strong and free. Our economy grew rapidly in the spring.`)];
  const evalDocs = [doc('e1', `We  shall GO on, to the very end of it. The winter was long and hard for the sailors. Ships sailed home again at last to the port.`)];
  const prompts = buildPrompts({
    trainDocs,
    evalDocs,
    trainInstructions: ['dog', 'cat', 'bird', 'fish'].flatMap((w) => [pair(w, 'define'), pair(w, 'use')]),
    evalInstructions: [pair('whale', 'define'), pair('whale', 'use'), pair('dog', 'define')],
    promptWords: 4,
    trainPrompts: 100,
    evalPrompts: 5,
    instructionShare: 0.4,
    kinds: ['opening', 'define', 'use'],
  });
  assert.equal(prompts.eval.length, 5);
  assert.equal(prompts.eval.filter((p) => p.kind !== 'opening').length, 2);
  const evalKeys = new Set(prompts.eval.map((p) => matchKey(p.text)));
  for (const p of prompts.train) assert.ok(!evalKeys.has(matchKey(p.text)), `${p.text} is in both sets`);
  if (evalKeys.has(matchKey('We shall go on'))) assert.ok(!prompts.train.some((p) => p.text === 'We shall go on'));
  if (evalKeys.has(matchKey('Define dog.'))) assert.ok(!prompts.train.some((p) => p.text === 'Define dog.'));
  assert.equal(new Set(prompts.train.map((p) => p.id)).size, prompts.train.length, 'ids are unique');
});

test('a task limited to instruction kinds gets no openings', () => {
  const prompts = buildPrompts({
    trainDocs: [doc('t', 'The people of this nation are strong and free.')],
    evalDocs: [],
    trainInstructions: [pair('dog', 'define'), pair('dog', 'use')],
    evalInstructions: [pair('cat', 'define')],
    promptWords: 4,
    trainPrompts: 10,
    evalPrompts: 10,
    instructionShare: 0.25,
    kinds: ['define'],
  });
  assert.deepEqual(prompts.train.map((p) => p.text), ['Define dog.']);
  assert.deepEqual(prompts.eval.map((p) => p.text), ['Define cat.']);
});
