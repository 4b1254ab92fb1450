// SFT scaling benchmark: per-step cost of candidate policy sizes with the native kernels (1 and 2 OpenBLAS threads), so the
// SFT budget (model size x steps) can be chosen from measurements. Prints CPU and wall ms per step and the machine's load.
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism, loadavg } from 'node:os';
import { AdamW } from '../src/kernels/adamw.js';
import { describeBackend, initBackend } from '../src/kernels/backend.js';
import { countParams, disposeModel, forwardLogits, initGpt, type GptConfig } from '../src/kernels/gpt.js';
import { lmLoss } from '../src/kernels/lm_loss.js';
import { enableNativeKernels } from '../src/kernels/native/index.js';
import { Rng } from '../src/kernels/rng.js';

/** SFT's step: sft.batchSize 32 windows of sft.pretrainLength 64 tokens. */
const BATCH = 32;
const LENGTH = 64;
const REPS = Number(process.env.SFT_BENCH_REPS ?? 4);
const SIZES: [number, number, number][] = [
  [4, 128, 4],
  [4, 192, 6],
  [6, 192, 6],
  [4, 256, 8],
  [6, 256, 8],
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = (): string => loadavg().map((x) => x.toFixed(1)).join(' ');

function stepTiming(cfg: GptConfig): { params: number; cpu: number; wall: number } {
  const model = initGpt(cfg, 1);
  const rng = new Rng(2);
  const seqs = Array.from({ length: BATCH }, () => Array.from({ length: LENGTH + 1 }, () => rng.int(cfg.vocabSize)));
  const input = tf.tensor2d(seqs.map((s) => s.slice(0, -1)), [BATCH, LENGTH], 'int32');
  const target = tf.tensor2d(seqs.map((s) => s.slice(1)), [BATCH, LENGTH], 'int32');
  const mask = tf.ones([BATCH, LENGTH]) as tf.Tensor2D;
  const opt = new AdamW({ lr: 1e-4, weightDecay: 0.01 });
  const names = new Map(Object.entries(model.params).map(([n, v]) => [v.name, n]));
  const step = (): void => {
    const { value, grads } = tf.variableGrads(() => lmLoss(forwardLogits(model, input), target, mask), Object.values(model.params));
    opt.step(model.params, Object.fromEntries(Object.entries(grads).map(([k, g]) => [names.get(k)!, g])));
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    step();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const params = countParams(model);
  opt.dispose();
  tf.dispose([input, target, mask]);
  disposeModel(model);
  return { params, cpu: median(cpu), wall: median(wall) };
}

async function main(): Promise<void> {
  console.log(describeBackend(await initBackend('wasm', { native: 'on' })));
  console.log(`machine: ${availableParallelism()} cores, load average ${load()} at start; SFT step = ${BATCH} x ${LENGTH} tokens, vocabulary 4096, context 128; median of ${REPS}`);
  console.log('layers d_model heads  M params  threads  ms/step CPU  ms/step wall');
  for (const [layers, dModel, heads] of SIZES) {
    for (const threads of [1, 2]) {
      enableNativeKernels({ threads });
      const t = stepTiming({ vocabSize: 4096, contextLength: 128, layers, dModel, heads, dropout: 0, positional: 'learned' });
      console.log(`${String(layers).padStart(6)} ${String(dModel).padStart(7)} ${String(heads).padStart(5)} ${(t.params / 1e6).toFixed(2).padStart(9)} ${String(threads).padStart(8)} ${t.cpu.toFixed(0).padStart(12)} ${t.wall.toFixed(0).padStart(13)}`);
    }
  }
  console.log(`load average ${load()} at the end`);
}

await main();
