// One way to open a policy folder: a Hugging Face model folder (config.json with model_type) or a checkpoint this project wrote.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import { disposeModel, modelFromWeights, type GptModel } from '../kernels/gpt.js';
import { loadModel } from '../train/model_io.js';
import { HfFolderError, loadHfFolder } from './hf_folder.js';

export interface LoadedPolicy {
  model: GptModel;
  tokenizer: TextTokenizer;
  /** 'hf': read from a Hugging Face folder; 'checkpoint': a folder this project's training wrote. */
  format: 'hf' | 'checkpoint';
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

/** A language-model policy from either kind of folder. */
export async function loadPolicy(dir: string): Promise<LoadedPolicy> {
  if (await isHfFolder(dir)) return { ...(await importHfModel(dir)), format: 'hf' };
  const { model, tokenizer, config } = await loadModel(dir);
  if (config.head !== 'lm' || !tokenizer) {
    disposeModel(model);
    throw new HfFolderError(`${resolve(dir)} holds a ${config.kind} model (head ${config.head})${tokenizer ? '' : ' without tokenizer.json'}; a policy is a language model with its tokenizer`);
  }
  return { model, tokenizer, format: 'checkpoint' };
}
