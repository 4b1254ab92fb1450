// Sampling throughput, batch by batch (what a generator did: every row waits for its batch's longest) against
// continuous batching (a row that ends takes the next prompt), side by side in one process on the same prompts and seeds.
// Run: node dist/bench/sampling.js [--rows N] [--slots N] [--max 32,128] [--mean-length L]
import * as tf from '@tensorflow/tfjs-core';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { describeBackend, initBackend } from '../src/kernels/backend.js';
import { generateContinuous } from '../src/kernels/continuous_sampling.js';
import { disposeModel, initGpt, type GptConfig, type GptModel } from '../src/kernels/gpt.js';
import { enableNativeKernels } from '../src/kernels/native/index.js';
import { Rng } from '../src/kernels/rng.js';
import { generate, type SampleOptions } from '../src/kernels/sampling.js';

/** The default model, with a context long enough for 128-token responses. */
const CFG: GptConfig = { vocabSize: 4096, contextLength: 192, layers: 4, dModel: 128, heads: 4, dropout: 0, positional: 'learned' };
const EOS = 3;

export interface SamplingRow {
  maxNewTokens: number;
  mode: 'batched' | 'continuous';
  rows: number;
  slots: number;
  tokens: number;
  meanLength: number;
  wallS: number;
  cpuS: number;
  tokensPerS: number;
  tokensPerCpuS: number;
}

/**
 * An untrained model whose eos comes with a fixed chance per step, 1 / meanLength, so that response lengths vary
 * geometrically as a trained policy's do (an untrained one almost never emits eos; every row would run to the cap).
 * Component 0 of the final LayerNorm's output is pinned to 1, and only the eos embedding reads it (with weight logit).
 */
function variedLengthModel(meanLength: number): GptModel {
  const m = initGpt(CFG, 17);
  const hazard = 1 / meanLength;
  const eosLogit = Math.log((hazard * (CFG.vocabSize - 1)) / (1 - hazard));
  tf.tidy(() => {
    const bias = tf.buffer([CFG.dModel], 'float32');
    bias.set(1, 0);
    m.params['ln_f.bias']!.assign(bias.toTensor());
    const gain = tf.buffer([CFG.dModel], 'float32');
    for (let i = 1; i < CFG.dModel; i++) gain.set(1, i);
    m.params['ln_f.weight']!.assign(gain.toTensor()); // component 0 leaves the LayerNorm as exactly 1
    const wte = m.params['wte']!;
    const add = tf.buffer([CFG.vocabSize, CFG.dModel], 'float32');
    add.set(eosLogit, EOS, 0);
    wte.assign(tf.add(wte, add.toTensor()));
  });
  return m;
}

function measure(f: () => number[][]): { wallS: number; cpuS: number; tokens: number; meanLength: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = f();
  const wallS = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const tokens = out.reduce((s, t) => s + t.length, 0);
  return { wallS, cpuS: (c.user + c.system) / 1e6, tokens, meanLength: tokens / out.length };
}

export function benchSampling(opts: { rows: number; slots: number; maxNewTokens: number[]; meanLength: number }): SamplingRow[] {
  const model = variedLengthModel(opts.meanLength);
  const rng = new Rng(5);
  const prompts = Array.from({ length: opts.rows }, () => Array.from({ length: 8 + Math.floor(rng.next() * 24) }, () => 4 + Math.floor(rng.next() * (CFG.vocabSize - 4))));
  const out: SamplingRow[] = [];
  for (const maxNewTokens of opts.maxNewTokens) {
    const so: SampleOptions = { maxNewTokens, temperature: 1, topK: 0, topP: 1, eosId: EOS, padId: 0, seed: 9 };
    const batched = (): number[][] => {
      const all: number[][] = [];
      for (let i = 0; i < prompts.length; i += opts.slots) all.push(...generate(model, prompts.slice(i, i + opts.slots), { ...so, seed: so.seed + i }).tokens);
      return all;
    };
    const continuous = (): number[][] => generateContinuous(model, prompts, so, { slots: opts.slots }).tokens;
    generate(model, prompts.slice(0, 4), { ...so, maxNewTokens: 4 }); // warm-up: kernel setup and first allocations
    // Alternate the two so that a change in machine load hits both alike.
    const sums = { batched: [0, 0, 0, 0], continuous: [0, 0, 0, 0] };
    for (let rep = 0; rep < 2; rep++) {
      for (const [mode, f] of [['batched', batched], ['continuous', continuous]] as const) {
        const m = measure(f);
        const s = sums[mode];
        s[0]! += m.wallS;
        s[1]! += m.cpuS;
        s[2]! += m.tokens;
        s[3]! += m.meanLength / 2;
      }
    }
    for (const mode of ['batched', 'continuous'] as const) {
      const [wallS, cpuS, tokens, meanLength] = sums[mode] as [number, number, number, number];
      out.push({ maxNewTokens, mode, rows: opts.rows, slots: opts.slots, tokens, meanLength, wallS, cpuS, tokensPerS: tokens / wallS, tokensPerCpuS: tokens / cpuS });
    }
  }
  disposeModel(model);
  return out;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : fallback;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const info = await initBackend('wasm');
  const native = enableNativeKernels();
  const rows = Number(arg('--rows', '128'));
  const slots = Number(arg('--slots', '32'));
  const maxNewTokens = arg('--max', '32,128').split(',').map(Number);
  const meanLength = Number(arg('--mean-length', '24'));
  const load0 = loadavg();
  const report = benchSampling({ rows, slots, maxNewTokens, meanLength });
  const load1 = loadavg();
  console.log(`sampling, ${describeBackend({ ...info, native })}; ${rows} prompts, ${slots} rows decoding at once (batched: ${rows / slots} batches of ${slots}); eos chance 1/${meanLength} per token; model ${JSON.stringify(CFG)}`);
  console.log(`load average before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  console.log('maxNew  mode         tokens  mean len   wall s   cpu s   tok/s  tok/cpu-s');
  for (const r of report) {
    console.log(`${String(r.maxNewTokens).padStart(6)}  ${r.mode.padEnd(11)} ${String(r.tokens).padStart(7)} ${r.meanLength.toFixed(1).padStart(9)} ${r.wallS.toFixed(2).padStart(8)} ${r.cpuS.toFixed(2).padStart(7)} ${r.tokensPerS.toFixed(0).padStart(7)} ${r.tokensPerCpuS.toFixed(0).padStart(10)}`);
  }
  for (const n of maxNewTokens) {
    const [b, c] = [report.find((r) => r.maxNewTokens === n && r.mode === 'batched')!, report.find((r) => r.maxNewTokens === n && r.mode === 'continuous')!];
    console.log(`maxNewTokens ${n}: continuous / batched tokens per CPU-second ${(c.tokensPerCpuS / b.tokensPerCpuS).toFixed(2)}x, per wall-second ${(c.tokensPerS / b.tokensPerS).toFixed(2)}x`);
  }
}
