// The OpenBLAS addon against the portable (no OpenBLAS) one, side by side: the default model's AdamW training step and
// the sgemm products that step runs, at 1 and at every core's worth of GEMM threads. Each build runs in its own
// child process (an addon is loaded once per process); the rounds alternate so that a change in load hits both alike.
// Build the portable one first: node scripts/build_native.mjs --portable. Run: node dist/bench/native_builds.js [--rounds N]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initBackend } from '../src/kernels/backend.js';
import { disposeModel, initGpt, type GptConfig } from '../src/kernels/gpt.js';
import { enableNativeKernels, loadAddon } from '../src/kernels/native/index.js';
import { Rng } from '../src/kernels/rng.js';
import { lmTrainingStep, median, timeCalls } from './harness.js';

const CFG: GptConfig = { vocabSize: 4096, contextLength: 128, layers: 4, dModel: 128, heads: 4, dropout: 0, positional: 'learned' };
const BATCH = 16;
/**
 * The products of the benchmark model's training step (batch 16 x context 128 = 2048 rows, d_model 128, vocab 4096):
 * [label, m, n, k, transA, transB], forward and backward, and one attention block of the fused kernel.
 */
const SHAPES: [string, number, number, number, boolean, boolean][] = [
  ['qkv      x W', 2048, 384, 128, false, false],
  ['qkv      dy W^T', 2048, 128, 384, false, true],
  ['qkv      x^T dy', 128, 384, 2048, true, false],
  ['mlp fc   x W', 2048, 512, 128, false, false],
  ['mlp proj x W', 2048, 128, 512, false, false],
  ['mlp proj dy W^T', 2048, 512, 128, false, true],
  ['mlp proj x^T dy', 512, 128, 2048, true, false],
  ['logits   h E^T', 2048, 4096, 128, false, true],
  ['logits   dy E', 2048, 128, 4096, false, false],
  ['logits   dy^T h', 4096, 128, 2048, true, false],
  ['attn     q k^T', 64, 128, 32, false, true],
  ['attn     p v', 64, 32, 128, false, false],
  ['square   512^3', 512, 512, 512, false, false],
];

interface ChildReport {
  blas: string;
  threads: number;
  stepsPerS: number;
  stepsPerCpuS: number;
  /** GFLOP/s by process CPU time (all GEMM threads together) and by wall-clock. */
  gflops: Record<string, number>;
  gflopsWall: Record<string, number>;
}


/** Runs in the child: times the training step and the GEMM shapes with the addon RLHF_NATIVE_ADDON names. */
async function child(threads: number): Promise<ChildReport> {
  await initBackend('wasm', { native: 'off' });
  const st = enableNativeKernels({ threads });
  if (!st.active) throw new Error(`native kernels unavailable: ${st.reason}`);
  const model = initGpt(CFG, 1);
  const { step, dispose } = lmTrainingStep(model, BATCH, CFG.contextLength);
  step();
  const { cpu, wall } = timeCalls(5, step);
  dispose();
  disposeModel(model);
  const rng = new Rng(2);
  const addon = loadAddon().addon!;
  const gflops: Record<string, number> = {};
  const gflopsWall: Record<string, number> = {};
  for (const [label, m, n, k, ta, tb] of SHAPES) {
    const a = Float32Array.from({ length: m * k }, () => rng.next() - 0.5);
    const b = Float32Array.from({ length: k * n }, () => rng.next() - 0.5);
    const c = new Float32Array(m * n);
    const flop = 2 * m * n * k;
    const inner = Math.max(1, Math.round(2e8 / flop)); // about 2-3 ms per timed call at these speeds
    const call = (): void => {
      for (let i = 0; i < inner; i++) addon.sgemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n);
    };
    call();
    const t = timeCalls(9, call);
    const key = `${label} [${m}x${k}]x[${k}x${n}]`;
    gflops[key] = (flop * inner) / median(t.cpu) / 1e6;
    gflopsWall[key] = (flop * inner) / median(t.wall) / 1e6;
  }
  return { blas: addon.blas, threads: st.threads, stepsPerS: 1000 / median(wall), stepsPerCpuS: 1000 / median(cpu), gflops, gflopsWall };
}

function runChild(addonPath: string, threads: number): ChildReport {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', String(threads)], {
    env: { ...process.env, RLHF_NATIVE_ADDON: addonPath },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child for ${addonPath} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ChildReport;
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) {
    console.log(JSON.stringify(await child(Number(process.argv[process.argv.indexOf('--child') + 1]))));
    return;
  }
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const builds = { openblas: resolve(root, 'native/build/Release/rlhf_native.node'), portable: resolve(root, 'native/build-portable/rlhf_native.node') };
  for (const [name, p] of Object.entries(builds)) {
    if (!existsSync(p)) throw new Error(`the ${name} addon is missing at ${p}; build it with node scripts/build_native.mjs${name === 'portable' ? ' --portable' : ''}`);
  }
  const i = process.argv.indexOf('--rounds');
  const rounds = i > 0 ? Number(process.argv[i + 1]) : 2;
  const cores = availableParallelism();
  console.log(`OpenBLAS vs portable addon; ${cores} cores; load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const threads of [...new Set([1, cores])]) {
    const got: Record<'openblas' | 'portable', ChildReport[]> = { openblas: [], portable: [] };
    for (let r = 0; r < rounds; r++) for (const name of ['openblas', 'portable'] as const) got[name].push(runChild(builds[name], threads));
    const best = (name: 'openblas' | 'portable', f: (c: ChildReport) => number): number => Math.max(...got[name].map(f));
    console.log(`\n${threads} GEMM thread(s) (best of ${rounds} alternating rounds; load average now ${loadavg()[0]!.toFixed(2)})`);
    console.log(`${''.padEnd(50)} openblas   portable  portable/openblas`);
    const row = (label: string, f: (c: ChildReport) => number): void => {
      const o = best('openblas', f);
      const p = best('portable', f);
      console.log(`  ${label.padEnd(48)} ${o.toFixed(2).padStart(9)} ${p.toFixed(2).padStart(10)} ${`${((p / o) * 100).toFixed(0)}%`.padStart(18)}`);
    };
    row('training steps/s (wall)', (c) => c.stepsPerS);
    row('training steps/CPU-s', (c) => c.stepsPerCpuS);
    // One thread: by CPU time, which a shared machine disturbs least; more threads: by wall-clock, what they are for.
    const by = threads === 1 ? 'CPU' : 'wall';
    console.log(`  sgemm GFLOP/s by ${by} time, the step's products:`);
    const shares: number[] = [];
    for (const shape of Object.keys(got.openblas[0]!.gflops)) {
      const f = (c: ChildReport): number => (threads === 1 ? c.gflops : c.gflopsWall)[shape]!;
      row(`  ${shape}`, f);
      shares.push(best('portable', f) / best('openblas', f));
    }
    console.log(`  portable/openblas over these products: min ${(100 * Math.min(...shares)).toFixed(0)}%, median ${(100 * median(shares)).toFixed(0)}%`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
