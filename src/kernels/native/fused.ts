// Fused GELU, LayerNorm, AdamW, causal self-attention and target-token log-probabilities (each forward and gradient)
// as single native kernels on the wasm heap: each replaces a chain of 6-30 stock wasm kernel calls (and their
// scalar uploads and intermediate tensors) with one call. Callers opt in per use.
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import { isWasmBackend, type WasmBackendLike } from './batch_mat_mul.js';
import { heapOffset } from './heap.js';

export const GELU_KERNEL = 'RlhfGelu';
export const GELU_GRAD_KERNEL = 'RlhfGeluGrad';
export const ADAMW_KERNEL = 'RlhfAdamW';
export const LAYER_NORM_KERNEL = 'RlhfLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'RlhfLayerNormGrad';
export const ATTENTION_KERNEL = 'RlhfAttention';
export const ATTENTION_GRAD_KERNEL = 'RlhfAttentionGrad';
export const TOKEN_LOGPROBS_KERNEL = 'RlhfTokenLogProbs';
export const TOKEN_LOGPROBS_GRAD_KERNEL = 'RlhfTokenLogProbsGrad';

export class FusedKernelError extends Error {
  override name = 'FusedKernelError';
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

const offset = (backend: WasmBackendLike, t: tf.TensorInfo): number => heapOffset(backend.dataIdMap.get(t.dataId)!.memoryOffset, t);

function wasmBackendOf(args: KernelArgs, kernel: string, ints: string[] = []): WasmBackendLike {
  if (!isWasmBackend(args.backend)) throw new FusedKernelError(`${kernel} runs only on the wasm backend`);
  for (const [name, t] of Object.entries(args.inputs)) {
    const want = ints.includes(name) ? 'int32' : 'float32';
    if (t !== undefined && t.dtype !== want) throw new FusedKernelError(`${kernel} input ${name} must be ${want}; got ${t.dtype}`);
  }
  return args.backend;
}

/** The AdamW scalars, bias corrections folded in (as src/kernels/adamw.ts does):
 * p' = decay p - stepSize m' / (sqrt(v') + epsHat), m' = beta1 m + (1 - beta1) g, v' = beta2 v + (1 - beta2) g^2. */
export interface AdamWScalars {
  beta1: number;
  beta2: number;
  stepSize: number;
  epsHat: number;
  decay: number;
}

/** The attributes of the attention kernels: the packed qkv [batch * seq, 3 * heads * headDim]. */
interface AttentionAttrs {
  batch: number;
  seq: number;
  heads: number;
}

/** Kernel configs for the wasm backend; `portable` runs attention's products on the portable GEMM. */
export function fusedKernelConfigs(
  addon: NativeAddon,
  portable = false,
): Record<'RlhfGelu' | 'RlhfAdamW' | 'RlhfLayerNorm' | 'RlhfAttention' | 'RlhfTokenLogProbs', tf.KernelConfig[]> {
  const gelu: tf.KernelFunc = (args) => {
    const backend = wasmBackendOf(args, GELU_KERNEL);
    const x = args.inputs['x']!;
    const out = backend.makeOutput(x.shape.slice(), 'float32');
    const n = tf.util.sizeFromShape(x.shape);
    // Read the buffer after makeOutput: its malloc may have grown the wasm memory and detached the old buffer.
    if (n > 0) addon.gelu(backend.wasm.HEAPU8.buffer as ArrayBuffer, offset(backend, x), offset(backend, out), n);
    return out;
  };
  const geluGrad: tf.KernelFunc = (args) => {
    const backend = wasmBackendOf(args, GELU_GRAD_KERNEL);
    const x = args.inputs['x']!;
    const dy = args.inputs['dy']!;
    if (!tf.util.arraysEqual(x.shape, dy.shape)) {
      throw new FusedKernelError(`${GELU_GRAD_KERNEL}: dy [${dy.shape}] must have the shape of x [${x.shape}]`);
    }
    const out = backend.makeOutput(x.shape.slice(), 'float32');
    const n = tf.util.sizeFromShape(x.shape);
    if (n > 0) {
      addon.geluGrad(backend.wasm.HEAPU8.buffer as ArrayBuffer, offset(backend, x), offset(backend, dy), offset(backend, out), n);
    }
    return out;
  };
  const adamw: tf.KernelFunc = (args) => {
    const backend = wasmBackendOf(args, ADAMW_KERNEL);
    const { p, g, m, v } = args.inputs as Record<'p' | 'g' | 'm' | 'v', tf.TensorInfo>;
    const h = args.attrs as unknown as AdamWScalars;
    const outs = [backend.makeOutput(p.shape.slice(), 'float32'), backend.makeOutput(p.shape.slice(), 'float32'),
      backend.makeOutput(p.shape.slice(), 'float32')];
    const n = tf.util.sizeFromShape(p.shape);
    if (n > 0) {
      const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
      addon.adamw(heap, offset(backend, p), offset(backend, g), offset(backend, m), offset(backend, v),
        offset(backend, outs[0]!), offset(backend, outs[1]!), offset(backend, outs[2]!), n,
        h.beta1, h.beta2, h.stepSize, h.epsHat, h.decay);
    }
    return outs;
  };
  const layerNorm: tf.KernelFunc = (args) => {
    const backend = wasmBackendOf(args, LAYER_NORM_KERNEL);
    const { x, weight, bias } = args.inputs as Record<'x' | 'weight' | 'bias', tf.TensorInfo>;
    const [n, d] = rowsOf(x, weight, bias, LAYER_NORM_KERNEL);
    const { eps } = args.attrs as unknown as { eps: number };
    const outs = [backend.makeOutput(x.shape.slice(), 'float32'), backend.makeOutput([n], 'float32'), backend.makeOutput([n], 'float32')];
    if (n > 0) {
      const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer; // after makeOutput, which may grow the memory
      addon.layerNorm(heap, offset(backend, x), offset(backend, weight), offset(backend, bias), offset(backend, outs[0]!),
        offset(backend, outs[1]!), offset(backend, outs[2]!), n, d, eps);
    }
    return outs;
  };
  const layerNormGrad: tf.KernelFunc = (args) => {
    const backend = wasmBackendOf(args, LAYER_NORM_GRAD_KERNEL);
    const { dy, x, weight, mean, rstd } = args.inputs as Record<'dy' | 'x' | 'weight' | 'mean' | 'rstd', tf.TensorInfo>;
    const [n, d] = rowsOf(x, weight, weight, LAYER_NORM_GRAD_KERNEL);
    if (!tf.util.arraysEqual(dy.shape, x.shape) || tf.util.sizeFromShape(mean.shape) !== n || tf.util.sizeFromShape(rstd.shape) !== n) {
      throw new FusedKernelError(`${LAYER_NORM_GRAD_KERNEL}: dy [${dy.shape}], mean [${mean.shape}] and rstd [${rstd.shape}] do not fit x [${x.shape}]`);
    }
    const outs = [backend.makeOutput(x.shape.slice(), 'float32'), backend.makeOutput([d], 'float32'), backend.makeOutput([d], 'float32')];
    const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
    addon.layerNormGrad(heap, offset(backend, dy), offset(backend, x), offset(backend, weight), offset(backend, mean),
      offset(backend, rstd), offset(backend, outs[0]!), offset(backend, outs[1]!), offset(backend, outs[2]!), n, d);
    return outs;
  };
  const attention: tf.KernelFunc = (args) => {
    const backend = wasmBackendOf(args, ATTENTION_KERNEL);
    const qkv = args.inputs['qkv']!;
    const { batch, seq, heads } = args.attrs as unknown as AttentionAttrs;
    const hd = headDimOf(qkv, batch, seq, heads, ATTENTION_KERNEL);
    const outs = [backend.makeOutput([batch * seq, heads * hd], 'float32'), backend.makeOutput([batch, heads, seq, seq], 'float32')];
    const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer; // after makeOutput, which may grow the memory
    addon.attention(heap, offset(backend, qkv), offset(backend, outs[0]!), offset(backend, outs[1]!), batch, seq, heads, hd,
      1 / Math.sqrt(hd), portable);
    return outs;
  };
  const attentionGrad: tf.KernelFunc = (args) => {
    const backend = wasmBackendOf(args, ATTENTION_GRAD_KERNEL);
    const { dy, qkv, probs } = args.inputs as Record<'dy' | 'qkv' | 'probs', tf.TensorInfo>;
    const { batch, seq, heads } = args.attrs as unknown as AttentionAttrs;
    const hd = headDimOf(qkv, batch, seq, heads, ATTENTION_GRAD_KERNEL);
    if (tf.util.sizeFromShape(dy.shape) !== batch * seq * heads * hd || tf.util.sizeFromShape(probs.shape) !== batch * heads * seq * seq) {
      throw new FusedKernelError(`${ATTENTION_GRAD_KERNEL}: dy [${dy.shape}] and probs [${probs.shape}] do not fit qkv [${qkv.shape}]`);
    }
    const out = backend.makeOutput(qkv.shape.slice(), 'float32');
    const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
    addon.attentionGrad(heap, offset(backend, dy), offset(backend, qkv), offset(backend, probs), offset(backend, out), batch, seq,
      heads, hd, 1 / Math.sqrt(hd), portable);
    return out;
  };
  const tokenLogProbs: tf.KernelFunc = (args) => {
    const backend = wasmBackendOf(args, TOKEN_LOGPROBS_KERNEL, ['targets']);
    const { x, targets } = args.inputs as Record<'x' | 'targets', tf.TensorInfo>;
    const [n, v] = logitRows(x, targets, TOKEN_LOGPROBS_KERNEL);
    const outs = [backend.makeOutput([n], 'float32'), backend.makeOutput([n], 'float32')];
    if (n > 0) {
      const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer; // after makeOutput, which may grow the memory
      try {
        addon.tokenLogProbs(heap, offset(backend, x), offset(backend, targets), offset(backend, outs[0]!), offset(backend, outs[1]!), n, v);
      } catch (err) {
        for (const o of outs) (backend as unknown as { disposeData(dataId: object): void }).disposeData(o.dataId);
        throw err;
      }
    }
    return outs;
  };
  const tokenLogProbsGrad: tf.KernelFunc = (args) => {
    const backend = wasmBackendOf(args, TOKEN_LOGPROBS_GRAD_KERNEL, ['targets']);
    const { x, targets, lse, dy } = args.inputs as Record<'x' | 'targets' | 'lse' | 'dy', tf.TensorInfo>;
    const [n, v] = logitRows(x, targets, TOKEN_LOGPROBS_GRAD_KERNEL);
    if (tf.util.sizeFromShape(lse.shape) !== n || tf.util.sizeFromShape(dy.shape) !== n) {
      throw new FusedKernelError(`${TOKEN_LOGPROBS_GRAD_KERNEL}: lse [${lse.shape}] and dy [${dy.shape}] must have one value per row of x [${x.shape}]`);
    }
    const out = backend.makeOutput(x.shape.slice(), 'float32');
    if (n > 0) {
      const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
      addon.tokenLogProbsGrad(heap, offset(backend, x), offset(backend, targets), offset(backend, lse), offset(backend, dy),
        offset(backend, out), n, v);
    }
    return out;
  };
  return {
    RlhfTokenLogProbs: [
      { kernelName: TOKEN_LOGPROBS_KERNEL, backendName: 'wasm', kernelFunc: tokenLogProbs },
      { kernelName: TOKEN_LOGPROBS_GRAD_KERNEL, backendName: 'wasm', kernelFunc: tokenLogProbsGrad },
    ],
    RlhfAttention: [
      { kernelName: ATTENTION_KERNEL, backendName: 'wasm', kernelFunc: attention },
      { kernelName: ATTENTION_GRAD_KERNEL, backendName: 'wasm', kernelFunc: attentionGrad },
    ],
    RlhfLayerNorm: [
      { kernelName: LAYER_NORM_KERNEL, backendName: 'wasm', kernelFunc: layerNorm },
      { kernelName: LAYER_NORM_GRAD_KERNEL, backendName: 'wasm', kernelFunc: layerNormGrad },
    ],
    RlhfGelu: [
      { kernelName: GELU_KERNEL, backendName: 'wasm', kernelFunc: gelu },
      { kernelName: GELU_GRAD_KERNEL, backendName: 'wasm', kernelFunc: geluGrad },
    ],
    RlhfAdamW: [{ kernelName: ADAMW_KERNEL, backendName: 'wasm', kernelFunc: adamw }],
  };
}

/** The head size of a packed qkv [batch * seq, 3 * heads * hd] (throws when the shape does not fit). */
function headDimOf(qkv: tf.TensorInfo, batch: number, seq: number, heads: number, kernel: string): number {
  const ok = [batch, seq, heads].every((n) => Number.isInteger(n) && n >= 1);
  const cols = qkv.shape[1] ?? 0;
  if (!ok || qkv.shape.length !== 2 || qkv.shape[0] !== batch * seq || cols % (3 * heads) !== 0 || cols === 0) {
    throw new FusedKernelError(
      `${kernel}: qkv must be [batch * seq, 3 * heads * headDim] with batch, seq, heads positive integers; ` +
        `got qkv [${qkv.shape}] for batch ${batch}, seq ${seq}, heads ${heads}`,
    );
  }
  return cols / (3 * heads);
}

/** [n, v] of logits x [n, v] with targets [n]. */
function logitRows(x: tf.TensorInfo, targets: tf.TensorInfo, kernel: string): [number, number] {
  if (x.shape.length !== 2 || x.shape[1]! < 1 || targets.shape.length !== 1 || targets.shape[0] !== x.shape[0]) {
    throw new FusedKernelError(`${kernel}: logits must be [n, v] with v >= 1 and targets [n]; got logits [${x.shape}] and targets [${targets.shape}]`);
  }
  return [x.shape[0]!, x.shape[1]!];
}

/** [rows, d] of x [..., d] with weight and bias [d]. */
function rowsOf(x: tf.TensorInfo, weight: tf.TensorInfo, bias: tf.TensorInfo, kernel: string): [number, number] {
  const d = x.shape[x.shape.length - 1] ?? 0;
  if (x.shape.length < 1 || d < 1 || weight.shape.length !== 1 || weight.shape[0] !== d || bias.shape.length !== 1 || bias.shape[0] !== d) {
    throw new FusedKernelError(`${kernel}: weight [${weight.shape}] and bias [${bias.shape}] must be [d] for x [${x.shape}] with d >= 1`);
  }
  return [tf.util.sizeFromShape(x.shape) / d, d];
}

const available = (kernel: string): boolean => tf.getBackend() === 'wasm' && tf.getKernel(kernel, 'wasm') !== undefined;

/**
 * GPT-2's tanh GELU, 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))), with its gradient, as two native kernels;
 * undefined when the fused kernels are not enabled on the active wasm backend (the caller then uses its tf-op GELU).
 */
export function nativeGelu(x: tf.Tensor): tf.Tensor | undefined {
  if (x.dtype !== 'float32' || !available(GELU_KERNEL) || !available(GELU_GRAD_KERNEL)) return undefined;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([xs]);
    const value = tf.engine().runKernel(GELU_KERNEL, { x: xs }) as tf.Tensor;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
      tf.engine().runKernel(GELU_GRAD_KERNEL, { x: saved[0]!, dy }) as tf.Tensor;
    return { value, gradFunc };
  });
  return f(x);
}

/**
 * One AdamW step for one variable in one native kernel: returns [p', m', v'] (new tensors), or undefined when the fused
 * kernels are not enabled on the active wasm backend. p, g, m, v: float32 of one shape.
 */
export function nativeAdamW(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, h: AdamWScalars): [tf.Tensor, tf.Tensor, tf.Tensor] | undefined {
  if (!available(ADAMW_KERNEL)) return undefined;
  for (const [name, t] of [['g', g], ['m', m], ['v', v]] as const) {
    if (!tf.util.arraysEqual(t.shape, p.shape)) {
      throw new FusedKernelError(`nativeAdamW: ${name} has shape [${t.shape}], the parameter has [${p.shape}]`);
    }
  }
  for (const [name, x] of Object.entries(h)) {
    if (!Number.isFinite(x)) throw new FusedKernelError(`nativeAdamW: ${name} must be a finite number; got ${String(x)}`);
  }
  const outs = tf.engine().runKernel(ADAMW_KERNEL, { p, g, m, v }, { ...h }) as tf.Tensor[];
  return [outs[0]!, outs[1]!, outs[2]!];
}

/**
 * LayerNorm over the last axis, (x - mean) / sqrt(var + eps) * weight + bias, with its gradient, as two native kernels
 * (the backward recomputes the normalised input from the saved per-row mean and 1/std); undefined when the fused kernels
 * are not enabled on the active wasm backend. x [..., D], weight [D], bias [D], all float32.
 */
export function nativeLayerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor | undefined {
  if (![x, weight, bias].every((t) => t.dtype === 'float32') || !available(LAYER_NORM_KERNEL) || !available(LAYER_NORM_GRAD_KERNEL)) {
    return undefined;
  }
  if (!(eps > 0) || !Number.isFinite(eps)) throw new FusedKernelError(`nativeLayerNorm: eps must be a finite number > 0; got ${eps}`);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, w, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM_KERNEL, { x: xs, weight: w, bias: b }, { eps }) as tf.Tensor[];
    save([xs, w, mean!, rstd!]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sx, sw, sm, sr] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      return tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, x: sx, weight: sw, mean: sm, rstd: sr }) as tf.Tensor[];
    };
    return { value: y!, gradFunc };
  });
  return f(x, weight, bias);
}

/**
 * Causal multi-head self-attention on the packed projection qkv [B * T, 3D] (for each row: the queries of every head,
 * then the keys, then the values; head h at columns h * hd of each third): softmax(q k^T / sqrt(hd) + causal mask) v
 * with the heads merged back, [B * T, D], and its gradient with respect to qkv, as one native kernel each way. The
 * forward keeps the attention weights [B, H, T, T] for the backward, as the unfused graph keeps its softmax. Undefined
 * when the fused kernels are not enabled on the active wasm backend (the caller then runs the tf-op attention).
 */
export function nativeAttention(qkv: tf.Tensor, batch: number, seq: number, heads: number): tf.Tensor2D | undefined {
  if (qkv.dtype !== 'float32' || !available(ATTENTION_KERNEL) || !available(ATTENTION_GRAD_KERNEL)) return undefined;
  headDimOf(qkv, batch, seq, heads, 'nativeAttention');
  const attrs = { batch, seq, heads };
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [y, probs] = tf.engine().runKernel(ATTENTION_KERNEL, { qkv: x }, { ...attrs }) as tf.Tensor[];
    save([x, probs!]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
      tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy, qkv: saved[0]!, probs: saved[1]! }, { ...attrs }) as tf.Tensor;
    return { value: y!, gradFunc };
  });
  return f(qkv) as tf.Tensor2D;
}

/**
 * log softmax(x)[target] per row: logits x [N, V] float32, targets int32 [N] -> [N], with its gradient
 * dy * (onehot(target) - softmax(x)), as one native kernel each way; the forward keeps only each row's log-sum-exp for the
 * backward, which recomputes the softmax. Undefined when the fused kernels are not enabled on the active wasm backend.
 * A target outside [0, V) throws, naming it.
 */
export function nativeTokenLogProbs(x: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D | undefined {
  if (x.dtype !== 'float32' || targets.dtype !== 'int32' || !available(TOKEN_LOGPROBS_KERNEL) || !available(TOKEN_LOGPROBS_GRAD_KERNEL)) {
    return undefined;
  }
  logitRows(x, targets, 'nativeTokenLogProbs');
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [logp, lse] = tf.engine().runKernel(TOKEN_LOGPROBS_KERNEL, { x: xs, targets }) as tf.Tensor[];
    save([xs, lse!]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
      tf.engine().runKernel(TOKEN_LOGPROBS_GRAD_KERNEL, { x: saved[0]!, targets, lse: saved[1]!, dy }) as tf.Tensor;
    return { value: logp!, gradFunc };
  });
  return f(x) as tf.Tensor1D;
}
