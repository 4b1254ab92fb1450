// A LoRA adapter as published weights: safetensors of the adapter tensors only, its spec in the metadata, so a generator
// that loaded the base once applies each newer version by swapping a few MB of adapter instead of the whole model.
import { decodeSafetensors, encodeSafetensors, type TensorRecord } from '../../checkpoint/safetensors.js';
import type { GptModel } from '../../kernels/gpt.js';
import { attachLora, setLoraWeights, type LoraSpec } from '../../kernels/lora.js';
import { ComputeError } from './compute_error.js';
import { isShared } from '../../streams/shared_memory.js';

/** The metadata key that marks published bytes as an adapter (its value: the adapter kind). */
export const ADAPTER_KEY = 'rlhf_stream_adapter';

/** The model's adapter tensors, copied out as plain arrays. */
export function adapterRecord(model: GptModel): TensorRecord {
  const a = model.lora;
  if (!a) throw new ComputeError('the model has no adapter');
  const out: TensorRecord = {};
  for (const [name, p] of Object.entries(a.params)) out[name] = { dtype: 'F32', shape: [...p.shape], data: Float32Array.from(p.dataSync() as Float32Array) };
  return out;
}

/** The adapter as published bytes, spec in the metadata. */
export function encodeAdapter(model: GptModel): Uint8Array {
  const s = model.lora!.spec;
  return encodeSafetensors(adapterRecord(model), { [ADAPTER_KEY]: 'lora', rank: String(s.rank), alpha: String(s.alpha), dropout: String(s.dropout), targetModules: JSON.stringify(s.targetModules) });
}

/** The spec recorded in published adapter bytes, or undefined when the bytes are full weights. */
export function adapterSpecOf(metadata: Record<string, string>): LoraSpec | undefined {
  if (metadata[ADAPTER_KEY] === undefined) return undefined;
  if (metadata[ADAPTER_KEY] !== 'lora') throw new ComputeError(`published weights carry adapter kind ${JSON.stringify(metadata[ADAPTER_KEY])}; supported: lora`);
  const targetModules = JSON.parse(metadata['targetModules'] ?? '[]') as string[];
  return { rank: Number(metadata['rank']), alpha: Number(metadata['alpha']), dropout: Number(metadata['dropout'] ?? 0), targetModules };
}

const sameSpec = (a: LoraSpec, b: LoraSpec): boolean => a.rank === b.rank && a.alpha === b.alpha && a.targetModules.join(',') === b.targetModules.join(',');

/** Applies adapter tensors to the model: in place when it holds the same adapter, else attached anew (the base untouched). */
export function applyAdapter(model: GptModel, spec: LoraSpec, w: Record<string, { shape: number[]; data: Float32Array }>): void {
  if (model.lora && sameSpec(model.lora.spec, spec)) setLoraWeights(model, w);
  else attachLora(model, spec, w);
}

/** Decodes published adapter bytes into the model (see applyAdapter); throws when the bytes are not an adapter. */
export function loadAdapterInto(model: GptModel, bytes: Uint8Array): void {
  const { tensors, metadata } = decodeSafetensors(bytes, { source: 'published adapter', alias: isShared(bytes) });
  const spec = adapterSpecOf(metadata);
  if (!spec) throw new ComputeError('the published weights are not an adapter');
  const w: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(tensors)) w[name] = { shape: t.shape, data: t.data as Float32Array };
  applyAdapter(model, spec, w);
}
