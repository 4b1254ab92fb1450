// Swaps native kernels into the tfjs wasm backend (and back), reporting which run: never a silent change of kernels.
import * as tf from '@tensorflow/tfjs-core';
import { loadAddon, type NativeAddon } from './addon.js';
import { makeBatchMatMul } from './batch_mat_mul.js';
import { makeConcat, makeGather, makeIdentity, makeSum, makeTanh, makeTranspose } from './elementwise.js';
import { fusedKernelConfigs } from './fused.js';

export { loadAddon, ADDON_PATH, type NativeAddon } from './addon.js';
export { nativeAdamW, nativeAttention, nativeGelu, nativeLayerNorm, nativeTokenLogProbs, type AdamWScalars } from './fused.js';

export class NativeKernelError extends Error {
  override name = 'NativeKernelError';
}

export interface NativeKernelOptions {
  /**
   * OpenBLAS threads (a process-wide setting: the last call from any thread wins); default 1, because generator and
   * judge workers run beside the learner and several threads each running GEMMs would oversubscribe the cores. A
   * learner that has the machine to itself can pass more (about 1.9x on 2 cores for large products).
   */
  threads?: number;
  /** 'auto': OpenBLAS when the addon links it, else the portable C GEMM; 'portable': always the C GEMM. */
  gemm?: 'auto' | 'portable';
  /** Which kernels to replace (default all of NATIVE_KERNELS). */
  kernels?: readonly NativeKernelName[];
}

/**
 * Stock tfjs kernels this module replaces, and fused kernels it adds (used through nativeGelu, nativeAdamW, nativeLayerNorm,
 * nativeAttention, nativeTokenLogProbs).
 */
export const REPLACED_KERNELS = ['BatchMatMul', 'Tanh', 'Sum', 'Transpose', 'Concat', 'GatherV2', 'Identity'] as const;
export const FUSED_KERNELS = ['RlhfGelu', 'RlhfAdamW', 'RlhfLayerNorm', 'RlhfAttention', 'RlhfTokenLogProbs'] as const;
export const NATIVE_KERNELS = [...REPLACED_KERNELS, ...FUSED_KERNELS] as const;
export type NativeKernelName = (typeof NATIVE_KERNELS)[number];
type ReplacedName = (typeof REPLACED_KERNELS)[number];
type FusedName = (typeof FUSED_KERNELS)[number];

export interface NativeKernelStatus {
  active: boolean;
  /** tfjs kernel names now served by native code. */
  kernels: string[];
  /** The GEMM behind them ('none' when inactive). */
  blas: 'openblas' | 'portable' | 'none';
  /** GEMM threads in force (OpenBLAS's or the portable GEMM's; 0 when inactive). */
  threads: number;
  /** Why the native kernels are not active. */
  reason?: string;
}

const BACKEND = 'wasm';

/** The stock kernel configs we replaced, to restore them. */
const replaced = new Map<string, tf.KernelConfig>();
/** The fused kernel configs we added (a fused name may bring a gradient kernel along), to remove them. */
const added = new Map<FusedName, tf.KernelConfig[]>();
let status: NativeKernelStatus = { active: false, kernels: [], blas: 'none', threads: 0, reason: 'not enabled' };

function replaceKernel(kernelName: string, make: (stock: tf.KernelFunc) => tf.KernelFunc): void {
  const stock = replaced.get(kernelName) ?? tf.getKernel(kernelName, BACKEND);
  if (!stock) throw new NativeKernelError(`the wasm backend has no ${kernelName} kernel to replace`);
  if (!replaced.has(kernelName)) replaced.set(kernelName, stock);
  tf.unregisterKernel(kernelName, BACKEND);
  tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc: make(stock.kernelFunc) });
}

/**
 * Registers the native kernels for the wasm backend of this thread's tfjs engine, when the addon is built and the active
 * backend is 'wasm'. Calling it again re-applies the options. Returns which kernels are active, or why none are.
 */
export function enableNativeKernels(options: NativeKernelOptions = {}): NativeKernelStatus {
  const gemm = options.gemm ?? 'auto';
  if (gemm !== 'auto' && gemm !== 'portable') {
    throw new NativeKernelError(`native gemm must be one of auto, portable; got ${JSON.stringify(gemm)}`);
  }
  const wanted = options.kernels ?? NATIVE_KERNELS;
  const unknown = wanted.filter((k) => !(NATIVE_KERNELS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new NativeKernelError(`native kernels must be among ${NATIVE_KERNELS.join(', ')}; got ${JSON.stringify(unknown)}`);
  }
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw new NativeKernelError(`native threads must be an integer in [1, 1024]; got ${String(threads)}`);
  }
  const backend = tf.getBackend();
  if (backend !== BACKEND) {
    disableNativeKernels();
    status = { ...status, reason: `the active tensor backend is ${JSON.stringify(backend)}, not 'wasm'` };
    return status;
  }
  const load = loadAddon();
  if (load.addon === undefined) {
    status = { active: false, kernels: [], blas: 'none', threads: 0, reason: load.reason };
    return status;
  }
  const addon: NativeAddon = load.addon;
  const portable = gemm === 'portable' || addon.blas === 'portable';
  const inForce = addon.setThreads(threads);
  // Re-applying with fewer kernels restores the stock ones left out.
  for (const name of REPLACED_KERNELS) if (!wanted.includes(name)) restoreKernel(name);
  for (const name of FUSED_KERNELS) if (!wanted.includes(name)) removeFused(name);
  const makers: Record<ReplacedName, (stock: tf.KernelFunc) => tf.KernelFunc> = {
    BatchMatMul: (stock) => makeBatchMatMul(addon, portable, stock),
    Tanh: (stock) => makeTanh(addon, stock),
    Sum: (stock) => makeSum(addon, stock),
    Transpose: (stock) => makeTranspose(addon, stock),
    Concat: (stock) => makeConcat(addon, stock),
    GatherV2: (stock) => makeGather(stock),
    Identity: (stock) => makeIdentity(stock),
  };
  const fused = fusedKernelConfigs(addon, portable);
  for (const name of wanted) {
    if ((REPLACED_KERNELS as readonly string[]).includes(name)) replaceKernel(name, makers[name as ReplacedName]);
    else addFused(name as FusedName, fused[name as FusedName]);
  }
  status = { active: true, kernels: activeKernels(), blas: portable ? 'portable' : 'openblas', threads: inForce };
  return status;
}

function addFused(name: FusedName, configs: tf.KernelConfig[]): void {
  removeFused(name);
  for (const c of configs) tf.registerKernel(c);
  added.set(name, configs);
}

function removeFused(name: FusedName): void {
  for (const c of added.get(name) ?? []) tf.unregisterKernel(c.kernelName, c.backendName);
  added.delete(name);
}

function activeKernels(): string[] {
  return [...replaced.keys(), ...[...added.values()].flat().map((c) => c.kernelName)];
}

function restoreKernel(kernelName: string): void {
  const stock = replaced.get(kernelName);
  if (!stock) return;
  tf.unregisterKernel(kernelName, BACKEND);
  tf.registerKernel(stock);
  replaced.delete(kernelName);
}

/** Restores the stock wasm kernels that enableNativeKernels replaced. */
export function disableNativeKernels(): NativeKernelStatus {
  for (const kernelName of [...replaced.keys()]) restoreKernel(kernelName);
  for (const name of [...added.keys()]) removeFused(name);
  status = { active: false, kernels: [], blas: 'none', threads: 0, reason: 'disabled' };
  return status;
}

/**
 * Sets the GEMM thread count (when the native kernels are active) and returns the count it replaced (0 when inactive).
 * Process-wide for OpenBLAS: for a role that runs while the others wait, such as a phase of the paper's loop training.
 */
export function setGemmThreads(threads: number): number {
  const addon = status.active ? loadAddon().addon : undefined;
  if (!addon) return 0;
  const before = status.threads;
  status = { ...status, threads: addon.setThreads(threads) };
  return before;
}

/**
 * Runs f with the GEMM on `threads` threads (when the native kernels are active), then puts the count back. The count is
 * process-wide: use it for stages that run alone, such as SFT and reward-model training.
 */
export async function withGemmThreads<T>(threads: number, f: () => Promise<T>): Promise<T> {
  const before = setGemmThreads(threads);
  if (before === 0) return f();
  try {
    return await f();
  } finally {
    setGemmThreads(before);
  }
}

/** What enableNativeKernels or disableNativeKernels last did in this thread. */
export function nativeKernelStatus(): NativeKernelStatus {
  return status;
}
