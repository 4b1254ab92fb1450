// Low-rank adapters (LoRA, Hu et al. 2021, eq. 3): y = x W + b + (alpha / r) dropout(x) A^T B^T on chosen projections,
// the base W frozen. Shapes follow PEFT's: A (lora_A) [r, in], B (lora_B) [out, r], B starting at zero so the adapted
// model starts equal to the base.
import * as tf from '@tensorflow/tfjs-core';
import { GptError, type GptConfig, type GptModel } from './gpt_params.js';
import { matMul } from './matmul.js';
import { deriveSeed, Rng } from './rng.js';

export interface LoraSpec {
  rank: number;
  alpha: number;
  dropout: number;
  /** Short module names (PEFT's target_modules), e.g. c_attn or q_proj. */
  targetModules: string[];
}

/** An adapter attached to a model: its spec, the adapted modules (our paths, e.g. h.0.attn.c_attn) and its tensors. */
export interface LoraAdapter {
  spec: LoraSpec;
  /** alpha / rank. */
  scale: number;
  modules: string[];
  /** `${module}.lora_A` [r, in] and `${module}.lora_B` [out, r]. */
  params: Record<string, tf.Variable>;
  /** false: the forward pass is the base model's (the DPO reference), with no second copy of the base. */
  enabled: boolean;
}

/** The short names of the projections an adapter may target in this architecture (GPT-2 Conv1D or Llama Linear). */
export function loraModuleNames(cfg: GptConfig): string[] {
  return cfg.arch === 'llama' ? ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] : ['c_attn', 'c_proj', 'c_fc'];
}

/** Every projection of the model as our path (h.{l}.attn.c_attn ...), in a stable order. */
function allModules(cfg: GptConfig): string[] {
  const per = cfg.arch === 'llama'
    ? ['attn.q_proj', 'attn.k_proj', 'attn.v_proj', 'attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']
    : ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
  const out: string[] = [];
  for (let l = 0; l < cfg.layers; l++) for (const m of per) out.push(`h.${l}.${m}`);
  return out;
}

/** The spec a config asks for, with an empty module list meaning every projection the architecture has. */
export function resolveLoraSpec(cfg: GptConfig, c: { rank: number; alpha: number; dropout: number; targetModules: readonly string[] }): LoraSpec {
  return { rank: c.rank, alpha: c.alpha, dropout: c.dropout, targetModules: c.targetModules.length > 0 ? [...c.targetModules] : loraModuleNames(cfg) };
}

const shortName = (module: string): string => module.slice(module.lastIndexOf('.') + 1);

/** Checks a spec against the model, naming the field and what is accepted; returns the adapted modules. */
export function validateLoraSpec(cfg: GptConfig, spec: LoraSpec): string[] {
  if (!Number.isInteger(spec.rank) || spec.rank < 1) throw new GptError(`learner.lora.rank must be a positive integer; got ${String(spec.rank)}`);
  if (!(Number.isFinite(spec.alpha) && spec.alpha > 0)) throw new GptError(`learner.lora.alpha must be a positive number; got ${String(spec.alpha)}`);
  if (!(spec.dropout >= 0 && spec.dropout < 1)) throw new GptError(`learner.lora.dropout must be in [0, 1); got ${String(spec.dropout)}`);
  const known = loraModuleNames(cfg);
  if (!Array.isArray(spec.targetModules) || spec.targetModules.length === 0) {
    throw new GptError(`learner.lora.targetModules must name at least one of this model's modules: ${known.join(', ')}`);
  }
  for (const m of spec.targetModules) {
    if (!known.includes(m)) throw new GptError(`learner.lora.targetModules has ${JSON.stringify(m)}, which this ${cfg.arch ?? 'gpt2'} model does not have; its modules are ${known.join(', ')}`);
  }
  return allModules(cfg).filter((m) => spec.targetModules.includes(shortName(m)));
}

/** Input and output width of one of our projection paths, from the base weight [in, out]. */
function moduleDims(model: GptModel, module: string): [number, number] {
  const w = model.params[`${module}.weight`];
  if (!w) throw new GptError(`model has no projection ${JSON.stringify(module)}`);
  return [w.shape[0]!, w.shape[1]!];
}

/** Adapter tensor name -> shape for this model and spec. */
export function loraShapes(model: GptModel, spec: LoraSpec): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const m of validateLoraSpec(model.cfg, spec)) {
    const [din, dout] = moduleDims(model, m);
    out[`${m}.lora_A`] = [spec.rank, din];
    out[`${m}.lora_B`] = [dout, spec.rank];
  }
  return out;
}

/**
 * Attaches a fresh adapter: A ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming_uniform_ with a = sqrt(5)) from a stream
 * derived from (seed, name), B = 0. Replaces (and frees) any adapter the model had.
 */
export function initLora(model: GptModel, spec: LoraSpec, seed: number): LoraAdapter {
  const w: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of Object.entries(loraShapes(model, spec))) {
    const data = new Float32Array(shape[0]! * shape[1]!);
    if (name.endsWith('.lora_A')) {
      const bound = 1 / Math.sqrt(shape[1]!);
      const rng = new Rng(deriveSeed(seed, 'lora', name));
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.next() - 1) * bound;
    }
    w[name] = { shape, data };
  }
  return attachLora(model, spec, w);
}

/** Attaches an adapter holding the given tensors; names and shapes must match the spec exactly. Replaces any adapter. */
export function attachLora(model: GptModel, spec: LoraSpec, w: Record<string, { shape: number[]; data: Float32Array }>): LoraAdapter {
  const shapes = loraShapes(model, spec);
  checkTensors(shapes, w);
  detachLora(model);
  const params: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const t = tf.tensor(w[name]!.data, shape, 'float32');
    params[name] = tf.variable(t, true);
    t.dispose();
  }
  const adapter: LoraAdapter = { spec: { ...spec, targetModules: [...spec.targetModules] }, scale: spec.alpha / spec.rank, modules: Object.keys(shapes).filter((n) => n.endsWith('.lora_A')).map((n) => n.slice(0, -'.lora_A'.length)), params, enabled: true };
  model.lora = adapter;
  return adapter;
}

/** Overwrites the adapter's tensors in place (a newer version of the same adapter). */
export function setLoraWeights(model: GptModel, w: Record<string, { shape: number[]; data: Float32Array }>): void {
  const a = model.lora;
  if (!a) throw new GptError('the model has no adapter to set');
  checkTensors(Object.fromEntries(Object.entries(a.params).map(([n, p]) => [n, [...p.shape]])), w);
  for (const [name, p] of Object.entries(a.params)) tf.tidy(() => p.assign(tf.tensor(w[name]!.data, w[name]!.shape, 'float32')));
}

function checkTensors(shapes: Record<string, number[]>, w: Record<string, { shape: number[]; data: Float32Array }>): void {
  const missing = Object.keys(shapes).filter((n) => !(n in w));
  const extra = Object.keys(w).filter((n) => !(n in shapes));
  const bad = Object.keys(shapes).filter((n) => n in w && (w[n]!.shape.join(',') !== shapes[n]!.join(',') || w[n]!.data.length !== shapes[n]!.reduce((a, b) => a * b, 1)));
  if (missing.length + extra.length + bad.length > 0) {
    throw new GptError(`adapter tensors do not match the model: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}, mis-shaped ${JSON.stringify(bad)}`);
  }
}

/** Removes and frees the model's adapter, if any. */
export function detachLora(model: GptModel): void {
  if (!model.lora) return;
  for (const p of Object.values(model.lora.params)) p.dispose();
  delete model.lora;
}

/** Runs fn with the adapter switched off (the base model: the DPO reference), then switches it back on. */
export function withoutAdapter<T>(model: GptModel, fn: () => T): T {
  const a = model.lora;
  if (!a) return fn();
  const was = a.enabled;
  a.enabled = false;
  try {
    return fn();
  } finally {
    a.enabled = was;
  }
}

/**
 * The adapter's term for one projection: (alpha / r) drop(x) A^T B^T, x [N, in] -> [N, out]; undefined when the module
 * is not adapted or the adapter is off.
 */
export function loraDelta(model: GptModel, module: string, x: tf.Tensor, drop?: (x: tf.Tensor, rate: number) => tf.Tensor): tf.Tensor | undefined {
  const a = model.lora;
  if (!a || !a.enabled) return undefined;
  const A = a.params[`${module}.lora_A`];
  if (!A) return undefined;
  const B = a.params[`${module}.lora_B`]!;
  const xin = drop && a.spec.dropout > 0 ? drop(x, a.spec.dropout) : x;
  const h = matMul(xin, A, false, true); // [N, r]
  return tf.mul(matMul(h, B, false, true), a.scale); // [N, out]
}

/** W + (alpha / r) (B A)^T for every adapted projection (our W is [in, out]): the base weights with the adapter folded in. */
export function mergedWeights(model: GptModel): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, p] of Object.entries(model.params)) out[name] = { shape: [...p.shape], data: Float32Array.from(p.dataSync() as Float32Array) };
  const a = model.lora;
  if (!a) return out;
  for (const m of a.modules) {
    const merged = tf.tidy(() => {
      const delta = tf.transpose(tf.matMul(a.params[`${m}.lora_B`]!, a.params[`${m}.lora_A`]!)); // [in, out]
      return tf.add(model.params[`${m}.weight`]!, tf.mul(delta, a.scale));
    });
    out[`${m}.weight`]!.data = Float32Array.from(merged.dataSync() as Float32Array);
    merged.dispose();
  }
  return out;
}
