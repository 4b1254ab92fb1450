// Kernel benchmark, stock wasm against the native kernels in one process: matMul GFLOP/s, the AdamW training step of the
// default model, and KV-cache sampling, each native figure as a ratio to the stock one and a fraction of the SGEMM peak.
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism, loadavg } from 'node:os';
import { AdamW } from '../src/kernels/adamw.js';
import { describeBackend, initBackend, type BackendInfo } from '../src/kernels/backend.js';
import { countParams, disposeModel, forwardLogits, initGpt, type GptConfig, type GptModel } from '../src/kernels/gpt.js';
import { lmLoss } from '../src/kernels/lm_loss.js';
import { matMul } from '../src/kernels/matmul.js';
import { disableNativeKernels, enableNativeKernels, loadAddon, type NativeKernelStatus } from '../src/kernels/native/index.js';
import { Rng } from '../src/kernels/rng.js';
import { lmTrainingStep, median, time, type Timing } from './harness.js';
import { generate } from '../src/kernels/sampling.js';

/** The default model of config/default.yaml. */
const CFG: GptConfig = { vocabSize: 4096, contextLength: 128, layers: 4, dModel: 128, heads: 4, dropout: 0, positional: 'learned' };
const BATCH = 16;

type Mode = 'stock' | 'native';

/** Switches the wasm backend's kernels; the native ones with one OpenBLAS thread, as the actors run them. */
function use(mode: Mode): NativeKernelStatus {
  return mode === 'native' ? enableNativeKernels({ threads: 1 }) : disableNativeKernels();
}

/** Times f with the stock kernels, then with the native ones (the same inputs and the same process). */
function both(reps: number, f: () => void): Record<Mode, Timing> {
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

/** One AdamW training step of the default model; returns the step and a leak count per mode. */
function benchTraining(peak: number): void {
  const model = initGpt(CFG, 1);
  const params = countParams(model);
  const { step, input, target, mask, dispose } = lmTrainingStep(model, BATCH, CFG.contextLength);
  step(); // allocates the AdamW moments: state, not a leak
  const leaks: Record<Mode, number> = { stock: 0, native: 0 };
  const counted = (mode: Mode) => (): void => {
    const before = tf.memory().numTensors;
    step();
    leaks[mode] += tf.memory().numTensors - before;
  };
  use('stock');
  const stock = time(5, counted('stock'));
  use('native');
  const native = time(5, counted('native'));
  use('stock');
  const tokens = BATCH * CFG.contextLength;
  // 6 N per token for the weight products (forward and backward) plus the attention scores and mixing.
  const flop = 6 * params * tokens + 12 * CFG.layers * BATCH * CFG.contextLength ** 2 * CFG.dModel;
  console.log(
    `\ntraining step, AdamW (${CFG.layers} layers, d_model ${CFG.dModel}, ${CFG.heads} heads, context ${CFG.contextLength}, ` +
      `vocab ${CFG.vocabSize}, batch ${BATCH}, ${(params / 1e6).toFixed(2)} M params, ${(flop / 1e9).toFixed(1)} GFLOP/step; median of 5)`,
  );
  console.log('                               stock      native  native/stock');
  const row = (label: string, s: string, n: string, r: string): void => console.log(`  ${label.padEnd(26)} ${s.padStart(9)} ${n.padStart(11)} ${r.padStart(13)}`);
  row('ms/step (CPU)', stock.cpu.toFixed(0), native.cpu.toFixed(0), ratio(stock.cpu, native.cpu));
  row('ms/step (wall)', stock.wall.toFixed(0), native.wall.toFixed(0), ratio(stock.wall, native.wall));
  row('tokens/s (CPU)', ((tokens / stock.cpu) * 1000).toFixed(0), ((tokens / native.cpu) * 1000).toFixed(0), ratio(stock.cpu, native.cpu));
  const gs = flop / stock.cpu / 1e6;
  const gn = flop / native.cpu / 1e6;
  row('GFLOP/s achieved (CPU)', f1(gs), f1(gn), ratio(gn, gs));
  row('of the sgemm peak', pct(gs / peak), pct(gn / peak), '');
  row('tensors leaked (5 steps)', String(leaks.stock), String(leaks.native), '');
  dispose();
  disposeModel(model);
}

async function profileNativeStep(model: GptModel, input: tf.Tensor2D, target: tf.Tensor2D, mask: tf.Tensor2D): Promise<void> {
  use('native');
  const info = await tf.profile(() => {
    const r = tf.variableGrads(() => lmLoss(forwardLogits(model, input), target, mask), Object.values(model.params));
    tf.dispose([r.value, ...Object.values(r.grads)]);
  });
  use('stock');
  const byKernel = new Map<string, { ms: number; n: number }>();
  for (const k of info.kernels) {
    if (k.name === 'unnamed scope') continue; // custom-gradient scopes: their kernels are listed on their own
    const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs) || 0;
    e.n++;
    byKernel.set(k.name, e);
  }
  const top = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8);
  console.log(`  native forward+backward, costliest kernels (wall ms, one profiled step, ${info.kernels.length} kernel calls):`);
  console.log(`    ${top.map(([name, e]) => `${name} ${e.ms.toFixed(0)} (${e.n})`).join(', ')}`);
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
  const status = use('native');
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
  benchTraining(peak.cpu);
  {
    const model = initGpt(CFG, 1);
    const batch = lmTrainingStep(model, BATCH, CFG.contextLength);
    await profileNativeStep(model, batch.input, batch.target, batch.mask);
    batch.dispose();
    disposeModel(model);
  }
  benchSampling();
  const c = process.cpuUsage(cpu0);
  console.log(
    `\ntotal: ${((performance.now() - started) / 1000).toFixed(0)} s wall, ${((c.user + c.system) / 1e6).toFixed(0)} s CPU; ` +
      `load average ${loadavg()[0]!.toFixed(1)} at the end`,
  );
}

await main();
