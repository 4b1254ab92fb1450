// Word-level measures of a response that need no model: words, spelling, repetition, capitals, copying the prompt.
//   spelling    share of words `isWord` accepts; a hyphenated word needs every part right; numbers count as right;
//               runs of more than 3 symbols with no letter or digit count as wrong words
//   repetition  max(1 - distinct bigrams / bigrams, 1 - distinct content words / content words), lower-cased;
//               content words are words outside a short function-word list, so "the ... the" is not repetition
//   caps        share of words of two or more letters written wholly in capitals
//   function    function words / max(words, 8): the share of words from the short function-word list below, counted as
//               if an answer had at least 8 words (so "It is in the box." is not dense)
//   list        share of words that are one-word items of a comma-separated run of at least 3 ("joy, hope, pride,
//               peace"), a last item may follow "and" or "or"; a sentence with a short list in it keeps most words
//   ended       1 when the response ends a sentence (. ! or ?, then optional closing quotes or brackets), else 0
//   copy        share of the response's words inside a run of at least min(4, prompt words) words that also occurs,
//               in order, in the prompt (so a copied prompt scores 1, while "in a" from "Use whale in a sentence." is no copy)
// Words are whitespace-separated tokens with at least one letter or digit once edge punctuation is stripped.

/** The formula's fixed numbers (see judge.ts for where each enters). */
export const GOLD_FORMULA = {
  fullLengthWords: 4,
  spellingExponent: 2,
  repetitionExponent: 2,
  capsExponent: 2,
  copyExponent: 2,
  copyRun: 4,
  functionMinWords: 8,
  /** Function-word share at which the density term starts to fall (about the 90th percentile of held-out sentences)... */
  functionFull: 0.6,
  /** ... and at which it reaches 0 (above the largest share among held-out sentences of 20 words or more, 0.70). */
  functionZero: 0.8,
  /** Factor for a response that stops mid-sentence. */
  unfinished: 0.5,
  lintRate: 3,
  junkSymbolRun: 3,
  listExponent: 2,
  listMinItems: 3,
} as const;

// Function words: repeating these is normal English, so the unigram repetition measure skips them.
export const FUNCTION_WORDS: ReadonlySet<string> = new Set(
  ('a an the and or but nor so yet for of in on at to from by with without about as into onto upon over under ' +
    'than then that this these those there here it its it\'s he him his she her hers they them their theirs we us our ' +
    'ours you your yours i me my mine is are was were be been being am do does did done have has had not no ' +
    'will would shall should can could may might must which who whom whose what when where why how all any each ' +
    'some such more most very too also just only own same other if because while after before').split(' '),
);

/** Word-level measures of one response. */
export interface TextStats {
  words: number;
  spelling: number;
  repetition: number;
  length: number;
  caps: number;
  copy: number;
  function: number;
  list: number;
  ended: number;
}

const EDGE_PUNCT = /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu;
const NUMBER = /^\p{N}[\p{N},.:%/]*$/u;
const SENTENCE_END = /[.!?]["'\u2019\u201d)\]]*\s*$/u;
const ALL_CAPS = /^(?=(?:.*\p{L}){2})[^\p{Ll}]*$/u;

/** Edge-stripped words of a text, case kept. */
export function coreWords(text: string): string[] {
  const out: string[] = [];
  for (const tok of text.split(/\s+/)) {
    const core = tok.replace(EDGE_PUNCT, '');
    if (core !== '') out.push(core);
  }
  return out;
}

function bigrams(words: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < words.length; i++) out.push(`${words[i]} ${words[i + 1]}`);
  return out;
}

/** Counts words, spelling, repetition, capitals and copying (pure; `isWord` decides spelling, memoised by the caller). */
export function textStats(response: string, isWord: (w: string) => boolean, prompt = ''): TextStats {
  const cores: string[] = [];
  let right = 0;
  let junk = 0;
  let caps = 0;
  for (const tok of response.split(/\s+/)) {
    if (tok === '') continue;
    const core = tok.replace(EDGE_PUNCT, '');
    if (core === '') {
      if (tok.length > GOLD_FORMULA.junkSymbolRun) junk++;
      continue;
    }
    cores.push(core.toLowerCase());
    if (ALL_CAPS.test(core)) caps++;
    if (NUMBER.test(core)) right++;
    else if (core.split(/[-—–/]+/).every((part) => part === '' || isWord(part.replace(/['’]s$/u, '')))) right++;
  }
  const n = cores.length;
  const spelling = n + junk === 0 ? 0 : right / (n + junk);
  const grams = bigrams(cores);
  const bigramRep = grams.length === 0 ? 0 : 1 - new Set(grams).size / grams.length;
  const content = cores.filter((w) => !FUNCTION_WORDS.has(w));
  const unigramRep = content.length === 0 ? 0 : 1 - new Set(content).size / content.length;
  const functionShare = cores.filter((w) => FUNCTION_WORDS.has(w)).length / Math.max(n, GOLD_FORMULA.functionMinWords);
  const copy = copiedShare(cores, coreWords(prompt).map((w) => w.toLowerCase()));
  return {
    words: n,
    spelling,
    repetition: Math.max(bigramRep, unigramRep),
    length: Math.min(1, n / GOLD_FORMULA.fullLengthWords),
    caps: n === 0 ? 0 : caps / n,
    copy,
    function: functionShare,
    list: n === 0 ? 0 : listWords(response) / n,
    ended: SENTENCE_END.test(response) ? 1 : 0,
  };
}

/** Words that are one-word items of comma-separated runs of at least GOLD_FORMULA.listMinItems items. */
function listWords(response: string): number {
  const segments = response.split(/[,;]/).map((seg) => coreWords(seg).filter((w, i, all) => !(i === 0 && all.length === 2 && /^(and|or)$/i.test(w))));
  let total = 0;
  let run = 0;
  const close = () => {
    if (run >= GOLD_FORMULA.listMinItems) total += run;
    run = 0;
  };
  for (const seg of segments) {
    if (seg.length === 1) run++;
    else close();
  }
  close();
  return total;
}

/** Share of `response` words covered by runs of >= min(COPY_RUN, prompt length) consecutive words found in `prompt`. */
function copiedShare(response: readonly string[], prompt: readonly string[]): number {
  if (response.length === 0 || prompt.length === 0) return 0;
  const run = Math.min(GOLD_FORMULA.copyRun, prompt.length);
  const covered = new Uint8Array(response.length);
  for (let i = 0; i < response.length; i++) {
    for (let j = 0; j < prompt.length; j++) {
      let k = 0;
      while (i + k < response.length && j + k < prompt.length && response[i + k] === prompt[j + k]) k++;
      if (k >= run) covered.fill(1, i, i + k);
    }
  }
  return covered.reduce((a, b) => a + b, 0) / response.length;
}

/** A prompt that ends a sentence is an instruction; otherwise the response continues it. */
export const isContinuation = (prompt: string): boolean => !/[.!?]["'\u201d)]*\s*$/u.test(prompt);
