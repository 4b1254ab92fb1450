// Loads the optional native GEMM addon (native/build/Release/rlhf_native.node) and describes its interface.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** 0: every output batch reads operand batch 0; 1: output batch i reads operand batch i; an array: an explicit map. */
export type BatchMap = Int32Array | 0 | 1;

/** The functions rlhf_native.node exports (native/src/addon.c). */
export interface NativeAddon {
  /** Which GEMM the addon links: OpenBLAS when it was found at build time, else the portable C one. */
  readonly blas: 'openblas' | 'portable';
  /** c = alpha op(a) op(b) + beta c, row-major on Float32Arrays (bounds-checked). `portable` forces the C GEMM. */
  sgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number, portable?: boolean,
  ): void;
  /** C[i] = op(A[aMap(i)]) op(B[bMap(i)]) for i < batch; offsets are bytes into `heap` (the wasm memory). */
  batchMatMul(
    heap: ArrayBuffer, aOff: number, bOff: number, cOff: number, batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean, aMap: BatchMap, bMap: BatchMap, portable?: boolean,
  ): void;
  /** y = tanh(x) over n floats at byte offsets into `heap`. */
  tanh(heap: ArrayBuffer, xOff: number, yOff: number, n: number): void;
  /** out[p, q] = sum over r of x[p, r, q], x viewed as [outer, reduced, inner]; byte offsets into `heap`. */
  sum(heap: ArrayBuffer, xOff: number, outOff: number, outer: number, reduced: number, inner: number): void;
  /** y = GPT-2's tanh GELU of x over n floats. */
  gelu(heap: ArrayBuffer, xOff: number, yOff: number, n: number): void;
  /** dx = dy * GELU'(x) over n floats. */
  geluGrad(heap: ArrayBuffer, xOff: number, dyOff: number, dxOff: number, n: number): void;
  /** One AdamW step into three fresh outputs (see native/src/elementwise.h). */
  adamw(
    heap: ArrayBuffer, pOff: number, gOff: number, mOff: number, vOff: number, pOutOff: number, mOutOff: number,
    vOutOff: number, n: number, beta1: number, beta2: number, stepSize: number, epsHat: number, decay: number,
  ): void;
  /** y = x with axes permuted (y's dim k is x's dim perm[k]); 4-byte elements, rank <= 8, no overlap. */
  transpose(heap: ArrayBuffer, xOff: number, yOff: number, shape: Int32Array, perm: Int32Array): void;
  /** Concatenation along one axis: input i viewed as [outer, inners[i]] at byte offset offs[i]; 4-byte elements. */
  concat(heap: ArrayBuffer, yOff: number, outer: number, offs: Float64Array, inners: Float64Array): void;
  /** LayerNorm over rows of x [n, d]: y, and each row's mean and rstd = 1 / sqrt(var + eps). */
  layerNorm(heap: ArrayBuffer, xOff: number, wOff: number, bOff: number, yOff: number, meanOff: number, rstdOff: number,
    n: number, d: number, eps: number): void;
  /** Its gradient: dx [n, d], dw [d], db [d] from dy, x, w and the saved mean and rstd. */
  layerNormGrad(heap: ArrayBuffer, dyOff: number, xOff: number, wOff: number, meanOff: number, rstdOff: number,
    dxOff: number, dwOff: number, dbOff: number, n: number, d: number): void;
  /**
   * Causal self-attention on the packed qkv [b * t, 3 * heads * hd]: y [b * t, heads * hd] and the attention weights
   * probs [b, heads, t, t] (zero above the diagonal), scores scaled by `scale`; byte offsets into `heap`.
   */
  attention(heap: ArrayBuffer, qkvOff: number, yOff: number, probsOff: number, b: number, t: number, heads: number,
    hd: number, scale: number, portable: boolean): void;
  /** Its gradient: dqkv [b * t, 3 * heads * hd] from dy [b * t, heads * hd], qkv and the forward's probs. */
  attentionGrad(heap: ArrayBuffer, dyOff: number, qkvOff: number, probsOff: number, dqkvOff: number, b: number, t: number,
    heads: number, hd: number, scale: number, portable: boolean): void;
  /** logp = log softmax(x)[target] and lse = log sum exp(x) per row of x [n, v], targets int32 [n]; throws on a bad target. */
  tokenLogProbs(heap: ArrayBuffer, xOff: number, targetsOff: number, logpOff: number, lseOff: number, n: number, v: number): void;
  /** Its gradient: dx [n, v] = dy * (onehot(target) - exp(x - lse)). */
  tokenLogProbsGrad(heap: ArrayBuffer, xOff: number, targetsOff: number, lseOff: number, dyOff: number, dxOff: number, n: number,
    v: number): void;
  /** Sets OpenBLAS's (process-wide) thread count and returns the count in force; 1 for the portable GEMM. */
  setThreads(n: number): number;
  getThreads(): number;
}

export type AddonLoad = { addon: NativeAddon; path: string } | { addon: undefined; reason: string };

/** The package root: the nearest folder above this file holding native/binding.gyp (works from src/ and from dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(resolve(dir, 'native', 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) return resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
    dir = up;
  }
}

/** The built addon; RLHF_NATIVE_ADDON names another build (e.g. native/build-portable/rlhf_native.node) to compare. */
export const ADDON_PATH = process.env.RLHF_NATIVE_ADDON ? resolve(process.env.RLHF_NATIVE_ADDON) : resolve(packageRoot(), 'native', 'build', 'Release', 'rlhf_native.node');

let cached: AddonLoad | undefined;

/** Loads the addon once per thread; says why when it is absent or fails to load (e.g. libopenblas removed since the build). */
export function loadAddon(): AddonLoad {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH)) {
    cached = { addon: undefined, reason: `the native addon is not built (${ADDON_PATH} is missing; run npm run build:native)` };
    return cached;
  }
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    cached = { addon, path: ADDON_PATH };
  } catch (err) {
    cached = { addon: undefined, reason: `the native addon failed to load: ${(err as Error).message}` };
  }
  return cached;
}
