// Stock wasm vs native kernels, side by side in one process: BatchMatMul median ms, GFLOP/s and fraction of the measured
// SGEMM peak; Tanh, Sum, fused GELU and fused AdamW median ms. Run: node dist/bench/native_kernels.js [--threads N]
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { initBackend } from '../src/kernels/backend.js';
import { gelu } from '../src/kernels/gpt.js';
import { disableNativeKernels, enableNativeKernels, loadAddon, nativeAdamW, nativeGelu, type NativeKernelStatus } from '../src/kernels/native/index.js';

export interface MatMulRow {
  /** `[m,k]x[k,n]` (logical shapes, before any transpose). */
  shape: string;
  transposeA: boolean;
  transposeB: boolean;
  gemm: 'openblas' | 'portable';
  stockMs: number;
  nativeMs: number;
  stockGflops: number;
  nativeGflops: number;
  /** nativeGflops / peakGflops. */
  fractionOfPeak: number;
  /** Median process CPU ms per call: on a busy machine wall time also counts waiting for a core. */
  stockCpuMs: number;
  nativeCpuMs: number;
}

export interface ElementwiseRow {
  /** What ran, e.g. `Tanh [1024,512]`. */
  name: string;
  stockMs: number;
  nativeMs: number;
  /** Median process CPU ms per call (less sensitive than wall time to other processes on a busy machine). */
  stockCpuMs: number;
  nativeCpuMs: number;
}

export interface NativeBenchReport {
  status: NativeKernelStatus;
  threads: number;
  /** Raw addon SGEMM on 1024^3 at `threads` threads, median GFLOP/s. */
  peakGflops: number;
  /** The same with one thread. */
  peakGflops1: number;
  /** The one-thread peak from process CPU time rather than wall time. */
  peakCpuGflops1: number;
  rows: MatMulRow[];
  elementwise: ElementwiseRow[];
}

export interface NativeBenchOptions {
  /** OpenBLAS threads for the native side (default min(cores, 4), to show the peak; the kernels default to 1). */
  threads?: number;
  /** Logical [m, k, n] or [m, k, n, batch] problems (default [2048,128,512], [2048,512,128], [512,512,512], and
   * attention scores [64,32,64] x 64 batches). */
  shapes?: ([number, number, number] | [number, number, number, number])[];
  /** Also time the portable C GEMM (default true when OpenBLAS is linked). */
  portable?: boolean;
  /** Each measurement repeats until both are reached (defaults 5 and 400 ms; at least 3 reps). */
  minReps?: number;
  minMs?: number;
}

const COMBOS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median wall and process-CPU ms of f after one warm-up call; repeats until minReps and minMs are reached (at least 3). */
function timeBoth(f: () => void, minReps: number, minMs: number): { wall: number; cpu: number } {
  f();
  const walls: number[] = [];
  const cpus: number[] = [];
  const start = performance.now();
  while (walls.length < 3 || walls.length < minReps || (performance.now() - start < minMs && walls.length < 200)) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    walls.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
    if (walls.length >= 3 && performance.now() - start > 4 * minMs) break; // the slow stock transposed kernels
  }
  return { wall: median(walls), cpu: median(cpus) };
}


function peak(threads: number, minReps: number, minMs: number): { wall: number; cpu: number } {
  const addon = loadAddon().addon!;
  addon.setThreads(threads);
  const n = 1024;
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const c = new Float32Array(n * n);
  const t = timeBoth(() => addon.sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n), minReps, minMs);
  return { wall: (2 * n ** 3) / t.wall / 1e6, cpu: (2 * n ** 3) / t.cpu / 1e6 };
}

/** Measures stock vs native matMul for every transpose combination; leaves the stock kernels registered. */
export async function benchNativeKernels(options: NativeBenchOptions = {}): Promise<NativeBenchReport> {
  if (tf.getBackend() !== 'wasm') await initBackend('wasm');
  const threads = options.threads ?? Math.max(1, Math.min(availableParallelism(), 4));
  const shapes = options.shapes ?? [[2048, 128, 512], [2048, 512, 128], [512, 512, 512], [64, 32, 64, 64]];
  const minReps = options.minReps ?? 5;
  const minMs = options.minMs ?? 400;
  const status = enableNativeKernels({ threads });
  disableNativeKernels();
  if (!status.active) return { status, threads, peakGflops: 0, peakGflops1: 0, peakCpuGflops1: 0, rows: [], elementwise: [] };
  const one = peak(1, minReps, minMs);
  const peakGflops1 = one.wall;
  const peakGflops = threads === 1 ? peakGflops1 : peak(threads, minReps, minMs).wall;
  const gemms: ('auto' | 'portable')[] = status.blas === 'openblas' && options.portable !== false ? ['auto', 'portable'] : ['auto'];
  const rows: MatMulRow[] = [];
  for (const [m, k, n, batch] of shapes) {
    const flop = 2 * m * k * n * (batch ?? 1);
    const lead = batch === undefined ? [] : [batch];
    for (const [ta, tb] of COMBOS) {
      const a = tf.randomUniform([...lead, ...(ta ? [k, m] : [m, k])], -1, 1, 'float32', 1);
      const b = tf.randomUniform([...lead, ...(tb ? [n, k] : [k, n])], -1, 1, 'float32', 2);
      const run = (): void => tf.matMul(a, b, ta, tb).dispose();
      disableNativeKernels();
      const stock = timeBoth(run, minReps, minMs);
      const stockMs = stock.wall;
      for (const gemm of gemms) {
        const st = enableNativeKernels({ threads, gemm });
        const native = timeBoth(run, minReps, minMs);
        const nativeMs = native.wall;
        disableNativeKernels();
        const nativeGflops = flop / nativeMs / 1e6;
        rows.push({
          shape: `${batch === undefined ? '' : `${batch}x`}[${m},${k}]x[${k},${n}]`, transposeA: ta, transposeB: tb, gemm: st.blas as 'openblas' | 'portable',
          stockMs, nativeMs, stockGflops: flop / stockMs / 1e6, nativeGflops,
          fractionOfPeak: nativeGflops / (st.blas === 'portable' ? peakGflops1 : peakGflops),
          stockCpuMs: stock.cpu, nativeCpuMs: native.cpu,
        });
      }
      tf.dispose([a, b]);
    }
  }
  const elementwise = benchElementwise(threads, minReps, minMs);
  return {
    status: { ...status, threads: loadAddon().addon!.setThreads(threads) }, threads, peakGflops, peakGflops1,
    peakCpuGflops1: one.cpu, rows, elementwise,
  };
}

/** Tanh, Sum, GELU (forward + gradient) and one AdamW step, stock tf ops vs the native kernels, at GPT-sized shapes. */
function benchElementwise(threads: number, minReps: number, minMs: number): ElementwiseRow[] {
  const rows: ElementwiseRow[] = [];
  const compare = (name: string, stock: () => void, native: () => void): void => {
    disableNativeKernels();
    const s = timeBoth(() => tf.tidy(stock), minReps, minMs);
    enableNativeKernels({ threads });
    const n = timeBoth(() => tf.tidy(native), minReps, minMs);
    disableNativeKernels();
    rows.push({ name, stockMs: s.wall, nativeMs: n.wall, stockCpuMs: s.cpu, nativeCpuMs: n.cpu });
  };
  const x = tf.randomUniform([1024, 512], -3, 3, 'float32', 3); // an MLP activation at B*T = 1024, 4D = 512
  const tall = tf.randomUniform([4096, 64], -3, 3, 'float32', 4); // attention scores [B*H*T, T]
  compare('Tanh [1024,512]', () => tf.tanh(x), () => tf.tanh(x));
  compare('Sum axis 0 [1024,512] (bias grad)', () => tf.sum(x, 0), () => tf.sum(x, 0));
  compare('Sum axis -1 [4096,64]', () => tf.sum(tall, -1), () => tf.sum(tall, -1));
  const geluFwdBwd = (g: (t: tf.Tensor) => tf.Tensor) => (): void => {
    tf.grad((t: tf.Tensor) => tf.sum(g(t)))(x);
  };
  compare('GELU fwd+grad [1024,512] (tf ops vs fused)', geluFwdBwd(gelu), geluFwdBwd((t) => nativeGelu(t)!));
  const p = tf.randomUniform([512, 128], -1, 1, 'float32', 5);
  const g = tf.randomUniform([512, 128], -1, 1, 'float32', 6);
  const m = tf.randomUniform([512, 128], -1, 1, 'float32', 7);
  const v = tf.randomUniform([512, 128], 0, 1, 'float32', 8);
  const h = { beta1: 0.9, beta2: 0.999, stepSize: 1e-3, epsHat: 1e-8, decay: 0.9999 };
  compare(
    'AdamW step [512,128] (tf ops vs fused)',
    () => {
      const m1 = tf.add(tf.mul(m, h.beta1), tf.mul(g, 1 - h.beta1));
      const v1 = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
      return [tf.sub(tf.mul(p, h.decay), tf.mul(tf.div(m1, tf.add(tf.sqrt(v1), h.epsHat)), h.stepSize)), m1, v1];
    },
    () => nativeAdamW(p, g, m, v, h),
  );
  tf.dispose([x, tall, p, g, m, v]);
  return rows;
}

/** FLOPs of a row, recovered from its timings. */
const flopOf = (x: MatMulRow): number => x.nativeGflops * x.nativeMs * 1e6;

/** A plain-text table of the report. */
export function formatNativeBench(r: NativeBenchReport): string {
  if (!r.status.active) return `native kernels inactive: ${r.status.reason ?? 'unknown reason'}`;
  const lines = [
    `native BatchMatMul (${r.status.blas}, ${r.threads} threads); raw SGEMM peak 1024^3: ${r.peakGflops.toFixed(1)} GFLOP/s ` +
      `(${r.peakGflops1.toFixed(1)} on 1 thread; ${r.peakCpuGflops1.toFixed(1)} by CPU time); the portable GEMM is ` +
      'single-threaded and compared with the 1-thread peak. GF/s by CPU time and its fraction of the CPU-time peak are ' +
      'shown in brackets (meaningful with 1 thread on a busy machine)',
    'shape                    tA tB gemm      stock ms  native ms  stock GF/s  native GF/s  speedup  of peak  [CPU: native GF/s, of peak]',
  ];
  for (const x of r.rows) {
    lines.push(
      `${x.shape.padEnd(24)} ${x.transposeA ? 'T' : '-'}  ${x.transposeB ? 'T' : '-'}  ${x.gemm.padEnd(8)} ${x.stockMs.toFixed(2).padStart(9)} ` +
        `${x.nativeMs.toFixed(2).padStart(10)} ${x.stockGflops.toFixed(1).padStart(11)} ${x.nativeGflops.toFixed(1).padStart(12)} ` +
        `${(x.stockMs / x.nativeMs).toFixed(1).padStart(7)}x ${(100 * x.fractionOfPeak).toFixed(0).padStart(6)}%  ` +
        `[${(flopOf(x) / x.nativeCpuMs / 1e6).toFixed(1)}, ${((100 * flopOf(x)) / x.nativeCpuMs / 1e6 / r.peakCpuGflops1).toFixed(0)}%]`,
    );
  }
  if (r.elementwise.length > 0) {
    lines.push('', 'kernel                                        stock ms  native ms  speedup  (process CPU ms: stock / native)');
    for (const e of r.elementwise) {
      lines.push(
        `${e.name.padEnd(44)} ${e.stockMs.toFixed(3).padStart(9)} ${e.nativeMs.toFixed(3).padStart(10)} ` +
          `${(e.stockMs / e.nativeMs).toFixed(1).padStart(7)}x  (${e.stockCpuMs.toFixed(3)} / ${e.nativeCpuMs.toFixed(3)})`,
      );
    }
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--threads');
  const threads = i > 0 ? Number(process.argv[i + 1]) : undefined;
  const report = await benchNativeKernels(threads === undefined ? {} : { threads });
  console.log(formatNativeBench(report));
}
