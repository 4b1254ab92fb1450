// The gold judge: the stand-in for human preference, built only from third-party scorers and a language model
// fitted on text no policy ever sees. It shares nothing with the proxy reward models.
//
// gold = fluency * task * relevance                                                        in [0, 1]
// fluency = length * spelling^2 * (1 - repetition)^2 * grammar * (1 - caps)^2 * (1 - copy)^2 * (1 - list)^2 * density
//           * ending * naturalness
//   task         the task's own scorer in [0, 1] (src/gold/tasks/), e.g. (1 + VADER compound) / 2
//   relevance    whether the answer does what the prompt asked, in [0.05, 1] (relevance.ts): a definition of the word
//                asked about, a sentence that uses it, a continuation that fits the opening
//   length       min(1, words / 4): empty answers score 0, one- and two-word answers a quarter and a half
//   spelling, repetition, caps, copy, list: see text_stats.ts (nspell with the en-US Hunspell dictionary decides spelling)
//   density      clamp((0.8 - function) / (0.8 - 0.6), 0, 1), function = function-word share (text_stats.ts): real
//                sentences rarely pass 0.6 and never 0.7 at 20 words or more; the drifted policies' answers reach 0.77
//   ending       1 for a response that ends a sentence, 0.5 for one that stops mid-sentence (the length cap)
//   grammar      exp(-3 * lints / words), lints = harper.js lints falling inside the response, spelling and style
//                lints excluded; grammar = 1 when the judge is built with { grammar: false }
//   naturalness  clamp(SLOR / SLOR_FULL, 0.01, 1): SLOR is the per-token gain in log-probability of the gold split's
//                trigram Kneser-Ney model over its unigram model (word_lm.ts). Word salad, word lists and random
//                dictionary words predict no better than word frequency (SLOR <= 0) and get the floor 0.01; SLOR_FULL
//                is the lower quartile of real sentences from the corpus's validation split (docs/gold_tasks.md).
// A prompt ending in . ! or ? is an instruction, answered by a stand-alone text; any other prompt is a sentence
// opening that the response continues: harper lints prompt + " " + response and counts only the lints that end
// inside the response, and the language model conditions the response on the opening.
import { createRequire } from 'node:module';
import { GrammarChecker, loadHarper } from './grammar.js';
import { goldLmInputs, loadGoldLm } from './language_model.js';
import { RelevanceScorer, type RelevanceScore } from './relevance.js';
import type { TaskScorer } from './task.js';
import { goldTask } from './tasks/index.js';
import { GOLD_FORMULA, isContinuation, textStats, type TextStats } from './text_stats.js';
import type { WordLm } from './word_lm.js';

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
  readonly task: string;
  score(prompt: string, response: string): Promise<GoldScore>;
  scoreBatch(items: GoldItem[]): Promise<GoldScore[]>;
  /** Frees the grammar checker. */
  close(): Promise<void>;
}

/**
 * Naturalness never falls below this: two answers that both read as word salad are still ordered by spelling,
 * grammar, length and the rest (a weak SFT policy's preference pairs would otherwise be mostly ties), while salad
 * stays far below any answer with real word order.
 */
export const NATURALNESS_FLOOR = 0.01;

/** Bumped whenever the formula changes, so that stages labelled by the judge (preference data) are rebuilt. */
export const GOLD_JUDGE_VERSION = 4;

/** What the judge's scores depend on besides the task name: formula version and the language model's inputs. */
export const goldJudgeIdentity = (): Record<string, unknown> => ({ version: GOLD_JUDGE_VERSION, lm: goldLmInputs() });

/** SLOR at which naturalness reaches 1 (nats per token; measured, see docs/gold_tasks.md). */
export const SLOR_FULL = 0.65;

interface Spell {
  correct(word: string): boolean;
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

/** Naturalness from SLOR, as the formula above says (the floor for an empty response, which length sets to 0 anyway). */
export const naturalnessOf = (slor: number): number => (Number.isFinite(slor) ? Math.min(1, Math.max(NATURALNESS_FLOOR, slor / SLOR_FULL)) : NATURALNESS_FLOOR);

/** The function-word density term from the function-word share, as the formula above says. */
export const densityOf = (share: number): number =>
  Math.min(1, Math.max(0, (GOLD_FORMULA.functionZero - share) / (GOLD_FORMULA.functionZero - GOLD_FORMULA.functionFull)));

const FULL_RELEVANCE: RelevanceScore = { kind: 'none', relevance: 1, evidence: 0 };

/** Combines the components exactly as the formula at the top of this file says. */
export function combine(task: number, stats: TextStats, lints: number, slor: number, rel: RelevanceScore = FULL_RELEVANCE): GoldScore {
  const grammar = Math.exp((-GOLD_FORMULA.lintRate * lints) / Math.max(1, stats.words));
  const naturalness = naturalnessOf(slor);
  const density = densityOf(stats.function);
  const ending = stats.ended ? 1 : GOLD_FORMULA.unfinished;
  const fluency =
    stats.length *
    stats.spelling ** GOLD_FORMULA.spellingExponent *
    (1 - stats.repetition) ** GOLD_FORMULA.repetitionExponent *
    grammar *
    (1 - stats.caps) ** GOLD_FORMULA.capsExponent *
    (1 - stats.copy) ** GOLD_FORMULA.copyExponent *
    (1 - stats.list) ** GOLD_FORMULA.listExponent *
    density *
    ending *
    naturalness;
  const t = Math.max(0, Math.min(1, task));
  return {
    score: fluency * t * rel.relevance,
    components: {
      task: t,
      relevance: rel.relevance,
      relevanceEvidence: rel.evidence,
      fluency,
      naturalness,
      slor: Number.isFinite(slor) ? slor : 0,
      spelling: stats.spelling,
      repetition: stats.repetition,
      caps: stats.caps,
      copy: stats.copy,
      list: stats.list,
      function: stats.function,
      density,
      ending,
      grammar,
      lints,
      length: stats.length,
      words: stats.words,
    },
  };
}

export interface GoldJudgeOptions {
  /**
   * Run the harper.js grammar check (default true). It is most of the judge's cost (about 20 ms for a 30-word
   * response on a busy 2-core machine; harper caches repeated texts); without it grammar is 1 and lints 0.
   */
  grammar?: boolean;
  /** Keep the fitted language model under <cacheDir>/gold-lm (fitting takes a few seconds); default: fit in memory. */
  cacheDir?: string;
  log?: (line: string) => void;
}

/** Builds the judge for a task; loads the task scorer, the dictionary, the language model and (unless off) harper.js. */
export async function createGoldJudge(task: string, opts: GoldJudgeOptions = {}): Promise<GoldJudge> {
  const spec = goldTask(task);
  const [scorer, spell, lm, grammar] = await Promise.all([
    spec.load(),
    loadSpell(),
    loadGoldLm(opts.cacheDir, opts.log),
    opts.grammar === false ? Promise.resolve(undefined) : loadHarper().then((l) => new GrammarChecker(l)),
  ]);
  return new ThirdPartyJudge(spec.name, scorer, spell, lm, RelevanceScorer.load(lm), grammar);
}

class ThirdPartyJudge implements GoldJudge {
  private readonly spellCache = new Map<string, boolean>();
  private closed = false;

  constructor(
    readonly task: string,
    private readonly scorer: TaskScorer,
    private readonly spell: Spell,
    private readonly lm: WordLm,
    private readonly relevance: RelevanceScorer,
    private readonly grammar: GrammarChecker | undefined,
  ) {}

  async score(prompt: string, response: string): Promise<GoldScore> {
    if (this.closed) throw new GoldJudgeError('score() called after close()');
    const stats = textStats(response, (w) => this.isWord(w), prompt);
    const lints = stats.words === 0 || !this.grammar ? 0 : await this.countLints(this.grammar, prompt, response);
    const relevance = stats.words === 0 ? FULL_RELEVANCE : this.relevance.score(prompt, response);
    return combine(this.scorer(prompt, response), stats, lints, this.lm.score(prompt, response).slor, relevance);
  }

  async scoreBatch(items: GoldItem[]): Promise<GoldScore[]> {
    const out: GoldScore[] = [];
    for (const it of items) out.push(await this.score(it.prompt, it.response));
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.grammar?.dispose();
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
  private async countLints(grammar: GrammarChecker, prompt: string, response: string): Promise<number> {
    const continuation = isContinuation(prompt) && prompt.trim() !== '';
    const text = continuation ? `${prompt.trimEnd()} ${response.trimStart()}` : response;
    // Harper reports spans in characters; the response starts after the prompt and one space.
    const responseStart = continuation ? [...prompt.trimEnd()].length + 1 : 0;
    return grammar.countLints(text, responseStart);
  }
}
