// One way to open a policy folder: a Hugging Face model folder (config.json with model_type) or a checkpoint this project wrote.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseConfig } from '../config/index.js';
import { tokenizerFromFiles } from '../data/load_tokenizer.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import { disposeModel, modelFromWeights, type GptModel } from '../kernels/gpt.js';
import { loadModel } from '../train/model_io.js';
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import { attachLora, type LoraSpec } from '../kernels/lora.js';
import { readPeftAdapter } from './peft_adapter.js';
import { HfFolderError, loadHfFolder } from './hf_folder.js';
import { sftDir } from './source.js';

export interface LoadedPolicy {
  model: GptModel;
  tokenizer: TextTokenizer;
  /** 'hf': read from a Hugging Face folder; 'checkpoint': a folder this project's training wrote. */
  format: 'hf' | 'checkpoint';
  /** A LoRA learner checkpoint: the folder of the base model its adapter applies to (the run's SFT checkpoint). */
  base?: string;
}

/** Whether dir/config.json is a Hugging Face config (it names a model_type) rather than one of our checkpoints. */
export async function isHfFolder(dir: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(join(resolve(dir), 'config.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new HfFolderError(`${resolve(dir)} has no config.json: neither a Hugging Face model folder nor a checkpoint`);
    throw err;
  }
  try {
    return typeof (JSON.parse(text) as Record<string, unknown>)['model_type'] === 'string';
  } catch (err) {
    throw new HfFolderError(`${join(resolve(dir), 'config.json')} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/** An HF folder as a language model of ours with its tokenizer. */
export async function importHfModel(dir: string): Promise<{ model: GptModel; tokenizer: TextTokenizer }> {
  const hf = await loadHfFolder(dir);
  return { model: modelFromWeights(hf.cfg, 'lm', hf.weights), tokenizer: hf.tokenizer };
}

/** The tokenizer saved in a checkpoint folder (tokenizer.json, tokenizer_config.json, the ids config.json recorded). */
export function tokenizerInFolder(dir: string): TextTokenizer | undefined {
  const path = (f: string) => join(resolve(dir), f);
  if (!existsSync(path('tokenizer.json'))) return undefined;
  const tokConfig = existsSync(path('tokenizer_config.json')) ? readFileSync(path('tokenizer_config.json'), 'utf8') : undefined;
  const cfg = existsSync(path('config.json')) ? (JSON.parse(readFileSync(path('config.json'), 'utf8')) as { tokenizerIds?: { eosId?: number; bosId?: number } }) : {};
  return tokenizerFromFiles(readFileSync(path('tokenizer.json'), 'utf8'), tokConfig, cfg.tokenizerIds ?? {});
}

/**
 * The tokenizer of a learner checkpoint (which holds weights only): the run folder above it keeps the run's config.json,
 * whose SFT checkpoint holds the policy's tokenizer.
 */
function runTokenizer(checkpointDir: string): TextTokenizer | undefined {
  const sft = runSftDir(checkpointDir);
  return sft === undefined ? undefined : tokenizerInFolder(sft);
}

/** The SFT checkpoint of the run a learner checkpoint belongs to (the run's config.json sits above it). */
function runSftDir(checkpointDir: string): string | undefined {
  const runConfig = join(dirname(resolve(checkpointDir)), 'config.json');
  if (!existsSync(runConfig)) return undefined;
  const raw = JSON.parse(readFileSync(runConfig, 'utf8')) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || !('run' in raw) || !('model' in raw)) return undefined;
  return sftDir(parseConfig(raw));
}

/** The adapter a LoRA learner checkpoint records in its config.json, or undefined for a checkpoint of full weights. */
function adapterOf(dir: string): LoraSpec | undefined {
  const path = join(resolve(dir), 'config.json');
  const c = JSON.parse(readFileSync(path, 'utf8')) as { adapter?: LoraSpec & { kind?: string } };
  if (!c.adapter) return undefined;
  const { kind, ...spec } = c.adapter;
  if (kind !== 'lora') throw new HfFolderError(`${path} records an adapter of kind ${JSON.stringify(kind)}; supported: lora`);
  return spec;
}

/** A LoRA learner checkpoint: the run's SFT model (loaded once) with the checkpoint's adapter attached. */
async function loadAdapterCheckpoint(dir: string, spec: LoraSpec, tokenizerDir?: string): Promise<LoadedPolicy> {
  const base = runSftDir(dir);
  if (base === undefined) throw new HfFolderError(`${resolve(dir)} holds a LoRA adapter, and no run config.json above it names the base model it adapts`);
  const policy = await loadPolicy(base, tokenizerDir);
  try {
    const ck = await loadCheckpoint(dir);
    const w: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of Object.entries(ck.weights)) w[name] = { shape: t.shape, data: t.data as Float32Array };
    attachLora(policy.model, spec, w);
  } catch (err) {
    disposeModel(policy.model);
    throw err;
  }
  return { ...policy, format: 'checkpoint', base };
}

/** Attaches the PEFT LoRA folder `adapterDir` to a loaded policy (generate --adapter); the folder's spec is used as written. */
export async function withPeftAdapter(policy: LoadedPolicy, adapterDir: string): Promise<LoadedPolicy> {
  const { spec, weights } = await readPeftAdapter(adapterDir, policy.model.cfg);
  attachLora(policy.model, spec, weights);
  return policy;
}

/**
 * A language-model policy from an HF folder, an SFT checkpoint, or a learner checkpoint of a run (its tokenizer found
 * through the run's config; a LoRA learner checkpoint is the run's SFT model with its adapter), or with the tokenizer
 * of `tokenizerDir` when given.
 */
export async function loadPolicy(dir: string, tokenizerDir?: string): Promise<LoadedPolicy> {
  if (await isHfFolder(dir)) return { ...(await importHfModel(dir)), format: 'hf' };
  const adapter = adapterOf(dir);
  if (adapter) return loadAdapterCheckpoint(dir, adapter, tokenizerDir);
  const { model, tokenizer: own, config } = await loadModel(dir);
  const tokenizer = tokenizerDir !== undefined ? tokenizerInFolder(tokenizerDir) : (own ?? runTokenizer(dir));
  if (config.head !== 'lm' || !tokenizer) {
    disposeModel(model);
    if (config.head !== 'lm') throw new HfFolderError(`${resolve(dir)} holds a ${config.kind} model (head ${config.head}); a policy is a language model (head lm)`);
    throw new HfFolderError(
      `no tokenizer for ${resolve(dir)}: ${tokenizerDir !== undefined ? `${resolve(tokenizerDir)} has no tokenizer.json` : 'it has no tokenizer.json and no run config.json above it; pass --tokenizer DIR (the SFT checkpoint or the imported model folder)'}`,
    );
  }
  return { model, tokenizer, format: 'checkpoint' };
}
