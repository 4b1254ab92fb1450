// Kernel benchmark: matMul GFLOP/s, training-step throughput and KV-cache sampling speed of the default small model.
import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../src/kernels/adamw.js';
import { describeBackend, initBackend } from '../src/kernels/backend.js';
import { countParams, disposeModel, forwardLogits, initGpt, type GptConfig, type GptModel } from '../src/kernels/gpt.js';
import { lmLoss } from '../src/kernels/lm_loss.js';
import { matMul } from '../src/kernels/matmul.js';
import { Rng } from '../src/kernels/rng.js';
import { generate } from '../src/kernels/sampling.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Wall-clock medians of every timing, kept to print how contended the machine was. */
const wallVsCpu: [number, number][] = [];

/**
 * Median milliseconds of f over reps runs after one warm-up. The figure is process CPU time: the wasm backend runs on
 * one thread, so on a shared machine CPU time is what the same run takes alone, while wall time depends on other load.
 */
function timeMs(reps: number, f: () => void): number {
  f(); // warm-up: kernel setup and first-touch allocation
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    wall.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  wallVsCpu.push([median(wall), median(cpu)]);
  return median(cpu);
}

/**
 * Waits for a result by reading it, then frees it. Not tf.tidy(() => t.dataSync()): tidy walks its return value looking
 * for tensors, element by element for a typed array, which costs seconds for a million floats.
 */
function readAndDispose(t: tf.Tensor): void {
  t.dataSync();
  t.dispose();
}

function benchMatMul(): number {
  const shapes: [number, number, number][] = [
    [16 * 128, 128, 512],
    [2048, 512, 128],
    [256, 256, 256],
    [512, 512, 512],
    [2048, 128, 4096],
  ];
  let best = 0;
  console.log('matMul (plain, 2-D; median of 7):');
  for (const [m, k, n] of shapes) {
    const a = tf.randomNormal([m, k], 0, 1, 'float32', 1);
    const b = tf.randomNormal([k, n], 0, 1, 'float32', 2);
    const ms = timeMs(7, () => readAndDispose(matMul(a, b)));
    const gflops = (2 * m * k * n) / ms / 1e6;
    best = Math.max(best, gflops);
    console.log(`  [${m},${k}]x[${k},${n}]  ${ms.toFixed(2)} ms  ${gflops.toFixed(1)} GFLOP/s`);
    tf.dispose([a, b]);
  }
  const q = tf.randomNormal([16, 4, 128, 32], 0, 1, 'float32', 3);
  const kT = tf.randomNormal([16, 4, 32, 128], 0, 1, 'float32', 4);
  const ms = timeMs(7, () => readAndDispose(matMul(q, kT)));
  console.log(`  batched attention scores [16,4,128,32]x[16,4,32,128]  ${ms.toFixed(2)} ms  ${((2 * 64 * 128 * 32 * 128) / ms / 1e6).toFixed(1)} GFLOP/s`);
  tf.dispose([q, kT]);
  console.log(`  best 2-D: ${best.toFixed(1)} GFLOP/s`);
  return best;
}

function randomTokens(rng: Rng, b: number, t: number, v: number): number[][] {
  return Array.from({ length: b }, () => Array.from({ length: t }, () => rng.int(v)));
}

/** Splits one step into forward, forward+backward and the optimizer update, and lists the costliest kernels. */
async function profileStep(model: GptModel, input: tf.Tensor2D, target: tf.Tensor2D, mask: tf.Tensor2D, opt: AdamW): Promise<void> {
  const vars = Object.values(model.params);
  const names = new Map(Object.entries(model.params).map(([n, v]) => [v.name, n]));
  const fwd = timeMs(3, () => readAndDispose(tf.tidy(() => lmLoss(forwardLogits(model, input), target, mask))));
  let grads: Record<string, tf.Tensor> = {};
  const fb = timeMs(3, () => {
    tf.dispose(Object.values(grads));
    const r = tf.variableGrads(() => lmLoss(forwardLogits(model, input), target, mask), vars);
    grads = Object.fromEntries(Object.entries(r.grads).map(([k, g]) => [names.get(k)!, g]));
    r.value.dispose();
    Object.values(grads)[0]!.dataSync();
  });
  const upd = timeMs(3, () => {
    opt.step(model.params, grads);
    vars[0]!.dataSync();
  });
  tf.dispose(Object.values(grads));
  console.log(`  profile: forward+loss ${fwd.toFixed(0)} ms, forward+backward ${fb.toFixed(0)} ms, AdamW update ${upd.toFixed(0)} ms`);
  const info = await tf.profile(() => {
    const r = tf.variableGrads(() => lmLoss(forwardLogits(model, input), target, mask), vars);
    tf.dispose([r.value, ...Object.values(r.grads)]);
  });
  const byKernel = new Map<string, { ms: number; n: number }>();
  for (const k of info.kernels) {
    const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs) || 0;
    e.n++;
    byKernel.set(k.name, e);
  }
  const top = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 10);
  console.log(`  kernels in forward+backward (${info.kernels.length} calls), costliest:`);
  for (const [name, e] of top) console.log(`    ${name.padEnd(16)} ${e.ms.toFixed(1).padStart(7)} ms  (${e.n} calls)`);
}

async function benchTraining(bestGflops: number): Promise<void> {
  const cfg: GptConfig = { vocabSize: 4096, contextLength: 128, layers: 4, dModel: 128, heads: 4, dropout: 0, positional: 'learned' };
  const batch = 16;
  const model = initGpt(cfg, 1);
  const params = countParams(model);
  const rng = new Rng(2);
  const seqs = randomTokens(rng, batch, cfg.contextLength + 1, cfg.vocabSize);
  const input = tf.tensor2d(seqs.map((s) => s.slice(0, -1)), [batch, cfg.contextLength], 'int32');
  const target = tf.tensor2d(seqs.map((s) => s.slice(1)), [batch, cfg.contextLength], 'int32');
  const mask = tf.ones([batch, cfg.contextLength]) as tf.Tensor2D;
  const opt = new AdamW({ lr: 1e-3, weightDecay: 0.01 });
  const vars = Object.values(model.params);
  const names = new Map(Object.entries(model.params).map(([n, v]) => [v.name, n]));
  const step = (): void => {
    const { value, grads } = tf.variableGrads(() => lmLoss(forwardLogits(model, input), target, mask), vars);
    const named = Object.fromEntries(Object.entries(grads).map(([k, g]) => [names.get(k)!, g]));
    opt.step(model.params, named);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  step(); // the first step also allocates the AdamW moments, which are state, not a leak
  const before = tf.memory().numTensors;
  const ms = timeMs(5, step);
  const leaked = tf.memory().numTensors - before;
  const tokens = batch * cfg.contextLength;
  const flops = 6 * params * tokens + 12 * cfg.layers * batch * cfg.contextLength * cfg.contextLength * cfg.dModel;
  const gflops = flops / ms / 1e6;
  console.log(
    `training (AdamW from src/kernels/adamw.ts; ${cfg.layers} layers, d_model ${cfg.dModel}, ${cfg.heads} heads, ` +
      `context ${cfg.contextLength}, vocab ${cfg.vocabSize}, batch ${batch}, ${(params / 1e6).toFixed(2)} M params):`,
  );
  console.log(
    `  ${ms.toFixed(0)} ms/step  ${((tokens / ms) * 1000).toFixed(0)} tokens/s  ${gflops.toFixed(2)} GFLOP/s achieved ` +
      `(${(flops / 1e9).toFixed(1)} GFLOP/step)  = ${(gflops / bestGflops).toFixed(2)} x best matMul  (tensors leaked per run: ${leaked})`,
  );
  await profileStep(model, input, target, mask, opt);
  opt.dispose();
  tf.dispose([input, target, mask]);
  disposeModel(model);
}

function benchSampling(bestGflops: number): void {
  const cfg: GptConfig = { vocabSize: 4096, contextLength: 128, layers: 4, dModel: 128, heads: 4, dropout: 0, positional: 'learned' };
  const model = initGpt(cfg, 3);
  const params = countParams(model);
  const rng = new Rng(4);
  const newTokens = 32;
  console.log(`sampling with the KV cache (${newTokens} new tokens, prompts of 16-48 tokens, no eos):`);
  for (const batch of [16, 64]) {
    const prompts = Array.from({ length: batch }, () => randomTokens(rng, 1, 16 + rng.int(33), cfg.vocabSize)[0]!);
    const opts = { maxNewTokens: newTokens, temperature: 1, topK: 0, topP: 1, eosId: -1, padId: 0, seed: 5 };
    const ms = timeMs(2, () => generate(model, prompts, opts));
    const tokPerS = (batch * newTokens) / (ms / 1000);
    // Per new token: 2 * params for the weight products plus attention over about 64 cached positions.
    const flopsPerToken = 2 * params + 4 * cfg.layers * cfg.dModel * 64;
    const gflops = (tokPerS * flopsPerToken) / 1e9;
    console.log(
      `  batch ${batch}: ${ms.toFixed(0)} ms  ${tokPerS.toFixed(0)} tokens/s  ~${gflops.toFixed(2)} GFLOP/s  = ${(gflops / bestGflops).toFixed(2)} x best matMul`,
    );
  }
  disposeModel(model);
}

async function main(): Promise<void> {
  const info = await initBackend('auto');
  console.log(describeBackend(info));
  console.log('times are process CPU milliseconds (median); see the wall/CPU ratio at the end for machine contention');
  const best = benchMatMul();
  await benchTraining(best);
  benchSampling(best);
  const wall = wallVsCpu.reduce((a, [w]) => a + w, 0);
  const cpu = wallVsCpu.reduce((a, [, c]) => a + c, 0);
  console.log(`wall/CPU time ratio over all timings: ${(wall / cpu).toFixed(2)} (1.0 = the process had a core to itself)`);
}

await main();
