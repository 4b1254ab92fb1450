// Moves GPT models in and out of checkpoint folders, and the data view the supervised and reward stages share.
import * as tf from '@tensorflow/tfjs-core';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint/checkpoint.js';
import type { TensorRecord } from '../checkpoint/safetensors.js';
import { tokenizerFromFiles, tokenizerIds } from '../data/load_tokenizer.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import { gptParamShapes, initGpt, setWeights, type GptConfig, type GptHead, type GptModel } from '../kernels/gpt.js';

export class ModelIoError extends Error {
  override name = 'ModelIoError';
}

export type TrainLog = (line: string) => void;

/** What the stage produced; config.json of every checkpoint this project's training writes. */
export interface ModelCheckpointConfig {
  /** policy = SFT language model; bt = Bradley-Terry reward model; pairwise = pairwise preference model. */
  kind: 'policy' | 'bt' | 'pairwise';
  head: GptHead;
  model: GptConfig;
  /** How a scalar-head model's input is laid out, so a loader builds the same sequence. */
  input?: string;
  [extra: string]: unknown;
}

export interface PromptResponse {
  prompt: string;
  response: string;
}

/** The corpus, instruction pairs and prompts as text, with the tokenizer and the prompt template. */
export interface SftData {
  tokenizer: TextTokenizer;
  corpus: { train: string[]; valid: string[] };
  instructions: { train: PromptResponse[]; valid: PromptResponse[] };
  /** Sentence openings (the RLHF prompts' main kind) with the rest of their sentence as the response. */
  continuations: { train: PromptResponse[]; valid: PromptResponse[] };
  /** Identity of the data (a hash), so stages built from it know when it changed. */
  hash: string;
}

/** Copies the model's parameters out as plain arrays (one device read each), ready for safetensors. */
export function weightsRecord(model: GptModel): TensorRecord {
  const out: TensorRecord = {};
  for (const [name, p] of Object.entries(model.params)) {
    out[name] = { dtype: 'F32', shape: [...p.shape], data: Float32Array.from(p.dataSync() as Float32Array) };
  }
  return out;
}

export async function saveModel(dir: string, model: GptModel, config: ModelCheckpointConfig, tokenizer?: TextTokenizer): Promise<void> {
  const ids = tokenizer ? tokenizerIds(tokenizer) : undefined;
  await saveCheckpoint(dir, {
    weights: weightsRecord(model),
    config: ids ? { ...config, tokenizerIds: ids } : config,
    tokenizer: tokenizer?.toJson(),
    tokenizerConfig: tokenizer?.configJson?.(),
  });
}

function asF32(rec: TensorRecord): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(rec)) {
    if (t.dtype !== 'F32') throw new ModelIoError(`weight ${JSON.stringify(name)} is ${t.dtype}; model weights must be F32`);
    out[name] = { shape: t.shape, data: t.data as Float32Array };
  }
  return out;
}

function parseConfig(dir: string, raw: unknown): ModelCheckpointConfig {
  const c = raw as Partial<ModelCheckpointConfig> | null;
  if (!c || typeof c !== 'object' || !c.model || (c.head !== 'lm' && c.head !== 'scalar') || !['policy', 'bt', 'pairwise'].includes(String(c.kind))) {
    throw new ModelIoError(`${dir}/config.json must hold {kind: policy|bt|pairwise, head: lm|scalar, model: {...}}; got ${JSON.stringify(raw)?.slice(0, 200)}`);
  }
  return c as ModelCheckpointConfig;
}

/** Loads a checkpoint written by saveModel into a fresh model; weights are checked name by name and shape by shape. */
export async function loadModel(dir: string): Promise<{ model: GptModel; config: ModelCheckpointConfig; tokenizer?: TextTokenizer }> {
  const probe = await loadCheckpoint(dir);
  const config = parseConfig(dir, probe.config);
  const names = gptParamShapes(config.model, config.head);
  const ck = await loadCheckpoint(dir, { names });
  const model = initGpt(config.model, 0, config.head);
  setWeights(model, asF32(ck.weights));
  const ids = (config.tokenizerIds ?? {}) as { eosId?: number; bosId?: number };
  return { model, config, tokenizer: ck.tokenizer !== undefined ? tokenizerFromFiles(ck.tokenizer, ck.tokenizerConfig, ids) : undefined };
}

/**
 * A scalar-head model initialised from a language-model checkpoint (the paper initialises reward models
 * from the SFT model): the body and the tied embedding are copied, the score head starts at N(0, 0.02).
 */
export async function scalarModelFromPolicy(dir: string, seed: number): Promise<{ model: GptModel; tokenizer?: TextTokenizer }> {
  const { model: lm, config, tokenizer } = await loadModel(dir);
  if (config.head !== 'lm') throw new ModelIoError(`${dir} holds a '${config.head}' model; a reward model starts from a language model (head 'lm')`);
  const model = initGpt(config.model, seed, 'scalar');
  try {
    const w: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, p] of Object.entries(lm.params)) w[name] = { shape: [...p.shape], data: p.dataSync() as Float32Array };
    const head = model.params['score.weight']!;
    w['score.weight'] = { shape: [...head.shape], data: head.dataSync() as Float32Array };
    setWeights(model, w);
  } finally {
    for (const p of Object.values(lm.params)) p.dispose();
  }
  return { model, tokenizer };
}

/** Row-major int32 [B, T] and lastIndex [B] tensors from a batch; the caller disposes (or wraps in tf.tidy). */
export function tensorsOf(b: { batch: number; length: number; input: Int32Array; lastIndex: Int32Array }): { input: tf.Tensor2D; lastIndex: tf.Tensor1D } {
  return { input: tf.tensor2d(b.input, [b.batch, b.length], 'int32'), lastIndex: tf.tensor1d(b.lastIndex, 'int32') };
}
