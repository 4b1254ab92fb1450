// The model's configuration, its validation, its parameter layout (names, shapes, initialisation) and construction.
import * as tf from '@tensorflow/tfjs-core';
import { llamaLayerSpecs } from './llama_block.js';
import type { LoraAdapter } from './lora.js';
import { deriveSeed, Rng } from './rng.js';

export class GptError extends Error {
  override name = 'GptError';
}

export interface GptConfig {
  vocabSize: number;
  contextLength: number;
  layers: number;
  dModel: number;
  heads: number;
  dropout: number;
  positional: 'learned' | 'rotary';
  /** Block layout: 'gpt2' (default; LayerNorm, GELU MLP, fused c_attn) or 'llama' (RMSNorm, SwiGLU, q/k/v/o, rotary). */
  arch?: GptArch;
  /** Key/value heads of grouped-query attention (llama; default heads). */
  kvHeads?: number;
  /** Size of one attention head (llama; default dModel / heads). */
  headDim?: number;
  /** MLP hidden width (default 4 * dModel). */
  ffDim?: number;
  /** Epsilon of the normalisation layers (default 1e-5 for LayerNorm, 1e-6 for RMSNorm). */
  normEps?: number;
  /** Base of the rotary frequencies (default 10000). */
  ropeTheta?: number;
  /** Biases on the q/k/v projections (llama layout; Qwen2 has them). */
  qkvBias?: boolean;
  /** false: a separate output matrix lm_head.weight [V, D] instead of the token embedding (default true). */
  tiedEmbeddings?: boolean;
}

export type GptArch = 'gpt2' | 'llama';

export type GptHead = 'lm' | 'scalar';

export interface GptModel {
  cfg: GptConfig;
  /** 'lm': tied output embedding gives next-token logits; 'scalar': a reward head reads the last real token. */
  head: GptHead;
  params: Record<string, tf.Variable>;
  /** A low-rank adapter on some projections (lora.ts); while one is attached the base params are frozen. */
  lora?: LoraAdapter;
}

export interface ForwardOptions {
  /** Enables dropout (when cfg.dropout > 0); a seed is then required. */
  training?: boolean;
  /** Seed of the dropout masks; each layer and site derives its own. */
  seed?: number;
}

/** Keys and values one layer produced: keys transposed [B, H, hd, S], values [B, H, S, hd]. */
export interface LayerKv {
  kT: tf.Tensor4D;
  v: tf.Tensor4D;
}

/** What the stack needs besides tokens: positions, attention mask, and optionally the keys/values of earlier tokens. */
export interface StackContext {
  /** Position ids [B][T]; omitted means 0..T-1 for every row (a full forward). */
  positions?: number[][];
  /** Additive attention mask broadcastable to [B, H, T, S]. */
  bias: tf.Tensor;
  past?: LayerKv[];
  /**
   * The bias is the plain causal mask of a full forward (no past, no padding) and the caller reads no presents: the
   * GPT-2 block may then run its attention as one fused native kernel, and returns no presents.
   */
  causalOnly?: boolean;
}

export function validateGptConfig(cfg: GptConfig): void {
  const ints: (keyof GptConfig)[] = ['vocabSize', 'contextLength', 'layers', 'dModel', 'heads'];
  for (const k of ints) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new GptError(`model.${k} must be a positive integer; got ${String(v)}`);
  }
  if (cfg.dModel % cfg.heads !== 0) throw new GptError(`model.dModel (${cfg.dModel}) must be divisible by model.heads (${cfg.heads})`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new GptError(`model.dropout must be in [0, 1); got ${cfg.dropout}`);
  if (cfg.positional !== 'learned' && cfg.positional !== 'rotary') {
    throw new GptError(`model.positional must be one of learned, rotary; got ${JSON.stringify(cfg.positional)}`);
  }
  if (cfg.positional === 'rotary' && (cfg.dModel / cfg.heads) % 2 !== 0) {
    throw new GptError(`rotary positions need an even head size; dModel/heads = ${cfg.dModel / cfg.heads}`);
  }
  validateArch(cfg);
}

function validateArch(cfg: GptConfig): void {
  const arch = cfg.arch ?? 'gpt2';
  if (arch !== 'gpt2' && arch !== 'llama') throw new GptError(`model.arch must be one of gpt2, llama; got ${JSON.stringify(cfg.arch)}`);
  for (const k of ['kvHeads', 'headDim', 'ffDim'] as const) {
    const v = cfg[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new GptError(`model.${k} must be a positive integer; got ${String(v)}`);
  }
  for (const k of ['normEps', 'ropeTheta'] as const) {
    const v = cfg[k];
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new GptError(`model.${k} must be a positive number; got ${String(v)}`);
  }
  if (arch === 'gpt2' && (cfg.kvHeads !== undefined || cfg.headDim !== undefined || cfg.qkvBias)) {
    throw new GptError('model.kvHeads, model.headDim and model.qkvBias belong to arch llama; arch gpt2 has neither');
  }
  if (arch === 'llama') {
    if (cfg.positional !== 'rotary') throw new GptError(`arch llama needs model.positional rotary; got ${JSON.stringify(cfg.positional)}`);
    const kv = cfg.kvHeads ?? cfg.heads;
    if (cfg.heads % kv !== 0) throw new GptError(`model.heads (${cfg.heads}) must be a multiple of model.kvHeads (${kv})`);
    if ((cfg.headDim ?? cfg.dModel / cfg.heads) % 2 !== 0 || (cfg.headDim === undefined && cfg.dModel % cfg.heads !== 0)) {
      throw new GptError(`arch llama needs an even integer head size; got ${cfg.headDim ?? cfg.dModel / cfg.heads}`);
    }
  }
}

type Init = 'normal' | 'residual' | 'zeros' | 'ones';

/** Parameter names (HF GPT-2 style) with shapes and how each is initialised, in a stable order. */
function paramSpecs(cfg: GptConfig, head: GptHead): [string, number[], Init][] {
  const d = cfg.dModel;
  const specs: [string, number[], Init][] = [['wte', [cfg.vocabSize, d], 'normal']];
  const tail: [string, number[], Init][] = [];
  if (cfg.tiedEmbeddings === false) tail.push(['lm_head.weight', [cfg.vocabSize, d], 'normal']);
  if (head === 'scalar') tail.push(['score.weight', [1, d], 'normal']);
  if (cfg.arch === 'llama') {
    for (let l = 0; l < cfg.layers; l++) specs.push(...llamaLayerSpecs(cfg, l));
    return [...specs, ['ln_f.weight', [d], 'ones'], ...tail];
  }
  const ff = cfg.ffDim ?? 4 * d;
  if (cfg.positional === 'learned') specs.push(['wpe', [cfg.contextLength, d], 'normal']);
  for (let l = 0; l < cfg.layers; l++) {
    const p = `h.${l}.`;
    specs.push(
      [`${p}ln_1.weight`, [d], 'ones'],
      [`${p}ln_1.bias`, [d], 'zeros'],
      [`${p}attn.c_attn.weight`, [d, 3 * d], 'normal'],
      [`${p}attn.c_attn.bias`, [3 * d], 'zeros'],
      [`${p}attn.c_proj.weight`, [d, d], 'residual'],
      [`${p}attn.c_proj.bias`, [d], 'zeros'],
      [`${p}ln_2.weight`, [d], 'ones'],
      [`${p}ln_2.bias`, [d], 'zeros'],
      [`${p}mlp.c_fc.weight`, [d, ff], 'normal'],
      [`${p}mlp.c_fc.bias`, [ff], 'zeros'],
      [`${p}mlp.c_proj.weight`, [ff, d], 'residual'],
      [`${p}mlp.c_proj.bias`, [d], 'zeros'],
    );
  }
  specs.push(['ln_f.weight', [d], 'ones'], ['ln_f.bias', [d], 'zeros']);
  return [...specs, ...tail];
}

/** Parameter name -> shape for a config and head, e.g. for checkpoint validation. */
export function gptParamShapes(cfg: GptConfig, head: GptHead = 'lm'): Record<string, number[]> {
  return Object.fromEntries(paramSpecs(cfg, head).map(([n, s]) => [n, s]));
}

/**
 * GPT-2 initialisation: weights N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 * layers)), biases 0, LayerNorm gains 1.
 * Each parameter draws from its own stream derived from (seed, name), so adding a head does not change the body.
 */
export function initGpt(cfg: GptConfig, seed: number, head: GptHead = 'lm'): GptModel {
  validateGptConfig(cfg);
  if (head !== 'lm' && head !== 'scalar') throw new GptError(`head must be one of lm, scalar; got ${JSON.stringify(head)}`);
  const params: Record<string, tf.Variable> = {};
  const residualStd = 0.02 / Math.sqrt(2 * cfg.layers);
  for (const [name, shape, init] of paramSpecs(cfg, head)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (init === 'ones') data.fill(1);
    if (init === 'normal' || init === 'residual') {
      const std = init === 'normal' ? 0.02 : residualStd;
      const rng = new Rng(deriveSeed(seed, 'init', name));
      for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
    }
    const t = tf.tensor(data, shape, 'float32');
    // Unnamed: tfjs variable names are global, and several models (policy, reference, reward) live in one process.
    params[name] = tf.variable(t, true);
    t.dispose();
  }
  return { cfg: { ...cfg }, head, params };
}

/** A model holding the given weights (no random init first); names and shapes must match the config exactly. */
export function modelFromWeights(cfg: GptConfig, head: GptHead, w: Record<string, { shape: number[]; data: Float32Array }>): GptModel {
  validateGptConfig(cfg);
  const shapes = gptParamShapes(cfg, head);
  const missing = Object.keys(shapes).filter((n) => !(n in w));
  const extra = Object.keys(w).filter((n) => !(n in shapes));
  const bad = Object.keys(shapes).filter((n) => n in w && (w[n]!.shape.join(',') !== shapes[n]!.join(',') || w[n]!.data.length !== shapes[n]!.reduce((a, b) => a * b, 1)));
  if (missing.length + extra.length + bad.length > 0) {
    throw new GptError(`weights do not match the model: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}, mis-shaped ${JSON.stringify(bad)}`);
  }
  const params: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const t = tf.tensor(w[name]!.data, shape, 'float32');
    params[name] = tf.variable(t, true);
    t.dispose();
  }
  return { cfg: { ...cfg }, head, params };
}
