// A LoRA adapter in PEFT's folder layout (adapter_config.json, adapter_model.safetensors with PEFT's tensor names), so
// PEFT and vLLM load what we train, and we load what they wrote. lora_A is [r, in] and lora_B [out, r] in both layouts
// (GPT-2's Conv1D included, where PEFT records fan_in_fan_out: true), so the tensors travel unchanged, only renamed.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type TensorRecord } from '../checkpoint/safetensors.js';
import type { GptConfig, GptModel } from '../kernels/gpt.js';
import { loraModuleNames, type LoraSpec } from '../kernels/lora.js';
import { familyForArch } from './families/registry.js';
import { HfFolderError } from './hf_folder.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
const PEFT_PREFIX = 'base_model.model.';

/** Our module path (h.0.attn.c_attn) -> the HF module path (transformer.h.0.attn.c_attn), from the family's name map. */
function hfModules(cfg: GptConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of familyForArch(cfg.arch).tensors(cfg)) {
    if (m.ours.endsWith('.weight') && m.hf.endsWith('.weight')) out.set(m.ours.slice(0, -'.weight'.length), m.hf.slice(0, -'.weight'.length));
  }
  return out;
}

/** Our adapter tensor name (h.0.attn.c_attn.lora_A) -> PEFT's (base_model.model.transformer.h.0.attn.c_attn.lora_A.weight). */
export function peftTensorName(cfg: GptConfig, ours: string): string {
  const m = /^(.*)\.(lora_[AB])$/.exec(ours);
  const hf = m ? hfModules(cfg).get(m[1]!) : undefined;
  if (!m || !hf) throw new HfFolderError(`${JSON.stringify(ours)} is not an adapter tensor of this model`);
  return `${PEFT_PREFIX}${hf}.${m[2]}.weight`;
}

/** adapter_config.json as PEFT writes it for a LoRA adapter on a causal language model. */
export function peftConfig(cfg: GptConfig, spec: LoraSpec, baseModel: string): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: spec.rank,
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    target_modules: [...spec.targetModules],
    fan_in_fan_out: (cfg.arch ?? 'gpt2') === 'gpt2',
    bias: 'none',
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    init_lora_weights: true,
    inference_mode: true,
  };
}

/** Writes the model's adapter as a PEFT folder; replaces `dir` atomically (written beside it, then renamed). */
export async function writePeftAdapter(dir: string, model: GptModel, baseModel = ''): Promise<void> {
  const a = model.lora;
  if (!a) throw new HfFolderError('the model has no adapter to export');
  const tensors: TensorRecord = {};
  for (const [name, p] of Object.entries(a.params)) {
    tensors[peftTensorName(model.cfg, name)] = { dtype: 'F32', shape: [...p.shape], data: Float32Array.from(p.dataSync() as Float32Array) };
  }
  const target = resolve(dir);
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, ADAPTER_CONFIG), JSON.stringify(peftConfig(model.cfg, a.spec, baseModel), null, 2) + '\n');
  await writeFile(join(tmp, ADAPTER_WEIGHTS), encodeSafetensors(tensors, { format: 'pt' }));
  await rm(target, { recursive: true, force: true });
  await mkdir(dirname(target), { recursive: true });
  await rename(tmp, target);
}

/** A PEFT LoRA folder read for this model: its spec and its tensors under our names. Refuses what the kernels do not do. */
export async function readPeftAdapter(dir: string, cfg: GptConfig): Promise<{ spec: LoraSpec; weights: Record<string, { shape: number[]; data: Float32Array }> }> {
  const where = resolve(dir);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(join(where, ADAPTER_CONFIG), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new HfFolderError(`--adapter ${where} needs a readable ${ADAPTER_CONFIG} (a PEFT LoRA folder): ${(err as Error).message}`, { cause: err });
  }
  const refuse = (field: string, accepted: string): never => {
    throw new HfFolderError(`${join(where, ADAPTER_CONFIG)} field ${field} is ${JSON.stringify(raw[field])}; supported: ${accepted}`);
  };
  if (raw['peft_type'] !== 'LORA') refuse('peft_type', '"LORA"');
  if (raw['bias'] !== undefined && raw['bias'] !== 'none') refuse('bias', '"none"');
  for (const f of ['use_rslora', 'use_dora']) if (raw[f] !== undefined && raw[f] !== false) refuse(f, 'false');
  for (const f of ['modules_to_save', 'layers_to_transform', 'rank_pattern', 'alpha_pattern']) {
    const v = raw[f];
    if (v !== undefined && v !== null && !(typeof v === 'object' && Object.keys(v as object).length === 0)) refuse(f, 'null or empty');
  }
  const targets = raw['target_modules'];
  const known = loraModuleNames(cfg);
  if (!Array.isArray(targets) || !targets.every((t) => typeof t === 'string' && known.includes(t))) refuse('target_modules', `a list of ${known.join(', ')}`);
  const spec: LoraSpec = { rank: raw['r'] as number, alpha: raw['lora_alpha'] as number, dropout: typeof raw['lora_dropout'] === 'number' ? raw['lora_dropout'] : 0, targetModules: targets as string[] };
  if (!Number.isInteger(spec.rank) || spec.rank < 1) refuse('r', 'a positive integer');
  if (!(typeof spec.alpha === 'number' && spec.alpha > 0)) refuse('lora_alpha', 'a positive number');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(join(where, ADAPTER_WEIGHTS));
  } catch (err) {
    throw new HfFolderError(`--adapter ${where} has no readable ${ADAPTER_WEIGHTS}: ${(err as Error).message}`, { cause: err });
  }
  const { tensors } = decodeSafetensors(bytes, { source: join(where, ADAPTER_WEIGHTS) });
  const byPeft = new Map<string, string>();
  for (const [ours, hf] of hfModules(cfg)) {
    if (!spec.targetModules.includes(ours.slice(ours.lastIndexOf('.') + 1))) continue;
    for (const ab of ['lora_A', 'lora_B']) byPeft.set(`${PEFT_PREFIX}${hf}.${ab}.weight`, `${ours}.${ab}`);
  }
  const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const ours = byPeft.get(name);
    if (!ours) throw new HfFolderError(`${join(where, ADAPTER_WEIGHTS)} holds ${JSON.stringify(name)}, which is no adapter tensor of this ${cfg.arch ?? 'gpt2'} model with target_modules ${spec.targetModules.join(', ')}`);
    if (t.dtype !== 'F32') throw new HfFolderError(`${JSON.stringify(name)} is ${t.dtype}; adapters are read as F32`);
    weights[ours] = { shape: t.shape, data: t.data as Float32Array };
  }
  return { spec, weights };
}
