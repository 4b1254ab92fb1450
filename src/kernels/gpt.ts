// Decoder-only transformer (GPT-2, Radford et al. 2019, layout after nanoGPT model.py; or a Llama-family block): forward, heads.
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import { applyRope, attend, causalBias, ropeTables } from './attention.js';
import { embed } from './embedding.js';
import { layerNorm } from './layer_norm.js';
import { GptError, type ForwardOptions, type GptModel, type LayerKv, type StackContext } from './gpt_params.js';
import { llamaBlock } from './llama_block.js';
import { detachLora, loraDelta } from './lora.js';
import { frozenLinear, frozenMatMulT, linear, matMul } from './matmul.js';
import { nativeAttention, nativeGelu } from './native/index.js';
import { rmsNorm } from './rms_norm.js';
import { deriveSeed } from './rng.js';

export {
  GptError,
  gptParamShapes,
  initGpt,
  modelFromWeights,
  validateGptConfig,
  type ForwardOptions,
  type GptArch,
  type GptConfig,
  type GptHead,
  type GptModel,
  type LayerKv,
  type StackContext,
} from './gpt_params.js';

function param(model: GptModel, name: string): tf.Variable {
  const p = model.params[name];
  if (!p) throw new GptError(`model has no parameter ${JSON.stringify(name)}`);
  return p;
}

/** Inverted dropout with a seeded mask; identity when rate is 0. */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (rate <= 0) return x;
  return tf.tidy(() => {
    const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate), 'float32');
    return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
  });
}

/**
 * GELU, tanh approximation as in GPT-2, with a hand-written gradient. 0.5 x (1 + tanh(u)) = x sigmoid(2u) with
 * u = c (x + 0.044715 x^3): wasm's Sigmoid is about 4x faster than its Tanh, and x^3 uses products (tf.pow is slow).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  const c2 = 2 * Math.sqrt(2 / Math.PI);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const s = tf.sigmoid(tf.mul(xs, tf.add(tf.mul(tf.square(xs), c2 * 0.044715), c2))); // sigmoid(2u)
    save([xs, s]);
    const value = tf.mul(xs, s);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => {
      const [sx, ss] = saved as [tf.Tensor, tf.Tensor];
      // d/dx [x s] = s + x s (1 - s) d(2u)/dx, with d(2u)/dx = 2c (1 + 3 * 0.044715 x^2)
      const du = tf.add(tf.mul(tf.square(sx), 3 * c2 * 0.044715), c2);
      const d = tf.add(ss, tf.mul(tf.mul(sx, tf.mul(ss, tf.sub(1, ss))), du));
      return tf.mul(dy, d);
    };
    return { value, gradFunc };
  });
  return f(x);
}

interface Dropper {
  rate: number;
  seed: number;
}

/** Seeds of the adapter's dropout masks, when the adapter has dropout and the pass trains. */
function loraDropSeed(model: GptModel, opts: ForwardOptions): number | undefined {
  if (!opts.training || !model.lora || model.lora.spec.dropout <= 0) return undefined;
  if (opts.seed === undefined || !Number.isFinite(opts.seed)) {
    throw new GptError('a training forward with learner.lora.dropout > 0 needs opts.seed (dropout masks are seeded, never Math.random)');
  }
  return deriveSeed(opts.seed, 'lora');
}

/**
 * x W (+ b) of the projection at `path` (e.g. h.0.attn.c_attn), plus the adapter's term when one is attached. With an
 * adapter the base is frozen: its product passes gradient to x only.
 */
function project(model: GptModel, path: string, x: tf.Tensor, loraSeed: number | undefined): tf.Tensor {
  const w = param(model, `${path}.weight`);
  const b = model.params[`${path}.bias`];
  if (!model.lora) return linear(x, w, b);
  const base = frozenLinear(x, w, b);
  const drop = loraSeed === undefined ? undefined : (y: tf.Tensor, rate: number) => dropout(y, rate, deriveSeed(loraSeed, path));
  const delta = loraDelta(model, path, x, drop);
  return delta ? tf.add(base, delta) : base;
}

function makeDropper(model: GptModel, opts: ForwardOptions): Dropper | undefined {
  if (!opts.training || model.cfg.dropout <= 0) return undefined;
  if (opts.seed === undefined || !Number.isFinite(opts.seed)) {
    throw new GptError('a training forward with dropout > 0 needs opts.seed (dropout masks are seeded, never Math.random)');
  }
  return { rate: model.cfg.dropout, seed: opts.seed };
}

const drop = (x: tf.Tensor, d: Dropper | undefined, ...labels: (string | number)[]): tf.Tensor =>
  d ? dropout(x, d.rate, deriveSeed(d.seed, ...labels)) : x;

/** One pre-LayerNorm transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x)). x [B, T, D]. */
function block(
  model: GptModel,
  l: number,
  x: tf.Tensor3D,
  ctx: StackContext,
  rope: { cos: tf.Tensor; sin: tf.Tensor } | undefined,
  dropper: Dropper | undefined,
  loraSeed: number | undefined,
): { x: tf.Tensor3D; present?: LayerKv } {
  const { heads, dModel } = model.cfg;
  const [b, t] = x.shape;
  const hd = dModel / heads;
  const p = (n: string): tf.Variable => param(model, `h.${l}.${n}`);

  const eps = model.cfg.normEps ?? 1e-5;
  const h1 = layerNorm(x, p('ln_1.weight') as tf.Variable<tf.Rank.R1>, p('ln_1.bias') as tf.Variable<tf.Rank.R1>, eps);
  const qkv = project(model, `h.${l}.attn.c_attn`, tf.reshape(h1, [b * t, dModel]), loraSeed); // [N, 3D]
  // A plain causal forward without dropout on the weights runs attention as one native kernel on qkv itself: no split,
  // no head transposes, no mask or softmax kernels, and the same for its gradient.
  const fused = ctx.causalOnly && !rope && !ctx.past && !dropper ? nativeAttention(qkv, b, t, heads) : undefined;
  if (fused) return { x: mlpBlock(model, l, x, project(model, `h.${l}.attn.c_proj`, fused, loraSeed), dropper, eps, loraSeed) };
  const [qf, kf, vf] = tf.split(qkv, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
  let q = tf.reshape(qf, [b, t, heads, hd]);
  let k = tf.reshape(kf, [b, t, heads, hd]);
  if (rope) {
    q = applyRope(q, rope.cos, rope.sin);
    k = applyRope(k, rope.cos, rope.sin);
  }
  const qh = tf.mul(tf.transpose(q, [0, 2, 1, 3]), 1 / Math.sqrt(hd)); // [B, H, T, hd]
  let kT = tf.transpose(k, [0, 2, 3, 1]) as tf.Tensor4D; // [B, H, hd, T]
  let v = tf.transpose(tf.reshape(vf, [b, t, heads, hd]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, H, T, hd]
  const past = ctx.past?.[l];
  if (past) {
    kT = tf.concat([past.kT, kT], 3);
    v = tf.concat([past.v, v], 2);
  }
  const dropProbs = dropper ? (pr: tf.Tensor) => drop(pr, dropper, 'attn_probs', l) : undefined;
  const att = attend(qh, kT, v, ctx.bias, dropProbs); // [B, H, T, hd]
  const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [b * t, dModel]);
  const attnOut = project(model, `h.${l}.attn.c_proj`, merged, loraSeed);
  return { x: mlpBlock(model, l, x, attnOut, dropper, eps, loraSeed), present: { kT, v } };
}

/** The rest of a GPT-2 block after attention: x1 = x + attnOut [N, D], then x1 + mlp(ln_2(x1)). x [B, T, D]. */
function mlpBlock(model: GptModel, l: number, x: tf.Tensor3D, attnOut: tf.Tensor, dropper: Dropper | undefined, eps: number, loraSeed: number | undefined): tf.Tensor3D {
  const { dModel } = model.cfg;
  const [b, t] = x.shape;
  const p = (n: string): tf.Variable => param(model, `h.${l}.${n}`);
  const x1 = tf.add(x, tf.reshape(drop(attnOut, dropper, 'attn_out', l), [b, t, dModel])) as tf.Tensor3D;
  const h2 = layerNorm(x1, p('ln_2.weight') as tf.Variable<tf.Rank.R1>, p('ln_2.bias') as tf.Variable<tf.Rank.R1>, eps);
  const pre = project(model, `h.${l}.mlp.c_fc`, tf.reshape(h2, [b * t, dModel]), loraSeed); // [N, 4D]
  const fc = nativeGelu(pre) ?? gelu(pre); // the fused native kernel when enabled, else the tf-op GELU
  const mlpOut = project(model, `h.${l}.mlp.c_proj`, fc, loraSeed); // [N, D]
  return tf.add(x1, tf.reshape(drop(mlpOut, dropper, 'mlp_out', l), [b, t, dModel])) as tf.Tensor3D;
}

function checkTokens(tokens: tf.Tensor, what: string): void {
  if (tokens.rank !== 2) throw new GptError(`${what} must be [B, T]; got shape [${tokens.shape}]`);
  if (tokens.dtype !== 'int32') throw new GptError(`${what} must be int32; got ${tokens.dtype}`);
}

/**
 * The transformer stack: embeddings, blocks, final LayerNorm. Returns hidden states [B, T, D] and each layer's keys and
 * values (including the past ones given in ctx; none when ctx.causalOnly let attention run fused). Callers own the tidy
 * scope; forwardHidden and the KV cache use it.
 */
export function forwardStack(
  model: GptModel,
  tokens: tf.Tensor2D,
  ctx: StackContext,
  opts: ForwardOptions = {},
): { hidden: tf.Tensor3D; presents: LayerKv[] } {
  const { cfg } = model;
  const [b, t] = tokens.shape;
  const dropper = makeDropper(model, opts);
  const loraSeed = loraDropSeed(model, opts);
  const positions = ctx.positions;
  let x = embed(tokens, param(model, 'wte') as tf.Variable<tf.Rank.R2>); // [B, T, D]
  let rope: { cos: tf.Tensor; sin: tf.Tensor } | undefined;
  if (cfg.positional === 'learned') {
    const wpe = param(model, 'wpe');
    // A full forward slices the table (differentiable, no gather); decoding gathers per-row ids (inference only).
    const pos = positions
      ? tf.reshape(tf.gather(wpe, tf.tensor1d(positions.flat(), 'int32')), [b, t, cfg.dModel])
      : tf.slice(wpe, [0, 0], [t, cfg.dModel]);
    x = tf.add(x, pos);
  } else {
    rope = ropeTables(positions ?? [Array.from({ length: t }, (_, i) => i)], cfg.headDim ?? cfg.dModel / cfg.heads, cfg.ropeTheta);
  }
  x = drop(x, dropper, 'embed') as tf.Tensor3D;
  const presents: LayerKv[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const out =
      cfg.arch === 'llama'
        ? llamaBlock(cfg, (n) => param(model, `h.${l}.${n}`), x, ctx, ctx.past?.[l], rope!, (y, site) => drop(y, dropper, site, l), (y, m) => project(model, `h.${l}.${m}`, y, loraSeed))
        : block(model, l, x, ctx, rope, dropper, loraSeed);
    x = out.x;
    if (out.present) presents.push(out.present);
  }
  const lnF = param(model, 'ln_f.weight') as tf.Variable<tf.Rank.R1>;
  const hidden =
    cfg.arch === 'llama'
      ? rmsNorm(x, lnF, cfg.normEps ?? 1e-6)
      : layerNorm(x, lnF, param(model, 'ln_f.bias') as tf.Variable<tf.Rank.R1>, cfg.normEps ?? 1e-5);
  return { hidden: hidden as tf.Tensor3D, presents };
}

/** Hidden states after ln_f: tokens int32 [B, T] -> [B, T, D]. Causal: position t sees tokens 0..t only. */
export function forwardHidden(model: GptModel, tokens: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
  checkTokens(tokens, 'tokens');
  const t = tokens.shape[1];
  if (t > model.cfg.contextLength) throw new GptError(`sequence length ${t} exceeds model.contextLength ${model.cfg.contextLength}`);
  return tf.tidy(() => forwardStack(model, tokens, { bias: causalBias(t), causalOnly: true }, opts).hidden);
}

/** Hidden [..., D] -> logits [..., V] through the tied token embedding (h wte^T), or lm_head.weight [V, D] when untied. */
export function tiedLogits(model: GptModel, hidden: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const d = model.cfg.dModel;
    const rows = tf.reshape(hidden, [-1, d]); // [N, D]
    const out = model.cfg.tiedEmbeddings === false ? param(model, 'lm_head.weight') : param(model, 'wte');
    // With an adapter the output matrix is frozen: no [V, D] gradient is built for it.
    const logits = model.lora ? frozenMatMulT(rows as tf.Tensor2D, out as tf.Tensor2D) : matMul(rows, out, false, true); // [N, V]
    return tf.reshape(logits, [...hidden.shape.slice(0, -1), model.cfg.vocabSize]);
  });
}

/** Next-token logits: tokens int32 [B, T] -> [B, T, V]. */
export function forwardLogits(model: GptModel, tokens: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
  return tf.tidy(() => tiedLogits(model, forwardHidden(model, tokens, opts)) as tf.Tensor3D);
}

/**
 * Reward head: score.weight . hidden state at lastIndex (int32 [B], the last real token of each row) -> [B].
 * The row is picked with a one-hot mask multiply and sum, so the gradient needs no gather.
 */
export function scalarScores(model: GptModel, tokens: tf.Tensor2D, lastIndex: tf.Tensor1D, opts: ForwardOptions = {}): tf.Tensor1D {
  if (model.head !== 'scalar') throw new GptError(`scalarScores needs a model with head 'scalar'; got '${model.head}'`);
  if (lastIndex.rank !== 1 || lastIndex.shape[0] !== tokens.shape[0] || lastIndex.dtype !== 'int32') {
    throw new GptError(`lastIndex must be int32 [${tokens.shape[0]}]; got ${lastIndex.dtype} [${lastIndex.shape}]`);
  }
  return tf.tidy(() => {
    const hidden = forwardHidden(model, tokens, opts); // [B, T, D]
    // oneHot with dtype float32 returns all zeros on wasm 4.22: build it as int32, then cast.
    const pick = tf.expandDims(tf.cast(tf.oneHot(lastIndex, tokens.shape[1]), 'float32'), 2); // [B, T, 1]
    const last = tf.sum(tf.mul(hidden, pick), 1); // [B, D]
    return tf.sum(tf.mul(last, param(model, 'score.weight')), -1) as tf.Tensor1D; // [B]
  });
}

/** The parameters themselves (no copies): name -> tensor. */
export function getWeights(model: GptModel): Record<string, tf.Tensor> {
  return { ...model.params };
}

/** Overwrites every parameter; the set of names and every shape must match exactly. */
export function setWeights(model: GptModel, w: Record<string, { shape: number[]; data: Float32Array }>): void {
  const have = Object.keys(model.params);
  const missing = have.filter((n) => !(n in w));
  const extra = Object.keys(w).filter((n) => !(n in model.params));
  if (missing.length > 0 || extra.length > 0) {
    throw new GptError(
      `weights do not match the model: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}`,
    );
  }
  for (const name of have) {
    const p = model.params[name]!;
    const { shape, data } = w[name]!;
    const size = shape.reduce((a, b) => a * b, 1);
    if (shape.length !== p.shape.length || shape.some((d, i) => d !== p.shape[i]) || data.length !== size) {
      throw new GptError(
        `weight ${JSON.stringify(name)} has shape [${shape}] with ${data.length} values; the model needs [${p.shape}]`,
      );
    }
  }
  for (const name of have) {
    const { shape, data } = w[name]!;
    tf.tidy(() => model.params[name]!.assign(tf.tensor(data, shape, 'float32')));
  }
}

export function disposeModel(model: GptModel): void {
  detachLora(model);
  for (const p of Object.values(model.params)) p.dispose();
  model.params = {};
}

export function countParams(model: GptModel): number {
  return Object.values(model.params).reduce((s, p) => s + p.size, 0);
}
