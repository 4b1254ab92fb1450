// The cached pipeline stages before the online loop: data -> SFT -> preference data -> proxy reward models.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import { buildData, type DataArtifacts } from '../data/build.js';
import { createGoldJudge } from '../gold/index.js';
import { formatPrompt } from '../data/template.js';
import { splitSentences, words } from '../data/text.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import { disposeModel, type GptModel } from '../kernels/gpt.js';
import { withGemmThreads } from '../kernels/native/index.js';
import { generate } from '../kernels/sampling.js';
import { deriveSeed } from '../kernels/rng.js';
import { modelTag } from '../models/source.js';
import { freshManifest, hashInputs, writeManifest } from './manifest.js';
import { loadModel, ModelIoError, saveModel, scalarModelFromPolicy, type PromptResponse, type SftData, type TrainLog } from './model_io.js';
import { pairwiseAccuracy, PAIRWISE_INPUT, trainPairwise } from './pairwise_model.js';
import { buildPreferenceData, loadPreferenceData, prefsDir, prefsInputs, splitByPrompt, type PreferenceDataset, type PreferencePair } from './preference_data.js';
import { BT_INPUT, btAccuracy, fitOptionsOf, trainBt, type FitResult } from './reward_model.js';
import { sftDir } from '../models/source.js';
import { sftInputs, trainSft, type TrainOptions } from './sft.js';
import { importSft } from './sft_import.js';


export type RmKind = 'bt' | 'pairwise';
export const RM_KINDS: readonly RmKind[] = ['bt', 'pairwise'];

export interface StageResult {
  dir: string;
  /** True when an artifact with the same input hash was reused. */
  reused: boolean;
  hash: string;
  summary: Record<string, unknown>;
}

/** Options of the stages after SFT: upstream artifacts the caller already holds are passed in, not rebuilt or re-hashed. */
export type StageOptions = TrainOptions & { data?: DataArtifacts; sft?: StageResult };

const defaultLog: TrainLog = (l) => console.error(l);

/** Words a sentence needs after the opening for a continuation pair (as the prompt builder asks). */
const MIN_REST_WORDS = 3;

/**
 * Opening -> rest-of-sentence pairs (the rest with its leading space) from documents: the RLHF prompts are mostly such openings, so the policy is
 * taught to continue them inside the prompt template. Openings are filtered as the prompt builder filters them.
 */
export function continuationPairs(texts: readonly string[], promptWords: number): PromptResponse[] {
  const out: PromptResponse[] = [];
  for (const text of texts) {
    for (const sentence of splitSentences(text)) {
      const w = words(sentence);
      if (w.length < promptWords + MIN_REST_WORDS) continue;
      const prompt = w.slice(0, promptWords).join(' ');
      if (!/^\p{Lu}/u.test(prompt) || /["“”()[\]]/u.test(prompt)) continue;
      // The rest starts with a space, as it does inside the sentence: without it the first token would be a word piece
      // that in running text only ends a word, and the tuned policy would begin its continuations with fragments.
      out.push({ prompt, response: ` ${w.slice(promptWords).join(' ')}` });
    }
  }
  return out;
}

/** The text view the SFT stage trains on, from the data artifacts. */
export function sftDataOf(a: DataArtifacts, promptWords: number): SftData {
  const corpus = { train: a.corpus.train.map((d) => d.text), valid: a.corpus.valid.map((d) => d.text) };
  return {
    tokenizer: a.tokenizer,
    corpus,
    instructions: a.instructions,
    continuations: { train: continuationPairs(corpus.train, promptWords), valid: continuationPairs(corpus.valid, promptWords) },
    hash: a.manifest.contentHash,
  };
}

/** GEMM threads for a training stage that runs alone: compute.stageThreads, or every core. */
const stageThreads = (cfg: Config): number => cfg.compute.stageThreads || availableParallelism();

/** The SFT checkpoint for these inputs: reused when its manifest matches, trained otherwise. */
export async function ensureSft(cfg: Config, opts: TrainOptions & { data?: DataArtifacts } = {}): Promise<StageResult> {
  const log = opts.log ?? defaultLog;
  const data = sftDataOf(opts.data ?? (await buildData(cfg, { log })), cfg.data.promptWords);
  const dir = sftDir(cfg);
  const hash = hashInputs(sftInputs(cfg, data));
  const hit = opts.force ? undefined : freshManifest(dir, hash);
  if (hit) {
    log(`sft: inputs unchanged, reusing ${dir} (hash ${hash.slice(0, 12)})`);
    return { dir, reused: true, hash, summary: hit.summary };
  }
  await withGemmThreads(stageThreads(cfg), () => (cfg.model.source ? importSft(cfg, data, opts) : trainSft(cfg, data, opts)));
  return { dir, reused: false, hash, summary: freshManifest(dir, hash)!.summary };
}

/** K samples per prompt from a policy, drawn as the generators draw them, eos stripped: the shape PreferenceSources.sample wants. */
function policySampler(model: GptModel, tok: TextTokenizer, g: Config['generator']) {
  return async (prompts: number[][], k: number, seed: number) => {
    const rows = prompts.flatMap((p) => Array.from({ length: k }, () => p));
    const out = generate(model, rows, { maxNewTokens: g.maxNewTokens, temperature: g.temperature, topK: g.topK, topP: g.topP, eosId: tok.special.eos, padId: tok.special.pad, seed });
    const tokens: number[][][] = [];
    const finished: boolean[][] = [];
    prompts.forEach((_, p) => {
      const rs = out.tokens.slice(p * k, (p + 1) * k);
      tokens.push(rs.map((ids) => (ids.at(-1) === tok.special.eos ? ids.slice(0, -1) : ids)));
      finished.push(out.finished.slice(p * k, (p + 1) * k));
    });
    return { tokens, finished };
  };
}

/** Preference pairs sampled from the SFT policy and labelled by the gold judge, under <cacheDir>/prefs. */
export async function ensurePreferenceData(cfg: Config, opts: StageOptions = {}): Promise<StageResult> {
  const log = opts.log ?? defaultLog;
  const data = opts.data ?? (await buildData(cfg, { log }));
  const sft = opts.sft ?? (await ensureSft(cfg, { ...opts, data, force: false }));
  // Checked here too, so a cache hit costs neither loading the policy nor starting the gold judge.
  const hash = hashInputs(prefsInputs(cfg, sft.hash));
  const hit = opts.force ? undefined : freshManifest(prefsDir(cfg), hash);
  if (hit) {
    log(`prefs: inputs unchanged, reusing ${prefsDir(cfg)} (hash ${hash.slice(0, 12)})`);
    return { dir: prefsDir(cfg), reused: true, hash, summary: hit.summary };
  }
  const { model, tokenizer } = await loadModel(sft.dir);
  const tok = tokenizer ?? data.tokenizer;
  const judge = await createGoldJudge(cfg.data.task, { cacheDir: cfg.run.cacheDir, log });
  try {
    const prompts = data.prompts.train.slice(0, cfg.rm.prompts);
    if (prompts.length < cfg.rm.prompts) log(`prefs: only ${prompts.length} train prompts exist (rm.prompts asks for ${cfg.rm.prompts})`);
    return await buildPreferenceData(
      cfg,
      {
        prompts,
        encodePrompt: (text) => formatPrompt(tok, text),
        decode: (ids) => tok.decode(ids),
        sample: policySampler(model, tok, cfg.generator),
        gold: async (prompt, response) => (await judge.score(prompt, response)).score,
      },
      sft.hash,
      opts,
    );
  } finally {
    await judge.close();
    disposeModel(model);
  }
}

export const rmDir = (cfg: Config, kind: RmKind): string => join(cfg.run.cacheDir, `rm-${kind}${modelTag(cfg)}`);

function rmInputs(cfg: Config, kind: RmKind, prefsHash: string): Record<string, unknown> {
  const { kind: _judgeKind, pairwiseMaxEpochs, pairwisePatience, pairwiseValidFraction, ...rm } = cfg.rm;
  // The early-stopping settings are the pairwise model's alone: a BT model's cache does not depend on them.
  if (kind === 'pairwise') Object.assign(rm, { pairwiseMaxEpochs, pairwisePatience, pairwiseValidFraction });
  return { stage: `rm-${kind}`, prefs: prefsHash, rm, weightDecay: cfg.sft.weightDecay, gradClip: cfg.sft.gradClip, seed: cfg.compute.seed };
}

/** Splits training pairs by prompt into pairs to fit and a validation split (every pair of a prompt on one side). */
export function validationSplit(pairs: readonly PreferencePair[], fraction: number, seed: number): { fit: PreferencePair[]; valid: PreferencePair[] } {
  const ids = [...new Set(pairs.map((p) => p.promptId))].map((promptId) => ({ promptId }));
  const held = new Set(splitByPrompt(ids, fraction, seed).heldOut.map((x) => x.promptId));
  return { fit: pairs.filter((p) => !held.has(p.promptId)), valid: pairs.filter((p) => held.has(p.promptId)) };
}

/** Held-out accuracy of the model against gold labels, split into all pairs and the harder half (smaller gold gap). */
function accuracies(score: (pairs: readonly PreferencePair[]) => number, heldOut: readonly PreferencePair[]): { heldOutAccuracy: number; hardHalfAccuracy: number } {
  const byGap = [...heldOut].sort((a, b) => a.chosen.gold - a.rejected.gold - (b.chosen.gold - b.rejected.gold));
  return { heldOutAccuracy: score(heldOut), hardHalfAccuracy: score(byGap.slice(0, Math.ceil(byGap.length / 2))) };
}

/** Trains one proxy model kind from the SFT weights on the preference data and writes its checkpoint; returns its figures. */
export async function trainRewardModel(
  cfg: Config,
  kind: RmKind,
  sftCheckpoint: string,
  prefs: PreferenceDataset,
  opts: TrainOptions & { dir?: string } = {},
): Promise<Record<string, unknown>> {
  const log = opts.log ?? defaultLog;
  const dir = opts.dir ?? rmDir(cfg, kind);
  const started = performance.now();
  const { model, tokenizer } = await scalarModelFromPolicy(sftCheckpoint, deriveSeed(cfg.compute.seed, 'rm', kind, 'head'));
  if (!tokenizer) throw new ModelIoError(`${sftCheckpoint} has no tokenizer.json; the reward model needs the policy's tokenizer`);
  const special = tokenizer.special;
  const score = kind === 'bt' ? (ps: readonly PreferencePair[]) => btAccuracy(model, ps, special) : (ps: readonly PreferencePair[]) => pairwiseAccuracy(model, tokenizer, ps);
  try {
    const before = accuracies(score, prefs.heldOut);
    log(`rm-${kind}: ${prefs.train.length} train pairs, ${prefs.heldOut.length} held-out; held-out accuracy at init ${before.heldOutAccuracy.toFixed(3)}`);
    const fitOpts = fitOptionsOf(cfg, `rm-${kind}`, {
      log,
      progress: opts.progress,
      signal: opts.signal,
      afterEpoch: (e) => `rm-${kind}: epoch ${e + 1}/${cfg.rm.epochs} held-out accuracy ${score(prefs.heldOut).toFixed(3)}`,
    });
    let fit: FitResult;
    let validPairs = 0;
    if (kind === 'bt') fit = await trainBt(model, prefs.train, special, fitOpts);
    else {
      // Early stopping on a validation split of the training prompts; the held-out pairs are only for the figures.
      const { fit: fitPairs, valid } = validationSplit(prefs.train, cfg.rm.pairwiseValidFraction, deriveSeed(cfg.compute.seed, 'rm', 'valid'));
      validPairs = valid.length;
      log(`rm-pairwise: ${fitPairs.length} pairs to fit, ${valid.length} for early stopping (validation accuracy, both orders), at most ${cfg.rm.pairwiseMaxEpochs} epochs`);
      fit = await trainPairwise(model, tokenizer, fitPairs, {
        ...fitOpts,
        epochs: cfg.rm.pairwiseMaxEpochs,
        afterEpoch: (e) => `rm-pairwise: epoch ${e + 1}/${cfg.rm.pairwiseMaxEpochs} held-out accuracy ${score(prefs.heldOut).toFixed(3)}`,
        early: { score: () => pairwiseAccuracy(model, tokenizer, valid), patience: cfg.rm.pairwisePatience },
      });
      log(`rm-pairwise: validation accuracy by epoch ${fit.validCurve!.map((x) => x.toFixed(3)).join(' ')}; kept epoch ${fit.bestEpoch}`);
    }
    const after = accuracies(score, prefs.heldOut);
    const seconds = (performance.now() - started) / 1000;
    await saveModel(dir, model, { kind, head: 'scalar', model: model.cfg, input: kind === 'bt' ? BT_INPUT : PAIRWISE_INPUT }, tokenizer);
    const summary = { kind, ...fit, ...after, initHeldOutAccuracy: before.heldOutAccuracy, trainPairs: prefs.train.length, ...(validPairs > 0 ? { validPairs } : {}), heldOutPairs: prefs.heldOut.length, seconds };
    log(
      `rm-${kind}: held-out accuracy ${after.heldOutAccuracy.toFixed(3)} (hard half ${after.hardHalfAccuracy.toFixed(3)}), ` +
        `${fit.steps} steps at ${fit.msPerStep.toFixed(0)} ms/step, ${seconds.toFixed(0)} s; checkpoint in ${dir}`,
    );
    return summary;
  } finally {
    disposeModel(model);
  }
}

/** The proxy model of `kind` for these inputs, reused when its manifest matches; builds SFT and preference data as needed. */
export async function ensureRewardModel(cfg: Config, kind: RmKind, opts: StageOptions = {}): Promise<StageResult> {
  const log = opts.log ?? defaultLog;
  const data = opts.data ?? (await buildData(cfg, { log }));
  const prefs = await ensurePreferenceData(cfg, { ...opts, data, force: false });
  const dir = rmDir(cfg, kind);
  const inputs = rmInputs(cfg, kind, prefs.hash);
  const hash = hashInputs(inputs);
  const hit = opts.force ? undefined : freshManifest(dir, hash);
  if (hit) {
    log(`rm-${kind}: inputs unchanged, reusing ${dir} (hash ${hash.slice(0, 12)})`);
    return { dir, reused: true, hash, summary: hit.summary };
  }
  const summary = await withGemmThreads(stageThreads(cfg), () => trainRewardModel(cfg, kind, sftDir(cfg), loadPreferenceData(prefs.dir), opts));
  writeManifest(dir, { stage: `rm-${kind}`, hash, inputs, files: ['model.safetensors', 'config.json', 'tokenizer.json'], summary });
  return { dir, reused: false, hash, summary };
}
