// The cached stages a run's actors load from (data, SFT checkpoint, reward model), found without building anything.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PromptItem } from '../actors/prompt_source.js';
import { CHECKPOINT_FILES } from '../checkpoint/checkpoint.js';
import type { Config } from '../config/index.js';
import { DataError, loadData, type DataArtifacts } from '../data/build.js';
import type { Prompt } from '../data/prompts.js';
import { formatPrompt } from '../data/template.js';
import { tokenizerFromFiles } from '../data/load_tokenizer.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import { freshManifest, hashInputs, readManifest } from '../train/manifest.js';
import { prefsInputs } from '../train/preference_data.js';
import { sftDir } from '../models/source.js';
import { sftInputs } from '../train/sft.js';
import { rmDir, sftDataOf } from '../train/stages.js';
import { checkedProxyDir } from './proxy_dir.js';

export class ArtifactsMissingError extends Error {
  override name = 'ArtifactsMissingError';
}

const HOW_TO_PREPARE =
  'prepare them with `rlhf-stream cluster` (it builds data, SFT and the reward model before launching actors) or `rlhf-stream run`, ' +
  'or step by step with `rlhf-stream data`, `rlhf-stream sft` and `rlhf-stream train-rm`, using the same --config and --set';

/** The two checkpoints the actors' compute is built from. */
export interface ModelDirs {
  /** SFT checkpoint folder (the policy, its tokenizer). */
  sftDir: string;
  /** Proxy model checkpoint folder; its config.json says bt or pairwise. */
  rmDir: string;
}

/** The cached stages a run's actors load from. */
export interface Artifacts extends ModelDirs {
  data: DataArtifacts;
}

/**
 * Finds the data, SFT and reward-model artifacts matching this config, without building anything: an actor process
 * must not start a training stage of its own (several would race on the same cache).
 */
export function findArtifacts(cfg: Config): Artifacts {
  let data: DataArtifacts;
  try {
    data = loadData(cfg);
  } catch (err) {
    if (err instanceof DataError) throw new ArtifactsMissingError(`data artifacts are missing or stale (${err.message}); ${HOW_TO_PREPARE}`);
    throw err;
  }
  const sft = sftDir(cfg);
  const sftHash = hashInputs(sftInputs(cfg, sftDataOf(data, cfg.data.promptWords)));
  if (!freshManifest(sft, sftHash)) {
    const why = readManifest(sft) ? 'was trained with other settings' : 'does not exist';
    throw new ArtifactsMissingError(`the SFT checkpoint in ${sft} ${why} for this config; ${HOW_TO_PREPARE}`);
  }
  if (cfg.judge.proxyDir !== '') return { data, sftDir: sft, rmDir: checkedProxyDir(cfg.judge.proxyDir) };
  const rm = rmDir(cfg, cfg.rm.kind);
  const m = readManifest(rm);
  // The reward model's manifest names the preference data it was trained on, which names the SFT hash.
  const prefsHash = hashInputs(prefsInputs(cfg, sftHash));
  const inputs = m?.inputs as { prefs?: unknown } | undefined;
  if (!m || inputs?.prefs !== prefsHash || !m.files.every((f) => existsSync(join(rm, f)))) {
    const why = m ? 'was trained on other preference data' : 'does not exist';
    throw new ArtifactsMissingError(`the ${cfg.rm.kind} reward model in ${rm} ${why} for this config; ${HOW_TO_PREPARE}`);
  }
  return { data, sftDir: sft, rmDir: rm };
}

/** The policy's tokenizer, read from the SFT checkpoint without loading its weights. */
export function loadTokenizer(a: Pick<ModelDirs, 'sftDir'>): TextTokenizer {
  const path = join(a.sftDir, CHECKPOINT_FILES.tokenizer);
  if (!existsSync(path)) throw new ArtifactsMissingError(`${path} is missing; the SFT checkpoint is incomplete; ${HOW_TO_PREPARE}`);
  // An imported model's tokenizer comes with tokenizer_config.json and the ids config.json recorded for it.
  const configPath = join(a.sftDir, CHECKPOINT_FILES.tokenizerConfig);
  const tokConfig = existsSync(configPath) ? readFileSync(configPath, 'utf8') : undefined;
  const ids = (JSON.parse(readFileSync(join(a.sftDir, CHECKPOINT_FILES.config), 'utf8')) as { tokenizerIds?: { eosId?: number; bosId?: number } }).tokenizerIds;
  return tokenizerFromFiles(readFileSync(path, 'utf8'), tokConfig, ids ?? {});
}

/** The policy's vocabulary size (token ids on the wire lie below it), from the SFT checkpoint's config.json. */
export function policyVocabSize(sftDir: string): number {
  const path = join(sftDir, CHECKPOINT_FILES.config);
  const v = (JSON.parse(readFileSync(path, 'utf8')) as { model?: { vocabSize?: unknown } }).model?.vocabSize;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ArtifactsMissingError(`${path} names no model.vocabSize; ${HOW_TO_PREPARE}`);
  return v;
}

/** Prompts in the chat template, tokenized: what the prompt source and the evaluator take. */
export function promptItems(tok: TextTokenizer, prompts: readonly Prompt[]): PromptItem[] {
  return prompts.map((p) => ({ promptId: p.id, text: p.text, tokens: formatPrompt(tok, p.text) }));
}

export function trainPrompts(a: Artifacts, tok: TextTokenizer): PromptItem[] {
  return promptItems(tok, a.data.prompts.train);
}

/** The evaluator's held-out prompts: the first evaluator.prompts of the eval split. */
export function evalPrompts(cfg: Config, prompts: readonly Prompt[], tok: TextTokenizer): PromptItem[] {
  return promptItems(tok, prompts).slice(0, cfg.evaluator.prompts);
}
