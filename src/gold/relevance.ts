// Whether an answer does what its prompt asked, in [RELEVANCE_FLOOR, 1]; the gold judge multiplies it in.
//   "Define X."             define  = floor + (1 - floor) * min(1, hits / DEFINE_HITS_FULL)^2, hits = distinct content
//                                     stems of the answer found in X's sense bag: the lemmas and glosses of every
//                                     WordNet synset of X, and the lemmas and definitions of the synsets they point to
//                                     (hypernyms, derivations, similar, also-see, attributes, pertainyms, parts and
//                                     wholes), and the names of up to RELATED_SYNSETS_MAX hyponyms. X itself and its inflections never count, so
//                                     "A harbor is a harbor." answers nothing; a word WordNet lacks gets 1 (no key).
//   "Use X in a sentence."  use     = 1 when X or an inflection of it stands in the answer, else the floor.
//   a sentence opening      fits    = floor + (1 - floor) * clamp((seam + SEAM_ZERO) / (SEAM_FULL + SEAM_ZERO), 0, 1),
//                                     seam = log P(first tokens | the opening) - max(log P(first tokens | a sentence
//                                     start), log mean P(first tokens | other openings)) under the gold language
//                                     model (word_lm.ts): a continuation that fits this opening gains from it; a
//                                     stand-alone sentence ("It was a lovely day.") and one that would follow any
//                                     opening ("and a strong market ...") do not.
// Any other instruction (no kind matched) gets 1. The constants were chosen by measurement (docs/gold_tasks.md).
import { WordNet, type Synset } from '../data/wordnet.js';
import { FUNCTION_WORDS, isContinuation } from './text_stats.js';
import type { WordLm } from './word_lm.js';

export const RELEVANCE_FLOOR = 0.05;
/** Content stems of the answer that must be found in the sense bag for full relevance. */
export const DEFINE_HITS_FULL = 2;
/** At most this many hyponyms of each sense enter the bag (some senses have hundreds). */
export const RELATED_SYNSETS_MAX = 12;
/** Seam (nats over the first SEAM_TOKENS tokens) at which fit reaches 1, and minus the seam at which it is the floor. */
export const SEAM_FULL = 0.5;
export const SEAM_ZERO = 2.5;
export const SEAM_TOKENS = 2;

/** Pointer kinds whose synsets say what a word means. */
const RELATED = new Set(['@', '@i', '+', '&', '^', '=', '\\', '~', '~i', '#p', '%p', '#m', '%m']);

/** Words that any gloss may use and that name no meaning of their own. */
const GLOSS_BOILERPLATE: ReadonlySet<string> = new Set(
  ('something someone somebody thing things one ones person people act state quality kind sort type way part ' +
    'especially usually often typically etc make made used use using certain particular being having become ' +
    'relating related pertaining characterized').split(' '),
);

const DEFINE = /^\s*define\s+([\p{L}'-]+)\s*[.!?]\s*$/iu;
const USE = /^\s*use\s+(?:the\s+word\s+)?["“]?([\p{L}'-]+)["”]?\s+in\s+a\s+sentence\s*[.!?]\s*$/iu;

/**
 * A light suffix stemmer: enough to match a word with its regular inflections and derivations ("climbing" ~ "climb",
 * "ships" ~ "ship", "happily" ~ "happy", "stopped" ~ "stop"). Not Porter; it only has to agree with itself.
 */
export function stem(word: string): string {
  let w = word.toLowerCase().replace(/['’]s$/u, '');
  if (w.length <= 3) return w;
  for (const [suffix, keep] of [
    ['ies', 'y'],
    ['ied', 'y'],
    ['ily', 'y'],
    ['ing', ''],
    ['edly', ''],
    ['ed', ''],
    ['ly', ''],
    ['es', ''],
    ['s', ''],
  ] as const) {
    if (w.endsWith(suffix) && w.length - suffix.length >= 3) {
      if (suffix === 's' && /(ss|us|is)$/.test(w)) break;
      w = w.slice(0, -suffix.length) + keep;
      break;
    }
  }
  // "stopp" -> "stop", "make" and "making" -> "mak"
  if (/([b-df-hj-np-tv-z])\1$/.test(w) && !/(ll|ss|ff|zz)$/.test(w)) w = w.slice(0, -1);
  if (w.endsWith('e') && w.length > 3) w = w.slice(0, -1);
  return w;
}

/** Lower-cased letter words of a text. */
const lettersWords = (text: string): string[] => text.toLowerCase().match(/\p{L}+(?:['’-]\p{L}+)*/gu) ?? [];

/** Content stems of a text: words outside the function-word and gloss-boilerplate lists, stemmed. */
export function contentStems(text: string): Set<string> {
  const out = new Set<string>();
  for (const w of lettersWords(text)) {
    for (const part of w.split('-')) {
      if (part.length < 2 || FUNCTION_WORDS.has(part) || GLOSS_BOILERPLATE.has(part)) continue;
      out.add(stem(part));
    }
  }
  return out;
}

/** Whether `word` or an inflection of it stands in `text` as a whole word. */
export function containsWord(text: string, word: string): boolean {
  const target = stem(word);
  const lower = word.toLowerCase();
  return lettersWords(text)
    .flatMap((w) => [w, ...(w.includes('-') ? w.split('-') : [])])
    .some((w) => w === lower || stem(w) === target);
}

export interface RelevanceScore {
  relevance: number;
  /** Which term decided: define, use, opening or none. */
  kind: 'define' | 'use' | 'opening' | 'none';
  /** Define: sense-bag hits; use: 1 if the word is there; opening: the seam in nats. */
  evidence: number;
}

let wordnet: WordNet | undefined;

/** Scores relevance with WordNet (definitions) and the gold language model (openings). */
export class RelevanceScorer {
  private readonly bags = new Map<string, Set<string> | null>();

  constructor(
    private readonly wordnet: WordNet,
    private readonly lm: WordLm,
  ) {}

  /** The scorer over the process's one WordNet (read once: every judge of the process shares it). */
  static load(lm: WordLm): RelevanceScorer {
    wordnet ??= WordNet.load((lemma) => /^[a-z][a-z'-]*$/.test(lemma));
    return new RelevanceScorer(wordnet, lm);
  }

  score(prompt: string, response: string): RelevanceScore {
    const define = DEFINE.exec(prompt);
    if (define) return this.define(define[1]!, response);
    const use = USE.exec(prompt);
    if (use) {
      const has = containsWord(response, use[1]!) && response.trim().toLowerCase() !== prompt.trim().toLowerCase();
      return { kind: 'use', relevance: has ? 1 : RELEVANCE_FLOOR, evidence: has ? 1 : 0 };
    }
    if (isContinuation(prompt) && prompt.trim() !== '') {
      const seam = this.lm.seam(prompt, response, SEAM_TOKENS);
      const t = Math.min(1, Math.max(0, (seam + SEAM_ZERO) / (SEAM_FULL + SEAM_ZERO)));
      return { kind: 'opening', relevance: RELEVANCE_FLOOR + (1 - RELEVANCE_FLOOR) * t, evidence: seam };
    }
    return { kind: 'none', relevance: 1, evidence: 0 };
  }

  private define(word: string, response: string): RelevanceScore {
    const bag = this.senseBag(word);
    if (bag === null) return { kind: 'define', relevance: 1, evidence: 0 };
    const own = stem(word);
    let hits = 0;
    for (const s of contentStems(response)) if (s !== own && bag.has(s)) hits++;
    // Squared: one stem in common may be chance ("country" for harbor), two rarely are.
    const t = Math.min(1, hits / DEFINE_HITS_FULL) ** 2;
    return { kind: 'define', relevance: RELEVANCE_FLOOR + (1 - RELEVANCE_FLOOR) * t, evidence: hits };
  }

  /** Content stems of everything WordNet says about a word, without the word itself; null when WordNet lacks it. */
  senseBag(word: string): Set<string> | null {
    const key = word.toLowerCase();
    if (this.bags.has(key)) return this.bags.get(key)!;
    const entries = this.wordnet.index.get(key) ?? this.wordnet.index.get(stem(key));
    let bag: Set<string> | null = null;
    if (entries) {
      bag = new Set<string>();
      const add = (s: Synset, withExamples: boolean) => {
        for (const w of s.words) for (const t of contentStems(w)) bag!.add(t);
        for (const t of contentStems(s.definition)) bag!.add(t);
        if (withExamples) for (const e of s.examples) for (const t of contentStems(e)) bag!.add(t);
      };
      for (const e of entries) {
        for (const offset of e.offsets) {
          const s = this.wordnet.synset(e.pos, offset);
          add(s, true);
          let hyponyms = 0;
          for (const p of s.pointers) {
            if (!RELATED.has(p.symbol)) continue;
            if (p.symbol.startsWith('~') && ++hyponyms > RELATED_SYNSETS_MAX) continue;
            const related = this.wordnet.synset(p.pos, p.offset);
            // A hyponym's gloss describes one kind of X ("a port in the United States"): only its name says what X is.
            if (p.symbol.startsWith('~')) for (const w of related.words) for (const t of contentStems(w)) bag!.add(t);
            else add(related, false);
          }
        }
      }
      bag.delete(stem(key));
    }
    if (this.bags.size < 50_000) this.bags.set(key, bag);
    return bag;
  }
}
