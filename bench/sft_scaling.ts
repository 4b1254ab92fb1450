// SFT scaling benchmark: per-step cost of candidate policy sizes with the native kernels (1 and 2 OpenBLAS threads), so the
// SFT budget (model size x steps) can be chosen from measurements. Prints CPU and wall ms per step and the machine's load.
import { availableParallelism } from 'node:os';
import { describeBackend, initBackend } from '../src/kernels/backend.js';
import { countParams, disposeModel, initGpt, type GptConfig } from '../src/kernels/gpt.js';
import { enableNativeKernels } from '../src/kernels/native/index.js';
import { lmTrainingStep, loadAverages, median, timeCalls } from './harness.js';

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


function stepTiming(cfg: GptConfig): { params: number; cpu: number; wall: number } {
  const model = initGpt(cfg, 1);
  const { step, dispose } = lmTrainingStep(model, BATCH, LENGTH);
  step();
  const { cpu, wall } = timeCalls(REPS, step);
  const params = countParams(model);
  dispose();
  disposeModel(model);
  return { params, cpu: median(cpu), wall: median(wall) };
}

async function main(): Promise<void> {
  console.log(describeBackend(await initBackend('wasm', { native: 'on' })));
  console.log(`machine: ${availableParallelism()} cores, load average ${loadAverages()} at start; SFT step = ${BATCH} x ${LENGTH} tokens, vocabulary 4096, context 128; median of ${REPS}`);
  console.log('layers d_model heads  M params  threads  ms/step CPU  ms/step wall');
  for (const [layers, dModel, heads] of SIZES) {
    for (const threads of [1, 2]) {
      enableNativeKernels({ threads });
      const t = stepTiming({ vocabSize: 4096, contextLength: 128, layers, dModel, heads, dropout: 0, positional: 'learned' });
      console.log(`${String(layers).padStart(6)} ${String(dModel).padStart(7)} ${String(heads).padStart(5)} ${(t.params / 1e6).toFixed(2).padStart(9)} ${String(threads).padStart(8)} ${t.cpu.toFixed(0).padStart(12)} ${t.wall.toFixed(0).padStart(13)}`);
    }
  }
  console.log(`load average ${loadAverages()} at the end`);
}

await main();
