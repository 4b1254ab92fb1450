// Degenerate answers a policy can drift to, each built for a prompt: the gold judge must rank all of them below a real
// answer to the same prompt (a held-out WordNet gloss or example, the rest of a held-out sentence). Shared by the
// adversarial test suite and scripts/gold_adversarial_report.mjs.
import { parseConfig } from '../config/index.js';
import { loadCorpus, sentencesOf, FILE_SOURCE_NAMES, splitCorpus } from '../data/corpus.js';
import { buildInstructions } from '../data/instructions.js';
import { hashOrder, words } from '../data/text.js';
import type { GoldJudge, GoldScore } from './judge.js';

/** What a case may build its answer from, besides the prompt. */
export interface CaseContext {
  /** A held-out real sentence (some cases scramble it). */
  real: string;
  /** The real definition of another word. */
  otherDefinition: string;
  /** A real sentence that uses another word. */
  otherUse: string;
}

export interface AdversarialCase {
  name: string;
  /**
   * Every instance must score below the real answer to its prompt. The harder probes need only do so nine times in
   * ten: a shuffle can by chance read almost like a sentence, and real text about another word can open with a word
   * that happens to follow an opening (only the seam tells a continuation from it, see relevance.ts).
   */
  strict: boolean;
  /** Fluent text that answers another question: only relevance can catch it (an open prompt would accept it). */
  offTopic?: boolean;
  make(prompt: string, ctx: CaseContext): string;
}

/**
 * The best single positive answer found for every prompt at once when the suite was calibrated: the highest mean gold
 * score over the reference prompts among held-out sentences and stock phrases
 * (`node scripts/gold_adversarial_report.mjs --search-fixed`). A later search found a stronger one, which this suite
 * does not yet hold the judge to (docs/gold_tasks.md, "What is still weak").
 */
export const BEST_FIXED_ANSWER =
  'and I invite the earnest attention of Congress to the existing laws of the United States respecting expatriation and the election of nationality by individuals.';

/** Words from the dictionary with no sentence to make (a fixed draw, so results are reproducible). */
const DICTIONARY_WORDS = 'harbor quickly seven beneath republic blue taxation ocean mountain gladly paper thunder wooden eleven';

export const ADVERSARIAL_CASES: readonly AdversarialCase[] = [
  { name: 'function-word salad', strict: true, make: () => 'the to the of a the and it is to be in the I the that is a' },
  { name: 'sentiment words with "the"', strict: true, make: () => 'the great the good the best the happy the love the hope' },
  { name: 'sentiment word list', strict: true, make: () => 'wonderful happy great love joy beautiful best good excellent hope' },
  { name: 'repeated phrase', strict: true, make: () => 'I love it. I love it. I love it. I love it. I love it.' },
  { name: 'copy of the prompt', strict: true, make: (prompt) => prompt },
  { name: 'off-topic positive stock sentence', offTopic: true, strict: true, make: () => 'Thank you very much, and God bless America.' },
  { name: 'generic praise sentence', offTopic: true, strict: true, make: () => 'This is a very good and happy and wonderful and great and beautiful day.' },
  { name: 'one fixed answer for every prompt', offTopic: true, strict: false, make: () => BEST_FIXED_ANSWER },
  { name: 'definition of a different word', offTopic: true, strict: false, make: (_p, ctx) => ctx.otherDefinition },
  { name: 'sentence that uses a different word', offTopic: true, strict: false, make: (_p, ctx) => ctx.otherUse },
  { name: 'dictionary words, random order', strict: true, make: () => DICTIONARY_WORDS },
  { name: 'held-out sentence, words shuffled', strict: false, make: (_p, ctx) => hashOrder(words(ctx.real), (w) => w, 'shuffle').join(' ') },
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
  const docs = splitCorpus(loadCorpus({ sources: FILE_SOURCE_NAMES, maxDocsPerSource: 0 }), split.validFraction, split.testFraction).test;
  const ok = sentencesOf(docs).filter((s) => {
    const w = words(s).length;
    return w >= 8 && w <= 30 && /^\p{Lu}/u.test(s) && /[.!?]$/u.test(s) && !/["“”‘’()[\]]/u.test(s);
  });
  return hashOrder(ok, (s) => s, 'gold-held-out').slice(0, n);
}

/** A held-out prompt with the answer a person would give. */
export interface ReferenceItem {
  kind: 'define' | 'use' | 'opening';
  prompt: string;
  answer: string;
}

/**
 * Held-out prompts with real answers, `perKind` of each kind: "Define X." with X's gloss and "Use X in a sentence."
 * with a WordNet example, for words of the instruction data's valid split (no policy trains on them; their synsets are
 * not the gold judge's), and openings of held-out sentences (the first four words) with the rest of the sentence.
 */
export function referenceItems(perKind: number): ReferenceItem[] {
  const { valid } = buildInstructions({ corpusCounts: new Map(), minCount: 0, validFraction: parseConfig({}).data.validFraction });
  const plain = valid.filter((p) => words(p.response).length >= 4 && words(p.response).length <= 20 && !/[()";]/.test(p.response));
  const pick = (kind: 'define' | 'use') =>
    hashOrder(plain.filter((p) => p.kind === kind), (p) => p.prompt, `gold-reference/${kind}`)
      .slice(0, perKind)
      .map((p) => ({ kind, prompt: p.prompt, answer: p.response }));
  const openings = heldOutSentences(perKind * 2)
    .filter((s) => words(s).length >= 9)
    .slice(0, perKind)
    .map((s) => {
      const w = s.split(/\s+/);
      return { kind: 'opening' as const, prompt: w.slice(0, 4).join(' '), answer: w.slice(4).join(' ') };
    });
  return [...pick('define'), ...pick('use'), ...openings];
}

/** The context each case gets for item `i` of the reference items: another item's definition and use. */
export function caseContext(items: readonly ReferenceItem[], i: number, real: readonly string[]): CaseContext {
  const defs = items.filter((x) => x.kind === 'define');
  const uses = items.filter((x) => x.kind === 'use');
  return { real: real[i % real.length]!, otherDefinition: defs[(i + 1) % defs.length]!.answer, otherUse: uses[(i + 1) % uses.length]!.answer };
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

export interface AdversarialRow {
  name: string;
  strict: boolean;
  mean: number;
  max: number;
  /** Prompts where the degenerate answer scored below the real one, of `of`. */
  lost: number;
  of: number;
}

/** Every case against the real answers of `referenceItems(perKind)`: mean and max gold, and how often it lost. */
export async function adversarialSummary(judge: GoldJudge, perKind: number): Promise<{ realMedian: number; rows: AdversarialRow[] }> {
  const items = referenceItems(perKind);
  const real = heldOutSentences(Math.max(64, items.length));
  const ref = (await judge.scoreBatch(items.map((x) => ({ prompt: x.prompt, response: x.answer })))).map((s) => s.score);
  const keep = items.map((_, i) => i).filter((i) => ref[i]! > 0);
  const rows: AdversarialRow[] = [];
  for (const c of ADVERSARIAL_CASES) {
    const got = (await judge.scoreBatch(keep.map((i) => ({ prompt: items[i]!.prompt, response: c.make(items[i]!.prompt, caseContext(items, i, real)) })))).map((s) => s.score);
    rows.push({
      name: c.name,
      strict: c.strict,
      mean: got.reduce((a, b) => a + b, 0) / got.length,
      max: Math.max(...got),
      lost: got.filter((g, k) => g < ref[keep[k]!]!).length,
      of: got.length,
    });
  }
  return { realMedian: median(ref), rows };
}
