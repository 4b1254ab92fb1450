// The gold judge's word language model: how natural a response's word sequence is, measured against text that no
// policy ever sees (the corpus's gold split, see corpus.ts GOLD_FRACTION).
//
// Text -> tokens: words (letters, inner apostrophes and hyphens; a sentence's first word lower-cased, others as written),
// <num> for numbers, each punctuation mark its own token; words seen fewer than `minCount` times in the fitting text become <unk>. Each sentence is padded with
// order - 1 <s> and ended by </s>, so a response that stops mid-sentence pays for the missing end.
// A continuation (a prompt that does not end a sentence) conditions the response's first sentence on the prompt's
// last words.
//
// Two per-token figures come out: perplexity = exp(-mean log P_lm), and SLOR (syntactic log-odds ratio, Lau, Clark &
// Lappin 2017) = mean (log P_lm(w | h) - log P_unigram(w)), where an <unk> token gains 0 but still counts. SLOR
// discounts word frequency: a string of frequent words ("the to the of a the") has a low perplexity but gains nothing
// over its unigram probability, while a real sentence with rare words has a high perplexity yet a large gain. The gold
// judge maps SLOR to [0, 1] (see judge.ts).
import { isContinuation } from './text_stats.js';
import { splitSentences } from '../data/text.js';
import { KneserNeyLm, type NgramLmJson } from './ngram_lm.js';

const BOS = '<s>';
const EOS = '</s>';
const UNK = '<unk>';
const NUM = '<num>';
const UNK_ID = 2;

const TOKEN = /\p{L}+(?:['’-]\p{L}+)*|\p{N}+(?:[.,:/]\p{N}+)*|[^\s\p{L}\p{N}]/gu;
const QUOTES: Record<string, string> = { '“': '"', '”': '"', '‘': "'", '’': "'", '—': '-', '–': '-' };

/**
 * Word, number and punctuation tokens of a sentence (no boundary tokens). Case is kept, except that the first word of a
 * sentence (`sentenceStart`) is lower-cased: "Soon" in mid-sentence or a word in capitals is then a different, rarer
 * token than "soon", while "The" opening a sentence is the same token as "the".
 */
export function lmTokens(text: string, sentenceStart = true): string[] {
  const out: string[] = [];
  let first = sentenceStart;
  for (const m of text.matchAll(TOKEN)) {
    const t = m[0];
    if (/^\p{N}/u.test(t)) out.push(NUM);
    else if (/^\p{L}/u.test(t)) out.push(first ? t.toLowerCase() : t.replace(/’/g, "'"));
    else {
      out.push(QUOTES[t] ?? t);
      continue;
    }
    first = false;
  }
  return out;
}

export interface WordLmOptions {
  /** n-gram order (3 = trigrams). */
  order: number;
  /** Words seen fewer times become <unk>. */
  minCount: number;
}

export interface WordLmScore {
  /** Scored tokens, </s> included; 0 for an empty response. */
  tokens: number;
  /** Sum of natural-log probabilities under the n-gram model and under the unigram model. */
  logProb: number;
  unigramLogProb: number;
  perplexity: number;
  slor: number;
}

export interface WordLmJson {
  options: WordLmOptions;
  vocab: string[];
  unigram: number[];
  lm: NgramLmJson;
  /** Mid-sentence contexts (order - 1 ids each) of the fitting text: the openings a seam is compared with. */
  contexts: number[][];
}

/** How many mid-sentence contexts the seam averages over (chosen by measurement, docs/gold_tasks.md). */
export const SEAM_CONTEXTS = 64;

export class WordLm {
  private readonly index: Map<string, number>;
  private readonly unigramLog: Float64Array;

  private constructor(
    readonly options: WordLmOptions,
    private readonly vocab: string[],
    /** Raw counts per id (<s> has none: it is never predicted). */
    private readonly unigram: number[],
    private readonly lm: KneserNeyLm,
    private readonly contexts: number[][],
  ) {
    this.index = new Map(vocab.map((w, i) => [w, i]));
    const total = unigram.reduce((a, b) => a + b, 0);
    // Add-one so that a word the n-gram model can emit is never impossible under the unigram either.
    this.unigramLog = Float64Array.from(unigram, (c) => Math.log((c + 1) / (total + unigram.length)));
  }

  /** Fits on sentences (plain text, one sentence each). */
  static fit(sentences: readonly string[], options: WordLmOptions): WordLm {
    const tokenized = sentences.map((s) => lmTokens(s)).filter((t) => t.length > 0);
    const freq = new Map<string, number>();
    for (const ts of tokenized) for (const t of ts) freq.set(t, (freq.get(t) ?? 0) + 1);
    const vocab = [BOS, EOS, UNK, NUM, ...[...freq].filter(([w, c]) => c >= options.minCount && w !== NUM).map(([w]) => w).sort()];
    const index = new Map(vocab.map((w, i) => [w, i]));
    const unigram = new Array<number>(vocab.length).fill(0);
    const pad = new Array<number>(options.order - 1).fill(0);
    const sequences = tokenized.map((ts) => {
      const ids = ts.map((t) => index.get(t) ?? UNK_ID);
      ids.push(1);
      for (const id of ids) unigram[id]!++;
      return [...pad, ...ids];
    });
    return new WordLm(options, vocab, unigram, KneserNeyLm.fit(sequences, options.order, vocab.length), midSentenceContexts(sequences, options.order));
  }

  static fromJson(json: WordLmJson): WordLm {
    return new WordLm(json.options, json.vocab, json.unigram, KneserNeyLm.fromJson(json.lm), json.contexts);
  }

  toJson(): WordLmJson {
    return { options: this.options, vocab: this.vocab, unigram: this.unigram, lm: this.lm.toJson(), contexts: this.contexts };
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** n-gram counts per order. */
  sizes(): number[] {
    return this.lm.sizes();
  }

  private ids(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.index.get(t) ?? UNK_ID);
  }

  /**
   * How much a continuation's first `n` tokens gain from this opening, in nats: log P(tokens | the opening's last
   * words) minus the larger of log P(tokens | a sentence start) and log of their mean probability after the model's
   * mid-sentence contexts (SEAM_CONTEXTS openings of the fitting text). The first baseline catches a stand-alone
   * sentence ("It was a lovely day." after "A bullet smashed directly" pays for a capital in mid-sentence); the second
   * catches a continuation that would follow any opening ("and a strong market ..." gains nothing from this one),
   * while "into the wall" after the same opening gains over both. The response is read as written, except that a
   * sentence start lower-cases its first word.
   */
  seam(prompt: string, response: string, n: number): number {
    const first = splitSentences(response)[0] ?? '';
    const pad = new Array<number>(this.options.order - 1).fill(0);
    const opening = [...pad, ...this.ids(lmTokens(splitSentences(prompt).at(-1) ?? '')).slice(-(this.options.order - 1))];
    // Read once, scored after each context.
    const mid = this.seamTokens(lmTokens(first, false), n);
    const own = this.firstTokens(opening, mid);
    const start = this.firstTokens(pad, this.seamTokens(lmTokens(first, true), n));
    const lps = this.contexts.map((c) => this.firstTokens(c, mid));
    const top = Math.max(...lps);
    const anyOpening = top + Math.log(lps.reduce((a, lp) => a + Math.exp(lp - top), 0) / lps.length);
    return own - Math.max(start, anyOpening);
  }

  /**
   * A response's first `n` tokens (and the end, if the sentence is shorter) as ids, each with a penalty in nats. A
   * capitalised word the model never saw in mid-sentence ("Thank", "Many") would be <unk>, which is likely anywhere;
   * it is scored as its lower-case form times the chance of that capital: 1 / (count + 1).
   */
  private seamTokens(tokens: readonly string[], n: number): { ids: number[]; penalties: number[] } {
    const penalties: number[] = [];
    const ids = tokens.map((t) => {
      const id = this.index.get(t);
      const lower = /^\p{Lu}/u.test(t) ? this.index.get(t.toLowerCase()) : undefined;
      if (id === undefined && lower !== undefined) {
        penalties.push(-Math.log(this.unigram[lower]! + 1));
        return lower;
      }
      penalties.push(0);
      return id ?? UNK_ID;
    });
    ids.push(1);
    return { ids: ids.slice(0, n), penalties: penalties.slice(0, n) };
  }

  /** log P of seam tokens after `context`. */
  private firstTokens(context: readonly number[], t: { ids: number[]; penalties: number[] }): number {
    const seq = [...context, ...t.ids];
    let lp = 0;
    for (let i = 0; i < t.ids.length; i++) lp += this.lm.logProb(seq, context.length + i) + (t.penalties[i] ?? 0);
    return lp;
  }

  /** Scores a response; a continuation's first sentence is conditioned on the end of its prompt. */
  score(prompt: string, response: string): WordLmScore {
    const pad = new Array<number>(this.options.order - 1).fill(0);
    let context = pad;
    let sentenceStart = true;
    if (isContinuation(prompt) && prompt.trim() !== '') {
      const sentences = splitSentences(prompt);
      context = [...pad, ...this.ids(lmTokens(sentences.at(-1) ?? ''))];
      sentenceStart = false;
    }
    let tokens = 0;
    let logProb = 0;
    let unigramLogProb = 0;
    let gain = 0;
    for (const sentence of splitSentences(response)) {
      const ids = this.ids(lmTokens(sentence, sentenceStart));
      sentenceStart = true;
      if (ids.length === 0) continue;
      const seq = [...context, ...ids, 1];
      for (let at = context.length; at < seq.length; at++) {
        const lp = this.lm.logProb(seq, at);
        const up = this.unigramLog[seq[at]!]!;
        logProb += lp;
        unigramLogProb += up;
        // An unknown word says nothing about fluency (the model has seen "<unk> <unk>" often): it gains nothing.
        if (seq[at] !== UNK_ID) gain += lp - up;
        tokens++;
      }
      context = pad;
    }
    if (tokens === 0) return { tokens: 0, logProb: 0, unigramLogProb: 0, perplexity: Infinity, slor: -Infinity };
    return { tokens, logProb, unigramLogProb, perplexity: Math.exp(-logProb / tokens), slor: gain / tokens };
  }
}

/**
 * SEAM_CONTEXTS mid-sentence contexts of the fitting sequences (each padded with order - 1 <s>), one from each of
 * evenly spaced sentences of at least six tokens, cut at a position that moves along with the sentence's index.
 */
function midSentenceContexts(sequences: readonly number[][], order: number): number[][] {
  const pad = order - 1;
  const long = sequences.filter((s) => s.length - pad >= 6);
  const stride = Math.max(1, Math.floor(long.length / SEAM_CONTEXTS));
  const out: number[][] = [];
  for (let i = 0; i < long.length && out.length < SEAM_CONTEXTS; i += stride) {
    const words = long[i]!.length - pad;
    const cut = pad + 2 + ((out.length * 7919) % Math.max(1, words - 4));
    out.push(long[i]!.slice(cut - pad, cut));
  }
  return out;
}
