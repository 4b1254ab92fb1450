// The gold judge: the stand-in for human preference, built only from third-party scorers (sentiment, spelling, grammar).
//
// gold = fluency * (1 + sentiment) / 2                                       in [0, 1]
// fluency = length * spelling^2 * (1 - repetition)^2 * grammar               in [0, 1]
//   sentiment   task scorer on the response alone, in [-1, 1] (VADER compound, or AFINN normalised as VADER does)
//   length      min(1, words / 4): empty answers score 0, one- and two-word answers a quarter and a half
//   spelling    share of words nspell (dictionary-en) accepts; a hyphenated word needs every part right;
//               numbers count as right; runs of more than 3 symbols with no letter or digit count as wrong words
//   repetition  max(1 - distinct bigrams / bigrams, 1 - distinct content words / content words), lower-cased;
//               content words are words outside a short function-word list, so "the ... the" is not repetition
//   grammar     exp(-3 * lints / words), lints = harper.js lints falling inside the response, spelling and style
//               lints excluded (spelling is measured above; style and readability are not errors);
//               grammar = 1 when the judge is built with { grammar: false }
// Words are whitespace-separated tokens with at least one letter or digit once edge punctuation is stripped.
// A prompt ending in . ! or ? is an instruction, answered by a stand-alone text; any other prompt is a sentence
// opening that the response continues, so harper lints prompt + " " + response and counts only the lints that end
// inside the response (a continuation rightly starts in lower case).
// Degenerate text cannot win: "good good good good" has strong sentiment but repetition 0.75 (gold about 0.06);
// misspelled text has spelling near 0; one-word answers are capped by length.
import { createRequire } from 'node:module';
import { TASKS, type SentimentScorer, type TaskName } from './tasks.js';

const require = createRequire(import.meta.url);

export class GoldJudgeError extends Error {
  override name = 'GoldJudgeError';
}

export interface GoldScore {
  score: number;
  components: Record<string, number>;
}

export interface GoldItem {
  prompt: string;
  response: string;
}

export interface GoldJudge {
  readonly task: TaskName;
  score(prompt: string, response: string): Promise<GoldScore>;
  scoreBatch(items: GoldItem[]): Promise<GoldScore[]>;
  /** Frees the grammar checker. */
  close(): Promise<void>;
}

/** Exponents and rates of the formula above. */
export const GOLD_FORMULA = {
  fullLengthWords: 4,
  spellingExponent: 2,
  repetitionExponent: 2,
  lintRate: 3,
  junkSymbolRun: 3,
} as const;

// Lint kinds that are not errors of fluency (or, for Spelling, are measured by nspell instead).
const IGNORED_LINT_KINDS = new Set(['Spelling', 'Style', 'Readability', 'Enhancement', 'Regionalism', 'WordChoice']);

// Function words: repeating these is normal English, so the unigram repetition measure skips them.
const FUNCTION_WORDS = new Set(
  ('a an the and or but nor so yet for of in on at to from by with without about as into onto upon over under ' +
    'than then that this these those there here it its it\'s he him his she her hers they them their theirs we us our ' +
    'ours you your yours i me my mine is are was were be been being am do does did done have has had not no ' +
    'will would shall should can could may might must which who whom whose what when where why how all any each ' +
    'some such more most very too also just only own same other if because while after before').split(' '),
);

interface Spell {
  correct(word: string): boolean;
}
interface HarperLint {
  lint_kind(): string;
  span(): { start: number; end: number; free?(): void };
  free(): void;
}
interface HarperLinter {
  setup(): Promise<void>;
  lint(text: string, options: { language: 'plaintext' }): Promise<HarperLint[]>;
  dispose(): Promise<void>;
}

let spellPromise: Promise<Spell> | undefined;
/** nspell with the en-US Hunspell dictionary, loaded once per process. */
function loadSpell(): Promise<Spell> {
  spellPromise ??= (async () => {
    const dictionary = (await import('dictionary-en')).default;
    const nspell = require('nspell') as (d: { aff: Uint8Array; dic: Uint8Array }) => Spell;
    return nspell(dictionary);
  })();
  return spellPromise;
}

async function loadLinter(): Promise<HarperLinter> {
  const { LocalLinter, Dialect } = await import('harper.js');
  const { binary } = await import('harper.js/binary');
  const linter = new LocalLinter({ binary, dialect: Dialect.American }) as unknown as HarperLinter;
  await linter.setup();
  return linter;
}

/** Word-level measures of one response: everything in the formula except sentiment and grammar lints. */
export interface TextStats {
  words: number;
  spelling: number;
  repetition: number;
  length: number;
}

const EDGE_PUNCT = /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu;
const NUMBER = /^\p{N}[\p{N},.:%/]*$/u;

/** Counts words, spelling and repetition (pure; `isWord` decides spelling, memoised by the caller). */
export function textStats(response: string, isWord: (w: string) => boolean): TextStats {
  const cores: string[] = [];
  let right = 0;
  let junk = 0;
  for (const tok of response.split(/\s+/)) {
    if (tok === '') continue;
    const core = tok.replace(EDGE_PUNCT, '');
    if (core === '') {
      if (tok.length > GOLD_FORMULA.junkSymbolRun) junk++;
      continue;
    }
    cores.push(core.toLowerCase());
    if (NUMBER.test(core)) right++;
    else if (core.split(/[-—–/]+/).every((part) => part === '' || isWord(part.replace(/['’]s$/u, '')))) right++;
  }
  const n = cores.length;
  const spelling = n + junk === 0 ? 0 : right / (n + junk);
  let bigramRep = 0;
  if (n >= 2) {
    const bigrams = new Set<string>();
    for (let i = 0; i + 1 < n; i++) bigrams.add(`${cores[i]} ${cores[i + 1]}`);
    bigramRep = 1 - bigrams.size / (n - 1);
  }
  const content = cores.filter((w) => !FUNCTION_WORDS.has(w));
  const unigramRep = content.length === 0 ? 0 : 1 - new Set(content).size / content.length;
  return {
    words: n,
    spelling,
    repetition: Math.max(bigramRep, unigramRep),
    length: Math.min(1, n / GOLD_FORMULA.fullLengthWords),
  };
}

/** Combines the components exactly as the formula at the top of this file says. */
export function combine(sentiment: number, stats: TextStats, lints: number): GoldScore {
  const grammar = Math.exp((-GOLD_FORMULA.lintRate * lints) / Math.max(1, stats.words));
  const fluency =
    stats.length *
    stats.spelling ** GOLD_FORMULA.spellingExponent *
    (1 - stats.repetition) ** GOLD_FORMULA.repetitionExponent *
    grammar;
  const s = Math.max(-1, Math.min(1, sentiment));
  return {
    score: (fluency * (1 + s)) / 2,
    components: { sentiment: s, fluency, spelling: stats.spelling, repetition: stats.repetition, grammar, lints, length: stats.length, words: stats.words },
  };
}

/** A prompt that ends a sentence is an instruction; otherwise the response continues it. */
export const isContinuation = (prompt: string): boolean => !/[.!?]["'\u201d)]*\s*$/u.test(prompt);

export interface GoldJudgeOptions {
  /**
   * Run the harper.js grammar check (default true). It is most of the judge's cost (about 20 ms for a 30-word
   * response on a busy 2-core machine; harper caches repeated texts); without it grammar is 1 and lints 0.
   */
  grammar?: boolean;
}

/** Builds the judge for a task; loads the lexicons, the dictionary and (unless turned off) the harper.js WebAssembly binary. */
export async function createGoldJudge(task: TaskName, opts: GoldJudgeOptions = {}): Promise<GoldJudge> {
  if (!Object.hasOwn(TASKS, task)) throw new GoldJudgeError(`unknown task ${JSON.stringify(task)}; accepted: ${Object.keys(TASKS).join(', ')}`);
  const [sentiment, spell, linter] = await Promise.all([
    TASKS[task].loadSentiment(),
    loadSpell(),
    opts.grammar === false ? Promise.resolve(undefined) : loadLinter(),
  ]);
  return new ThirdPartyJudge(task, sentiment, spell, linter);
}

class ThirdPartyJudge implements GoldJudge {
  private readonly spellCache = new Map<string, boolean>();
  private closed = false;

  constructor(
    readonly task: TaskName,
    private readonly sentiment: SentimentScorer,
    private readonly spell: Spell,
    private readonly linter: HarperLinter | undefined,
  ) {}

  async score(prompt: string, response: string): Promise<GoldScore> {
    if (this.closed) throw new GoldJudgeError('score() called after close()');
    const stats = textStats(response, (w) => this.isWord(w));
    const lints = stats.words === 0 || !this.linter ? 0 : await this.countLints(this.linter, prompt, response);
    return combine(this.sentiment(response), stats, lints);
  }

  async scoreBatch(items: GoldItem[]): Promise<GoldScore[]> {
    const out: GoldScore[] = [];
    for (const it of items) out.push(await this.score(it.prompt, it.response));
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.linter?.dispose();
  }

  private isWord(w: string): boolean {
    let ok = this.spellCache.get(w);
    if (ok === undefined) {
      ok = this.spell.correct(w);
      if (this.spellCache.size < 500_000) this.spellCache.set(w, ok);
    }
    return ok;
  }

  /** Harper lints that end inside the response, ignoring the kinds that are not fluency errors. */
  private async countLints(linter: HarperLinter, prompt: string, response: string): Promise<number> {
    const continuation = isContinuation(prompt) && prompt.trim() !== '';
    const text = continuation ? `${prompt.trimEnd()} ${response.trimStart()}` : response;
    // Harper reports spans in characters; the response starts after the prompt and one space.
    const responseStart = continuation ? [...prompt.trimEnd()].length + 1 : 0;
    let n = 0;
    for (const lint of await linter.lint(text, { language: 'plaintext' })) {
      const span = lint.span();
      if (span.end > responseStart && !IGNORED_LINT_KINDS.has(lint.lint_kind())) n++;
      span.free?.();
      lint.free();
    }
    return n;
  }
}
