// Instruction pairs for SFT from WordNet: "Define X." -> the gloss, "Use X in a sentence." -> a WordNet example sentence.
// Synsets of the gold judge's split (wordnet.ts) are never used: their glosses fit the judge's language model.
import { splitOf } from './text.js';
import { asSentence, isGoldSynset, WordNet, type IndexEntry } from './wordnet.js';

export type InstructionKind = 'define' | 'use';
export interface InstructionPair {
  word: string;
  /** WordNet part of speech of the sense used: n, v, a, r. */
  pos: string;
  kind: InstructionKind;
  prompt: string;
  response: string;
}

/** A lemma qualifies when it is one plain lower-case word (no phrases, hyphens, digits or proper names). */
const PLAIN_WORD = /^[a-z]{3,20}$/;

/** An example "uses" the word when the word or a regular inflection of it stands in it as a whole word. */
function usesWord(example: string, word: string): boolean {
  return new RegExp(`(^|[^a-z])${word}(s|es|d|ed|ing|er|est|ly)?([^a-z]|$)`, 'i').test(example);
}

const MIN_EXAMPLE_WORDS = 5;

/** The split of a word's instruction pairs (both pairs of a word land in the same one). */
export const instructionSplitOf = (word: string, validFraction: number): 'train' | 'valid' =>
  splitOf(`instruction/${word}`, validFraction, 0) === 'train' ? 'train' : 'valid';

export interface BuildInstructionOptions {
  /** Lower-case word -> occurrences in the training corpus. */
  corpusCounts: Map<string, number>;
  /** Words seen fewer times in the corpus get no pairs; 0 keeps every WordNet word. */
  minCount: number;
  validFraction: number;
}

/**
 * Builds the pairs, sorted by word, and splits them by word (both pairs of a word land in the same split).
 * The sense used is the most frequent sense of the part of speech with most tagged senses (ties: noun, verb, adj, adv).
 */
export function buildInstructions(opts: BuildInstructionOptions): { train: InstructionPair[]; valid: InstructionPair[] } {
  const wordnet = WordNet.load((lemma) => PLAIN_WORD.test(lemma));
  // WordNet repeats some glosses and examples across synsets: a text a gold synset holds is never used either.
  const gold = new Set(wordnet.goldTexts());
  const out = { train: [] as InstructionPair[], valid: [] as InstructionPair[] };
  for (const word of [...wordnet.index.keys()].sort()) {
    if (opts.minCount > 0 && (opts.corpusCounts.get(word) ?? 0) < opts.minCount) continue;
    const entries = wordnet.index.get(word)!;
    // Stable sort keeps noun, verb, adj, adv order among ties.
    const ranked = [...entries].sort((a, b) => b.tagged - a.tagged || b.offsets.length - a.offsets.length);
    const main = ranked[0]!;
    const offset = main.offsets.find((o) => !isGoldSynset(main.pos, o));
    const sense = offset === undefined ? undefined : wordnet.synset(main.pos, offset);
    const split = instructionSplitOf(word, opts.validFraction);
    if (sense && sense.definition.length > 0 && !gold.has(asSentence(sense.definition))) {
      out[split].push({ word, pos: main.pos, kind: 'define', prompt: `Define ${word}.`, response: asSentence(sense.definition) });
    }
    const example = findExample(word, ranked, wordnet, gold);
    if (example) out[split].push({ word, pos: example.pos, kind: 'use', prompt: `Use ${word} in a sentence.`, response: asSentence(example.text) });
  }
  return out;
}

/** The first example, over senses in frequency order (main part of speech first), that uses the word in a full sentence. */
function findExample(word: string, ranked: IndexEntry[], wordnet: WordNet, gold: Set<string>): { pos: string; text: string } | undefined {
  for (const entry of ranked) {
    for (const offset of entry.offsets) {
      if (isGoldSynset(entry.pos, offset)) continue;
      for (const ex of wordnet.synset(entry.pos, offset).examples) {
        if (ex.split(/\s+/).length >= MIN_EXAMPLE_WORDS && usesWord(ex, word) && !gold.has(asSentence(ex))) return { pos: entry.pos, text: ex };
      }
    }
  }
  return undefined;
}

/** Lower-case word counts of a set of texts (letters only), for `minCount`. */
export function wordCounts(texts: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of texts) {
    for (const w of t.toLowerCase().match(/\p{L}+/gu) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return counts;
}
