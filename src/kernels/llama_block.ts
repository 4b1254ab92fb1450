// The Llama-family transformer block (Touvron et al. 2023; HF modeling_llama.py): RMSNorm, rotary attention with grouped
// key/value heads (optional q/k/v biases, as Qwen2 has), SwiGLU MLP. Weights are stored [in, out], like the GPT-2 block's.
import * as tf from '@tensorflow/tfjs-core';
import { applyRope, attendGrouped } from './attention.js';
import type { GptConfig, LayerKv, StackContext } from './gpt_params.js';
import { linear } from './matmul.js';
import { rmsNorm, swiglu } from './rms_norm.js';

/** Sizes a Llama-family config implies: query heads, key/value heads, head size, MLP width. */
export function llamaDims(cfg: GptConfig): { heads: number; kvHeads: number; headDim: number; ffDim: number } {
  return {
    heads: cfg.heads,
    kvHeads: cfg.kvHeads ?? cfg.heads,
    headDim: cfg.headDim ?? cfg.dModel / cfg.heads,
    ffDim: cfg.ffDim ?? 4 * cfg.dModel,
  };
}

/** Per-layer parameter names and shapes of a Llama-family block, in a stable order; the last element says how to init. */
export function llamaLayerSpecs(cfg: GptConfig, l: number): [string, number[], 'normal' | 'residual' | 'zeros' | 'ones'][] {
  const d = cfg.dModel;
  const { heads, kvHeads, headDim, ffDim } = llamaDims(cfg);
  const p = `h.${l}.`;
  const specs: [string, number[], 'normal' | 'residual' | 'zeros' | 'ones'][] = [
    [`${p}ln_1.weight`, [d], 'ones'],
    [`${p}attn.q_proj.weight`, [d, heads * headDim], 'normal'],
    [`${p}attn.k_proj.weight`, [d, kvHeads * headDim], 'normal'],
    [`${p}attn.v_proj.weight`, [d, kvHeads * headDim], 'normal'],
  ];
  if (cfg.qkvBias) {
    specs.push(
      [`${p}attn.q_proj.bias`, [heads * headDim], 'zeros'],
      [`${p}attn.k_proj.bias`, [kvHeads * headDim], 'zeros'],
      [`${p}attn.v_proj.bias`, [kvHeads * headDim], 'zeros'],
    );
  }
  specs.push(
    [`${p}attn.o_proj.weight`, [heads * headDim, d], 'residual'],
    [`${p}ln_2.weight`, [d], 'ones'],
    [`${p}mlp.gate_proj.weight`, [d, ffDim], 'normal'],
    [`${p}mlp.up_proj.weight`, [d, ffDim], 'normal'],
    [`${p}mlp.down_proj.weight`, [ffDim, d], 'residual'],
  );
  return specs;
}

/**
 * One pre-RMSNorm block: x + o_proj(attn(rope(q), rope(k), v)), then + down(silu(gate) * up). x [B, T, D].
 * `project(x, module)` is x W (+ b) of a projection such as attn.q_proj (a LoRA-adapted model adds its term there).
 * The cache keeps the KV heads unrepeated: keys [B, KV, hd, S], values [B, KV, S, hd].
 */
export function llamaBlock(
  cfg: GptConfig,
  p: (name: string) => tf.Tensor,
  x: tf.Tensor3D,
  ctx: StackContext,
  past: LayerKv | undefined,
  rope: { cos: tf.Tensor; sin: tf.Tensor },
  drop: (x: tf.Tensor, site: string) => tf.Tensor,
  project: (x: tf.Tensor, module: string) => tf.Tensor = (x, m) => linear(x, p(`${m}.weight`), m.startsWith('attn.') && m !== 'attn.o_proj' && cfg.qkvBias ? p(`${m}.bias`) : undefined),
): { x: tf.Tensor3D; present: LayerKv } {
  const { heads, kvHeads, headDim } = llamaDims(cfg);
  const [b, t, d] = x.shape;
  const eps = cfg.normEps ?? 1e-6;

  const h1 = tf.reshape(rmsNorm(x, p('ln_1.weight') as tf.Tensor1D, eps), [b * t, d]); // [N, D]
  const q = applyRope(tf.reshape(project(h1, 'attn.q_proj'), [b, t, heads, headDim]), rope.cos, rope.sin);
  const k = applyRope(tf.reshape(project(h1, 'attn.k_proj'), [b, t, kvHeads, headDim]), rope.cos, rope.sin);
  const vf = project(h1, 'attn.v_proj');
  const qh = tf.mul(tf.transpose(q, [0, 2, 1, 3]), 1 / Math.sqrt(headDim)); // [B, H, T, hd]
  let kT = tf.transpose(k, [0, 2, 3, 1]) as tf.Tensor4D; // [B, KV, hd, T]
  let v = tf.transpose(tf.reshape(vf, [b, t, kvHeads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, KV, T, hd]
  if (past) {
    kT = tf.concat([past.kT, kT], 3);
    v = tf.concat([past.v, v], 2);
  }
  const att = attendGrouped(qh, kT, v, ctx.bias, heads / kvHeads, (pr) => drop(pr, 'attn_probs')); // [B, H, T, hd]
  const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [b * t, heads * headDim]);
  const attnOut = project(merged, 'attn.o_proj'); // [N, D]
  const x1 = tf.add(x, tf.reshape(drop(attnOut, 'attn_out'), [b, t, d])) as tf.Tensor3D;

  const h2 = tf.reshape(rmsNorm(x1, p('ln_2.weight') as tf.Tensor1D, eps), [b * t, d]);
  const act = swiglu(project(h2, 'mlp.gate_proj'), project(h2, 'mlp.up_proj')); // [N, F]
  const mlpOut = project(act, 'mlp.down_proj'); // [N, D]
  const x2 = tf.add(x1, tf.reshape(drop(mlpOut, 'mlp_out'), [b, t, d])) as tf.Tensor3D;
  return { x: x2, present: { kT, v } };
}
