// Kernel benchmark, stock wasm against the native kernels in one process: matMul GFLOP/s, the AdamW training step of the
// default model and of a GPT-2-small-sized one (stock, native, and native with the fused attention), with a profile of
// where the fused step's time goes, and KV-cache sampling; each figure as a ratio and a fraction of the SGEMM peak.
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism, loadavg } from 'node:os';
import { describeBackend, initBackend, type BackendInfo } from '../src/kernels/backend.js';
import { countParams, disposeModel, initGpt, type GptConfig } from '../src/kernels/gpt.js';
import { matMul } from '../src/kernels/matmul.js';
import { disableNativeKernels, enableNativeKernels, loadAddon, NATIVE_KERNELS, type NativeKernelStatus } from '../src/kernels/native/index.js';
import { Rng } from '../src/kernels/rng.js';
import { lmTrainingStep, time, type Timing } from './harness.js';
import { generate } from '../src/kernels/sampling.js';

/** The default model of config/default.yaml. */
const CFG: GptConfig = { vocabSize: 4096, contextLength: 128, layers: 4, dModel: 128, heads: 4, dropout: 0, positional: 'learned' };
const BATCH = 16;
/** GPT-2 small's body (12 layers, d_model 768, 12 heads) with the project's vocabulary, context 256. */
const SMALL: GptConfig = { vocabSize: 4096, contextLength: 256, layers: 12, dModel: 768, heads: 12, dropout: 0, positional: 'learned' };
const SMALL_BATCH = 2;

/**
 * stock: tfjs wasm; native: the native kernels without the fused attention and log-probabilities (the unfused graph on
 * native GEMMs); fused: every native kernel.
 */
type Mode = 'stock' | 'native' | 'fused';
const FUSED_ONLY: readonly string[] = ['RlhfAttention', 'RlhfTokenLogProbs'];

/** Switches the wasm backend's kernels; the native ones with one OpenBLAS thread, as the actors run them. */
function use(mode: Mode): NativeKernelStatus {
  if (mode === 'stock') return disableNativeKernels();
  const kernels = mode === 'fused' ? NATIVE_KERNELS : NATIVE_KERNELS.filter((k) => !FUSED_ONLY.includes(k));
  return enableNativeKernels({ threads: 1, kernels });
}

/** Times f with the stock kernels, then with the native ones (the same inputs and the same process). */
function both(reps: number, f: () => void): Record<'stock' | 'native', Timing> {
  use('stock');
  const stock = time(reps, f);
  use('native');
  const native = time(reps, f);
  use('stock');
  return { stock, native };
}

const f1 = (x: number): string => x.toFixed(1);
const ratio = (stock: number, native: number): string => `${(stock / native).toFixed(2)}x`;
const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;

/** The addon's raw single-threaded SGEMM on 1024^3, GFLOP/s by CPU time and by wall time. */
function sgemmPeak(): { cpu: number; wall: number } {
  const addon = loadAddon().addon!;
  addon.setThreads(1);
  const n = 1024;
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const c = new Float32Array(n * n);
  const t = time(7, () => addon.sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n));
  return { cpu: (2 * n ** 3) / t.cpu / 1e6, wall: (2 * n ** 3) / t.wall / 1e6 };
}

function benchMatMul(peak: number): void {
  // [m, k, n, batch dims, transposeB]: the model's products at batch 16, context 128.
  const shapes: [string, number[], number[], boolean][] = [
    ['qkv      [2048,128]x[128,384]', [2048, 128], [128, 384], false],
    ['mlp fc   [2048,128]x[128,512]', [2048, 128], [128, 512], false],
    ['mlp proj [2048,512]x[512,128]', [2048, 512], [512, 128], false],
    ['logits   [2048,128]x[4096,128]^T', [2048, 128], [4096, 128], true],
    ['scores   16x4x[128,32]x[32,128]', [16, 4, 128, 32], [16, 4, 32, 128], false],
    ['scores   16x4x[128,32]x[128,32]^T', [16, 4, 128, 32], [16, 4, 128, 32], true],
  ];
  console.log(`\nmatMul through src/kernels/matmul.ts, GFLOP/s by CPU time (median of 7)   stock    native  native/stock  of peak`);
  for (const [name, sa, sb, tb] of shapes) {
    const a = tf.randomNormal(sa, 0, 1, 'float32', 1);
    const b = tf.randomNormal(sb, 0, 1, 'float32', 2);
    const batch = sa.slice(0, -2).reduce((p, d) => p * d, 1);
    const [m, k] = sa.slice(-2) as [number, number];
    const n = tb ? sb[sb.length - 2]! : sb[sb.length - 1]!;
    const flop = 2 * batch * m * k * n;
    // No read-back: the wasm kernels are synchronous, and copying a large product out would be timed too.
    const t = both(7, () => matMul(a, b, false, tb).dispose());
    const gs = flop / t.stock.cpu / 1e6;
    const gn = flop / t.native.cpu / 1e6;
    console.log(`  ${name.padEnd(70)} ${f1(gs).padStart(6)} ${f1(gn).padStart(9)} ${ratio(gn, gs).padStart(13)} ${pct(gn / peak).padStart(8)}`);
    tf.dispose([a, b]);
  }
}

function randomTokens(rng: Rng, b: number, t: number, v: number): number[][] {
  return Array.from({ length: b }, () => Array.from({ length: t }, () => rng.int(v)));
}

/**
 * AdamW training steps of `cfg` at `batch` in each mode, alternating the modes rep by rep so that a change in the
 * machine's load hits them alike; then a profile of one fused step.
 */
async function benchTraining(peak: number, cfg: GptConfig, batch: number, modes: Mode[], reps: number, note = ''): Promise<void> {
  const model = initGpt(cfg, 1);
  const params = countParams(model);
  const { step, dispose } = lmTrainingStep(model, batch, cfg.contextLength);
  const tokens = batch * cfg.contextLength;
  // 6 N per token for the weight products (forward and backward) plus 12 L T D per token for the attention scores and
  // mixing, the whole T x T square counted (as nanoGPT's MFU does), although the causal half is all that is needed.
  const flop = 6 * params * tokens + 12 * cfg.layers * batch * cfg.contextLength ** 2 * cfg.dModel;
  console.log(
    `\ntraining step, AdamW (${cfg.layers} layers, d_model ${cfg.dModel}, ${cfg.heads} heads, context ${cfg.contextLength}, ` +
      `vocab ${cfg.vocabSize}, batch ${batch}, ${(params / 1e6).toFixed(2)} M params, ${(flop / 1e9).toFixed(1)} GFLOP/step; ` +
      `median of ${reps}, modes alternating${note})`,
  );
  const cpu: Record<string, number[]> = {};
  const wall: Record<string, number[]> = {};
  const leaks: Record<string, number> = {};
  for (const mode of modes) {
    use(mode);
    step(); // warm-up; the first one also allocates the AdamW moments: state, not a leak
    cpu[mode] = [];
    wall[mode] = [];
    leaks[mode] = 0;
  }
  for (let r = 0; r < reps; r++) {
    for (const mode of modes) {
      use(mode);
      const before = tf.memory().numTensors;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      step();
      wall[mode]!.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[mode]!.push((c.user + c.system) / 1000);
      leaks[mode]! += tf.memory().numTensors - before;
    }
  }
  use('stock');
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const c = Object.fromEntries(modes.map((m) => [m, med(cpu[m]!)]));
  const w = Object.fromEntries(modes.map((m) => [m, med(wall[m]!)]));
  const last = modes[modes.length - 1]!;
  const ratios = modes.length > 1 ? `${modes[0]}/${last}`.padStart(16) : '';
  console.log(`                           ${modes.map((m) => m.padStart(10)).join(' ')} ${ratios}`);
  const row = (label: string, cells: string[], r: string): void =>
    console.log(`  ${label.padEnd(24)} ${cells.map((x) => x.padStart(10)).join(' ')} ${r.padStart(16)}`);
  const rr = (x: number, y: number): string => (modes.length > 1 ? ratio(x, y) : '');
  row('ms/step (CPU)', modes.map((m) => c[m]!.toFixed(0)), rr(c[modes[0]!]!, c[last]!));
  row('ms/step (wall)', modes.map((m) => w[m]!.toFixed(0)), rr(w[modes[0]!]!, w[last]!));
  row('tokens/s (CPU)', modes.map((m) => ((tokens / c[m]!) * 1000).toFixed(0)), rr(c[modes[0]!]!, c[last]!));
  row('GFLOP/s achieved (CPU)', modes.map((m) => f1(flop / c[m]! / 1e6)), rr(c[modes[0]!]!, c[last]!));
  row('of the sgemm peak', modes.map((m) => pct(flop / c[m]! / 1e6 / peak)), '');
  row(`tensors leaked (${reps} steps)`, modes.map((m) => String(leaks[m])), '');
  await profileStep(step, last, c[last]!);
  dispose();
  disposeModel(model);
}

/**
 * Where one step's time goes, by kernel: tfjs's profiler, its kernel timer switched from wall-clock to process CPU time
 * (on a shared machine a kernel's wall time also counts the time the process waited for a core), the optimizer included.
 */
async function profileStep(step: () => void, mode: Mode, stepMs: number): Promise<void> {
  use(mode);
  const backend = tf.backend() as unknown as { time(f: () => void): Promise<{ kernelMs: number }> };
  const wallTimer = backend.time;
  backend.time = async (f: () => void) => {
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    return { kernelMs: (c.user + c.system) / 1000 };
  };
  const c0 = process.cpuUsage();
  let info: Awaited<ReturnType<typeof tf.profile>>;
  try {
    info = await tf.profile(step);
  } finally {
    backend.time = wallTimer;
  }
  const cu = process.cpuUsage(c0);
  const profiled = (cu.user + cu.system) / 1000;
  use('stock');
  const byKernel = new Map<string, { ms: number; n: number }>();
  let inKernels = 0;
  for (const k of info.kernels) {
    if (k.name === 'unnamed scope') continue; // custom-gradient scopes: their kernels are listed on their own
    const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
    const ms = Number(k.kernelTimeMs) || 0;
    e.ms += ms;
    e.n++;
    inKernels += ms;
    byKernel.set(k.name, e);
  }
  const top = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const gemm = ['BatchMatMul', 'RlhfAttention', 'RlhfAttentionGrad'].reduce((s, n) => s + (byKernel.get(n)?.ms ?? 0), 0);
  console.log(
    `  ${mode} step profiled by CPU time: ${info.kernels.length} kernel calls, ${inKernels.toFixed(0)} ms in kernels of a ` +
      `${profiled.toFixed(0)} ms profiled step (${stepMs.toFixed(0)} ms unprofiled); GEMM-bound kernels (BatchMatMul, ` +
      `RlhfAttention, RlhfAttentionGrad) ${gemm.toFixed(0)} ms = ${pct(gemm / profiled)} of the profiled step; the costliest (CPU ms, calls):`,
  );
  for (let i = 0; i < top.length && i < 14; i += 7) {
    console.log(`    ${top.slice(i, i + 7).map(([name, e]) => `${name} ${e.ms.toFixed(0)} (${e.n})`).join(', ')}`);
  }
  const rest = top.slice(14).reduce((s, [, e]) => s + e.ms, 0);
  console.log(`    ${top.length - Math.min(14, top.length)} other kernels ${rest.toFixed(0)} ms; outside kernels (tfjs bookkeeping, JS) ${(profiled - inKernels).toFixed(0)} ms`);
}

function benchSampling(): void {
  const model = initGpt(CFG, 3);
  const rng = new Rng(4);
  const newTokens = 32;
  console.log(`\nsampling with the KV cache (src/kernels/sampling.ts: ${newTokens} new tokens, prompts of 16-48 tokens, temperature 1, median of 3)`);
  console.log('                               stock      native  native/stock');
  for (const batch of [16, 64]) {
    const prompts = Array.from({ length: batch }, () => randomTokens(rng, 1, 16 + rng.int(33), CFG.vocabSize)[0]!);
    const opts = { maxNewTokens: newTokens, temperature: 1, topK: 0, topP: 1, eosId: -1, padId: 0, seed: 5 };
    const t = both(3, () => generate(model, prompts, opts));
    const perS = (ms: number): number => ((batch * newTokens) / ms) * 1000;
    const label = `batch ${batch} tokens/s`;
    console.log(`  ${`${label} (CPU)`.padEnd(26)} ${perS(t.stock.cpu).toFixed(0).padStart(9)} ${perS(t.native.cpu).toFixed(0).padStart(11)} ${ratio(t.stock.cpu, t.native.cpu).padStart(13)}`);
    console.log(`  ${`${label} (wall)`.padEnd(26)} ${perS(t.stock.wall).toFixed(0).padStart(9)} ${perS(t.native.wall).toFixed(0).padStart(11)} ${ratio(t.stock.wall, t.native.wall).padStart(13)}`);
  }
  disposeModel(model);
}

async function main(): Promise<void> {
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const info: BackendInfo = await initBackend('wasm', { native: 'off' });
  console.log(describeBackend(info));
  const status = use('fused');
  if (!status.active) {
    console.log(`native kernels unavailable (${status.reason ?? 'unknown reason'}): nothing to compare; run npm run build:native`);
    return;
  }
  console.log(describeBackend({ ...info, native: status }));
  use('stock');
  console.log(
    `machine: ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)} at start. It may be shared with other ` +
      'processes: the figures are medians of process CPU time (the kernels run on one thread), with wall-clock medians beside ' +
      'the main ones; where wall exceeds CPU the process was waiting for a core.',
  );
  const peak = sgemmPeak();
  console.log(`sgemm peak (the addon's raw ${loadAddon().addon!.blas} sgemm, 1024^3, 1 thread): ${f1(peak.cpu)} GFLOP/s by CPU time (${f1(peak.wall)} by wall)`);
  benchMatMul(peak.cpu);
  await benchTraining(peak.cpu, CFG, BATCH, ['stock', 'native', 'fused'], 5);
  await benchTraining(peak.cpu, SMALL, SMALL_BATCH, ['native', 'fused'], 3, '; stock wasm left out, about 6x slower');
  benchSampling();
  const c = process.cpuUsage(cpu0);
  console.log(
    `\ntotal: ${((performance.now() - started) / 1000).toFixed(0)} s wall, ${((c.user + c.system) / 1e6).toFixed(0)} s CPU; ` +
      `load average ${loadavg()[0]!.toFixed(1)} at the end`,
  );
}

await main();
