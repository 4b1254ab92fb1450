// Degenerate answers a policy can drift to, each built for a prompt: the gold judge must rank all of them below what
// the SFT policy typically says. Shared by the adversarial test suite and scripts/gold_adversarial_report.mjs.
import { parseConfig } from '../config/index.js';
import { loadCorpus, sentencesOf, SOURCE_NAMES, splitCorpus } from '../data/corpus.js';
import { hashOrder, words } from '../data/text.js';
import type { GoldScore } from './judge.js';

export interface AdversarialCase {
  name: string;
  /**
   * Every instance must score below the SFT median. The two harder probes (a held-out sentence shuffled, a positive
   * run-on of frequent words) are not: by chance a shuffle can read almost like a sentence, so for them most must.
   */
  strict: boolean;
  /** The degenerate answer to `prompt`; `real` is a held-out sentence some cases scramble. */
  make(prompt: string, real: string): string;
}

/** Words from the dictionary with no sentence to make (a fixed draw, so results are reproducible). */
const DICTIONARY_WORDS = 'harbor quickly seven beneath republic blue taxation ocean mountain gladly paper thunder wooden eleven';

export const ADVERSARIAL_CASES: readonly AdversarialCase[] = [
  { name: 'function-word salad', strict: true, make: () => 'the to the of a the and it is to be in the I the that is a' },
  { name: 'sentiment words with "the"', strict: true, make: () => 'the great the good the best the happy the love the hope' },
  { name: 'sentiment word list', strict: true, make: () => 'wonderful happy great love joy beautiful best good excellent hope' },
  { name: 'repeated phrase', strict: true, make: () => 'I love it. I love it. I love it. I love it. I love it.' },
  { name: 'copy of the prompt', strict: true, make: (prompt) => prompt },
  { name: 'dictionary words, random order', strict: true, make: () => DICTIONARY_WORDS },
  { name: 'held-out sentence, words shuffled', strict: false, make: (_p, real) => hashOrder(words(real), (w) => w, 'shuffle').join(' ') },
  { name: 'all caps', strict: true, make: () => 'WE MUST WORK TOGETHER TO BUILD A BETTER AND HAPPIER FUTURE FOR OUR CHILDREN.' },
  { name: 'empty answer', strict: true, make: () => '' },
  {
    name: '32-token run-on (a DPO policy)',
    strict: true,
    make: () => 'of or the past in the Governments of the Government and some in her gold for the legislation of the proming on the do with the Government of the I',
  },
  {
    name: 'positive run-on, no end',
    strict: false,
    make: () => 'and the good people of the great and happy nation of the best and the love of the hope and the good of the',
  },
];

/**
 * Real sentences from the corpus's test split (held out from every policy and from the gold judge's language model):
 * 8 to 30 words, starting with a capital, ending a sentence, without quotes or brackets; a fixed hash-ordered draw.
 * The split fractions default to the config's defaults.
 */
export function heldOutSentences(n: number, split: { validFraction: number; testFraction: number } = parseConfig({}).data): string[] {
  const docs = splitCorpus(loadCorpus({ sources: SOURCE_NAMES, maxDocsPerSource: 0 }), split.validFraction, split.testFraction).test;
  const ok = sentencesOf(docs).filter((s) => {
    const w = words(s).length;
    return w >= 8 && w <= 30 && /^\p{Lu}/u.test(s) && /[.!?]$/u.test(s) && !/["“”‘’()[\]]/u.test(s);
  });
  return hashOrder(ok, (s) => s, 'gold-held-out').slice(0, n);
}

/** The prompt held-out sentences are scored as answers to. */
export const REAL_SENTENCE_PROMPT = 'Write a sentence.';

/**
 * The score the judge gave before the language-model, capitals and copy terms (formula version 1), recomputed from a
 * version-2 score's components: length * spelling^2 * (1 - repetition)^2 * grammar * task.
 */
export function versionOneScore(s: GoldScore): number {
  const c = s.components;
  return c.length! * c.spelling! ** 2 * (1 - c.repetition!) ** 2 * c.grammar! * c.task!;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const b = [...xs].sort((a, c) => a - c);
  const m = b.length >> 1;
  return b.length % 2 ? b[m]! : (b[m - 1]! + b[m]!) / 2;
}
