// What a Hugging Face model family must say: how its config.json maps onto GptConfig, and its tensor names onto ours.
import type { GptConfig } from '../../kernels/gpt.js';

export class ModelFamilyError extends Error {
  override name = 'ModelFamilyError';
}

/** A parsed config.json. */
export type HfConfig = Record<string, unknown>;

/** One of our parameters and the HF tensor it comes from; transpose: HF stores it [out, in] (nn.Linear), we store [in, out]. */
export interface TensorMapping {
  ours: string;
  hf: string;
  transpose: boolean;
}

export interface ModelFamily {
  /** The model_type values this family reads (config.json "model_type"). */
  readonly modelTypes: readonly string[];
  /** config.json -> our config; refuses any setting the kernels do not implement, naming the field and its value. */
  toConfig(hf: HfConfig, modelType: string): GptConfig;
  /** Every parameter of a language model with this config and where it lives in an HF checkpoint. */
  tensors(cfg: GptConfig): TensorMapping[];
  /** HF tensor names a checkpoint may hold that carry nothing to load (buffers such as causal masks, tied copies). */
  ignorable(name: string, cfg: GptConfig): boolean;
  /** HF names can come with or without a model prefix (GPT-2 files saved from GPT2Model have none): the canonical name. */
  canonicalName(name: string): string;
  /** Our config -> config.json (with the token ids the tokenizer gives). */
  toHfConfig(cfg: GptConfig, ids: { bos?: number; eos?: number; pad?: number }): HfConfig;
}

/** Reads a required positive integer field. */
export function intField(hf: HfConfig, field: string, fallback?: number): number {
  const v = hf[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ModelFamilyError(`config.json field ${field} must be a positive integer; got ${JSON.stringify(hf[field])}`);
  }
  return v;
}

/** Reads an optional positive number field. */
export function numField(hf: HfConfig, field: string, fallback: number): number {
  const v = hf[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ModelFamilyError(`config.json field ${field} must be a positive number; got ${JSON.stringify(hf[field])}`);
  }
  return v;
}

/** Refuses a field whose value is set to something other than what the kernels implement. */
export function refuseUnless(hf: HfConfig, field: string, ok: (v: unknown) => boolean, supported: string): void {
  if (field in hf && !ok(hf[field])) {
    throw new ModelFamilyError(`config.json field ${field} is ${JSON.stringify(hf[field])}; supported: ${supported}`);
  }
}

export const isAbsent = (v: unknown): boolean => v === null || v === undefined;
