// Preference dataset for the proxy models: K sampled responses per prompt from the SFT policy, pairs labelled by the gold judge.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import { parseJsonl } from '../data/text.js';
import { goldJudgeIdentity } from '../gold/judge.js';
import { deriveSeed, Rng } from '../kernels/rng.js';
import { freshManifest, hashInputs, writeManifest } from './manifest.js';
import { ProgressBar } from './progress.js';
import { modelTag } from '../models/source.js';

export class PreferenceDataError extends Error {
  override name = 'PreferenceDataError';
}

export interface ScoredResponse {
  text: string;
  tokens: number[];
  /** Gold judge score of the response. */
  gold: number;
  /** True when it ended with eos. */
  finished: boolean;
}

/** One labelled pair; `chosen` is the response the label prefers. */
export interface PreferencePair {
  promptId: string;
  prompt: string;
  /** Formatted prompt ids (template applied), as the policy saw them. */
  promptTokens: number[];
  chosen: ScoredResponse;
  rejected: ScoredResponse;
  /** False when Bradley-Terry label noise flipped the gold order (train split only). */
  agreesWithGold: boolean;
}

export interface PromptGroup {
  promptId: string;
  prompt: string;
  promptTokens: number[];
  responses: ScoredResponse[];
}

export interface LabelOptions {
  noise: 'none' | 'bradley-terry';
  /** T in P(a > b) = sigmoid((gold_a - gold_b) / T). */
  temperature: number;
  /** Pairs whose gold scores differ by no more than this are ties and dropped. */
  minMargin: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Every pair of distinct responses in the group whose gold scores differ, labelled.
 * noise 'none': the higher gold score is chosen (deterministic).
 * noise 'bradley-terry': a is chosen with probability sigmoid((gold_a - gold_b) / T), the
 * Bradley-Terry model of a noisy human annotator (small T: nearly deterministic; large T: coin flips).
 */
export function labelPairs(group: PromptGroup, opts: LabelOptions, rng: Rng): PreferencePair[] {
  const out: PreferencePair[] = [];
  const rs = group.responses;
  for (let i = 0; i < rs.length; i++) {
    for (let j = i + 1; j < rs.length; j++) {
      const a = rs[i]!;
      const b = rs[j]!;
      const diff = a.gold - b.gold;
      if (Math.abs(diff) <= opts.minMargin) continue;
      const aBetterGold = diff > 0;
      const aChosen = opts.noise === 'none' ? aBetterGold : rng.next() < sigmoid(diff / opts.temperature);
      out.push({
        promptId: group.promptId,
        prompt: group.prompt,
        promptTokens: group.promptTokens,
        chosen: aChosen ? a : b,
        rejected: aChosen ? b : a,
        agreesWithGold: aChosen === aBetterGold,
      });
    }
  }
  return out;
}

/** Splits prompts (not pairs) so held-out pairs come from prompts the models never trained on. */
export function splitByPrompt<T extends { promptId: string }>(groups: readonly T[], heldOutFraction: number, seed: number): { train: T[]; heldOut: T[] } {
  const order = new Rng(seed).shuffle(groups.map((_, i) => i));
  const nHeld = Math.round(groups.length * heldOutFraction);
  const held = new Set(order.slice(0, nHeld));
  return { train: groups.filter((_, i) => !held.has(i)), heldOut: groups.filter((_, i) => held.has(i)) };
}

/** The pieces preference-data building needs: a sampler (the SFT policy), a gold judge and the prompt template. */
export interface PreferenceSources {
  prompts: readonly { id: string; text: string }[];
  encodePrompt: (prompt: string) => number[];
  decode: (ids: number[]) => string;
  /** K samples for each prompt: tokens [P][K] without the prompt and without eos. */
  sample: (prompts: number[][], k: number, seed: number) => Promise<{ tokens: number[][][]; finished: boolean[][] }>;
  gold: (prompt: string, response: string) => Promise<number>;
}

export interface BuildOptions {
  k: number;
  seed: number;
  /** Prompts per sampling call. */
  promptsPerCall: number;
  log?: (line: string) => void;
  progress?: boolean;
  signal?: AbortSignal;
}

/** Samples K responses for every prompt and scores each with the gold judge. */
export async function sampleGroups(src: PreferenceSources, opts: BuildOptions): Promise<PromptGroup[]> {
  const groups: PromptGroup[] = [];
  const bar = opts.progress === false ? undefined : new ProgressBar('sample', src.prompts.length, { unit: 'prompt' });
  try {
    for (let i = 0; i < src.prompts.length; i += opts.promptsPerCall) {
      if (opts.signal?.aborted) throw new PreferenceDataError('preference data building was stopped; nothing was saved');
      const batch = src.prompts.slice(i, i + opts.promptsPerCall);
      const encoded = batch.map((p) => src.encodePrompt(p.text));
      const { tokens, finished } = await src.sample(encoded, opts.k, deriveSeed(opts.seed, 'prefs', 'sample', i));
      for (let p = 0; p < batch.length; p++) {
        const prompt = batch[p]!;
        const responses: ScoredResponse[] = [];
        for (let r = 0; r < tokens[p]!.length; r++) {
          const ids = tokens[p]![r]!;
          const text = src.decode(ids);
          responses.push({ text, tokens: ids, gold: await src.gold(prompt.text, text), finished: finished[p]![r]! });
        }
        groups.push({ promptId: prompt.id, prompt: prompt.text, promptTokens: encoded[p]!, responses });
      }
      bar?.tick(batch.length);
    }
  } finally {
    bar?.close();
  }
  return groups;
}

export interface PreferenceDataset {
  train: PreferencePair[];
  heldOut: PreferencePair[];
}

/** Labels groups into train pairs (with the configured noise) and held-out pairs (always gold labels: the check is against gold). */
export function labelDataset(groups: readonly PromptGroup[], label: LabelOptions, heldOutFraction: number, seed: number): PreferenceDataset {
  const split = splitByPrompt(groups, heldOutFraction, deriveSeed(seed, 'prefs', 'split'));
  const rng = new Rng(deriveSeed(seed, 'prefs', 'noise'));
  return {
    train: split.train.flatMap((g) => labelPairs(g, label, rng)),
    heldOut: split.heldOut.flatMap((g) => labelPairs(g, { ...label, noise: 'none' }, rng)),
  };
}

function writeJsonl(path: string, rows: readonly unknown[]): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : ''));
  renameSync(tmp, path);
}

export function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) throw new PreferenceDataError(`preference file ${path} does not exist; run \`rlhf-stream train-rm\` to build it`);
  return parseJsonl<T>(readFileSync(path, 'utf8'), (line, err) => new PreferenceDataError(`line ${line} of ${path} is not valid JSON: ${err.message}`));
}

export const PREFS_FILES = { groups: 'groups.jsonl', train: 'train.jsonl', heldOut: 'heldout.jsonl' } as const;

export function prefsDir(cfg: Config): string {
  return join(cfg.run.cacheDir, `prefs${modelTag(cfg)}`);
}

export function savePreferenceData(dir: string, groups: readonly PromptGroup[], ds: PreferenceDataset): void {
  mkdirSync(dir, { recursive: true });
  writeJsonl(join(dir, PREFS_FILES.groups), groups);
  writeJsonl(join(dir, PREFS_FILES.train), ds.train);
  writeJsonl(join(dir, PREFS_FILES.heldOut), ds.heldOut);
}

export function loadPreferenceData(dir: string): PreferenceDataset {
  return {
    train: readJsonl<PreferencePair>(join(dir, PREFS_FILES.train)),
    heldOut: readJsonl<PreferencePair>(join(dir, PREFS_FILES.heldOut)),
  };
}

/** What the preference data depends on: the SFT artifact, the sampling and labelling settings, the seed. */
export function prefsInputs(cfg: Config, sftHash: string): Record<string, unknown> {
  const r = cfg.rm;
  return {
    stage: 'prefs',
    sft: sftHash,
    task: cfg.data.task,
    gold: goldJudgeIdentity(),
    k: r.responsesPerPrompt,
    prompts: r.prompts,
    labelNoise: r.labelNoise,
    noiseTemperature: r.labelNoise === 'none' ? undefined : r.noiseTemperature,
    heldOutFraction: r.heldOutFraction,
    maxNewTokens: cfg.generator.maxNewTokens,
    // The proxy learns on samples drawn as the generators draw them; untempered sampling keeps older caches' hashes.
    ...(cfg.generator.temperature !== 1 || cfg.generator.topP !== 1 || cfg.generator.topK !== 0
      ? { temperature: cfg.generator.temperature, topP: cfg.generator.topP, topK: cfg.generator.topK }
      : {}),
    seed: cfg.compute.seed,
  };
}

export function datasetSummary(groups: readonly PromptGroup[], ds: PreferenceDataset): Record<string, number> {
  const golds = groups.flatMap((g) => g.responses.map((r) => r.gold));
  const mean = golds.reduce((s, x) => s + x, 0) / Math.max(1, golds.length);
  return {
    prompts: groups.length,
    responses: golds.length,
    meanGold: mean,
    finishedShare: groups.flatMap((g) => g.responses).filter((r) => r.finished).length / Math.max(1, golds.length),
    trainPairs: ds.train.length,
    heldOutPairs: ds.heldOut.length,
    trainLabelAgreement: ds.train.filter((p) => p.agreesWithGold).length / Math.max(1, ds.train.length),
  };
}

/** Builds (or reuses, when the manifest's input hash matches) the preference data under <cacheDir>/prefs. */
export async function buildPreferenceData(
  cfg: Config,
  src: PreferenceSources,
  upstreamHash: string,
  opts: { log?: (line: string) => void; progress?: boolean; signal?: AbortSignal; force?: boolean } = {},
): Promise<{ dir: string; reused: boolean; hash: string; summary: Record<string, unknown> }> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const dir = prefsDir(cfg);
  const inputs = prefsInputs(cfg, upstreamHash);
  const hash = hashInputs(inputs);
  const hit = opts.force ? undefined : freshManifest(dir, hash);
  if (hit) {
    log(`prefs: inputs unchanged, reusing ${dir} (hash ${hash.slice(0, 12)})`);
    return { dir, reused: true, hash, summary: hit.summary };
  }
  const started = performance.now();
  log(`prefs: sampling ${cfg.rm.responsesPerPrompt} responses for each of ${src.prompts.length} prompts (temperature ${cfg.generator.temperature}, top-p ${cfg.generator.topP})`);
  const groups = await sampleGroups(src, {
    k: cfg.rm.responsesPerPrompt,
    seed: cfg.compute.seed,
    promptsPerCall: Math.max(1, Math.floor(64 / cfg.rm.responsesPerPrompt)),
    log,
    progress: opts.progress,
    signal: opts.signal,
  });
  const ds = labelDataset(
    groups,
    { noise: cfg.rm.labelNoise, temperature: cfg.rm.noiseTemperature, minMargin: 1e-6 },
    cfg.rm.heldOutFraction,
    cfg.compute.seed,
  );
  savePreferenceData(dir, groups, ds);
  const summary = { ...datasetSummary(groups, ds), seconds: (performance.now() - started) / 1000 };
  writeManifest(dir, { stage: 'prefs', hash, inputs, files: Object.values(PREFS_FILES), summary });
  log(`prefs: ${ds.train.length} train pairs, ${ds.heldOut.length} held-out pairs from ${groups.length} prompts in ${dir}`);
  return { dir, reused: false, hash, summary };
}
