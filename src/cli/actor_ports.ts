// One actor process's compute, built from the cached artefacts only: each role loads what it needs and nothing else.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKPOINT_FILES } from '../checkpoint/checkpoint.js';
import { promptItems } from '../actors/compute/artifact_ports.js';
import { DpoLearner } from '../actors/compute/learner_compute.js';
import { ComputeError, encodeWeights, LocalPolicy } from '../actors/compute/local_policy.js';
import { BtScorer, PairwiseScorer } from '../actors/compute/scorer.js';
import { WorkerPolicy } from '../actors/compute/worker_policy.js';
import type { GoldScorer } from '../actors/evaluator.js';
import type { LearnerPort, PolicyPort, ScorerPort } from '../actors/ports.js';
import type { PromptItem } from '../actors/prompt_source.js';
import type { Config } from '../config/index.js';
import { DataError, loadData, type DataArtifacts } from '../data/build.js';
import { createGoldJudge } from '../data/gold_judge.js';
import { tokenizerFromFiles } from '../data/load_tokenizer.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import { disposeModel, type GptModel } from '../kernels/gpt.js';
import { deriveSeed } from '../kernels/rng.js';
import { freshManifest, hashInputs, readManifest } from '../train/manifest.js';
import { loadModel } from '../train/model_io.js';
import { prefsInputs } from '../train/preference_data.js';
import { sftDir, sftInputs } from '../train/sft.js';
import { rmDir, sftDataOf } from '../train/stages.js';

export class ArtefactsMissingError extends Error {
  override name = 'ArtefactsMissingError';
}

const HOW_TO_PREPARE =
  'prepare them with `rlhf-stream cluster` (it builds data, SFT and the reward model before launching actors) or `rlhf-stream run`, ' +
  'or step by step with `rlhf-stream data`, `rlhf-stream sft` and `rlhf-stream train-rm`, using the same --config and --set';

/** The cached stages a run's actors load from. */
export interface Artefacts {
  data: DataArtifacts;
  sftDir: string;
  rmDir: string;
}

/**
 * Finds the data, SFT and reward-model artefacts matching this config, without building anything: an actor process
 * must not start a training stage of its own (several would race on the same cache).
 */
export function findArtefacts(cfg: Config): Artefacts {
  let data: DataArtifacts;
  try {
    data = loadData(cfg);
  } catch (err) {
    if (err instanceof DataError) throw new ArtefactsMissingError(`data artefacts are missing or stale (${err.message}); ${HOW_TO_PREPARE}`);
    throw err;
  }
  const sft = sftDir(cfg);
  const sftHash = hashInputs(sftInputs(cfg, sftDataOf(data, cfg.data.promptWords)));
  if (!freshManifest(sft, sftHash)) {
    const why = readManifest(sft) ? 'was trained with other settings' : 'does not exist';
    throw new ArtefactsMissingError(`the SFT checkpoint in ${sft} ${why} for this config; ${HOW_TO_PREPARE}`);
  }
  const rm = rmDir(cfg, cfg.rm.kind);
  const m = readManifest(rm);
  // The reward model's manifest names the preference data it was trained on, which names the SFT hash.
  const prefsHash = hashInputs(prefsInputs(cfg, sftHash));
  const inputs = m?.inputs as { prefs?: unknown } | undefined;
  if (!m || inputs?.prefs !== prefsHash || !m.files.every((f) => existsSync(join(rm, f)))) {
    const why = m ? 'was trained on other preference data' : 'does not exist';
    throw new ArtefactsMissingError(`the ${cfg.rm.kind} reward model in ${rm} ${why} for this config; ${HOW_TO_PREPARE}`);
  }
  return { data, sftDir: sft, rmDir: rm };
}

/** The policy's tokenizer, read from the SFT checkpoint without loading its weights. */
export function loadTokenizer(a: Artefacts): TextTokenizer {
  const path = join(a.sftDir, CHECKPOINT_FILES.tokenizer);
  if (!existsSync(path)) throw new ArtefactsMissingError(`${path} is missing; the SFT checkpoint is incomplete; ${HOW_TO_PREPARE}`);
  const configPath = join(a.sftDir, CHECKPOINT_FILES.tokenizerConfig);
  const tokConfig = existsSync(configPath) ? readFileSync(configPath, 'utf8') : undefined;
  const ids = (JSON.parse(readFileSync(join(a.sftDir, CHECKPOINT_FILES.config), 'utf8')) as { tokenizerIds?: { eosId?: number; bosId?: number } }).tokenizerIds;
  return tokenizerFromFiles(readFileSync(path, 'utf8'), tokConfig, ids ?? {});
}

export function trainPrompts(a: Artefacts, tok: TextTokenizer): PromptItem[] {
  return promptItems(tok, a.data.prompts.train);
}

export function evalPrompts(cfg: Config, a: Artefacts, tok: TextTokenizer): PromptItem[] {
  return promptItems(tok, a.data.prompts.eval).slice(0, cfg.evaluator.prompts);
}

async function loadPolicy(a: Artefacts): Promise<{ model: GptModel; tokenizer: TextTokenizer }> {
  const { model, tokenizer, config } = await loadModel(a.sftDir);
  if (config.kind !== 'policy' || !tokenizer) {
    disposeModel(model);
    throw new ComputeError(`${a.sftDir} must hold a policy checkpoint with its tokenizer; got kind ${config.kind}`);
  }
  return { model, tokenizer };
}

/** A port and the release of everything built for it (models, worker threads), which the port's own close() may not free. */
export interface Owned<T> {
  port: T;
  close(): Promise<void>;
}

/** A sampling policy holding the SFT weights in its own worker thread, so a long batch never blocks the process's I/O. */
export async function workerPolicy(cfg: Config, a: Artefacts): Promise<Owned<PolicyPort> & { decode: (ids: number[]) => string }> {
  const { model, tokenizer } = await loadPolicy(a);
  try {
    const special = { eos: tokenizer.special.eos, pad: tokenizer.special.pad };
    const port = await WorkerPolicy.create({ gpt: model.cfg, weights: encodeWeights(model), special, backend: cfg.compute.backend, native: cfg.compute.nativeKernels });
    console.error(`policy worker thread: ${port.backendLine}`);
    return { port, close: () => port.close(), decode: (ids) => tokenizer.decode(ids) };
  } finally {
    // The worker holds its own copy; this thread's is no longer needed.
    disposeModel(model);
  }
}

/** The SFT policy on this thread: the evaluator's fixed reference. */
export async function localPolicy(a: Artefacts): Promise<Owned<PolicyPort>> {
  const { model, tokenizer } = await loadPolicy(a);
  const port = new LocalPolicy(model, { eos: tokenizer.special.eos, pad: tokenizer.special.pad });
  return { port, close: async () => disposeModel(model) };
}

/** The proxy preference model as a ScorerPort (its id carries the artefact hash, stamped on every pair). */
export async function scorerPort(a: Artefacts): Promise<Owned<ScorerPort>> {
  const rm = await loadModel(a.rmDir);
  if (rm.config.kind !== 'bt' && rm.config.kind !== 'pairwise') {
    disposeModel(rm.model);
    throw new ComputeError(`${a.rmDir} must hold a bt or pairwise model; got ${rm.config.kind}`);
  }
  const tok = loadTokenizer(a);
  const id = `${rm.config.kind}@${(readManifest(a.rmDir)?.hash ?? 'unversioned').slice(0, 12)}`;
  const port = rm.config.kind === 'bt' ? new BtScorer(rm.model, tok.special, id) : new PairwiseScorer(rm.model, tok.special, id);
  return { port, close: async () => disposeModel(rm.model) };
}

/** The trainable policy with its frozen SFT reference and optimizer. */
export async function learnerPort(cfg: Config, a: Artefacts): Promise<Owned<LearnerPort>> {
  const policy = await loadPolicy(a);
  const reference = await loadPolicy(a);
  const port = new DpoLearner({
    policy: policy.model,
    reference: reference.model,
    config: cfg.learner,
    padId: policy.tokenizer.special.pad,
    seed: deriveSeed(cfg.compute.seed, 'learner'),
    weightDecay: cfg.sft.weightDecay,
  });
  return {
    port,
    close: async () => {
      await port.close();
      disposeModel(policy.model);
      disposeModel(reference.model);
    },
  };
}

/** The task's gold judge, batched, for the evaluator. */
export async function goldScorer(cfg: Config): Promise<Owned<GoldScorer>> {
  const judge = await createGoldJudge(cfg.data.task);
  const score: GoldScorer = async (items) => (await judge.scoreBatch(items.map((x) => ({ prompt: x.prompt.text, response: x.text })))).map((g) => g.score);
  return { port: score, close: () => judge.close() };
}
