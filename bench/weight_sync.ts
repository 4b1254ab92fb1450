// Weight sync and weight memory inside one process: how long a published version takes to reach the generator and
// evaluator threads over the in-process bus (the store's put, then each thread's get + load, as generator_weight_load_seconds
// times it), and the peak resident memory of a process whose policy threads start from one set of base weights, with
// the weights handed to each thread as a private copy or as one SharedArrayBuffer.
// Run: node dist/bench/weight_sync.js [--versions N] [--threads N] [--memory-model default|gpt2-124m] [--layouts copy:N,shared:M]
//        [--skip-sync] [--skip-memory]
// --layouts: which memory layouts to measure, each with its thread count (default copy and shared, --threads each); a
// one-process LoRA run with one generator started 4 policy threads (generator, evaluator, reference, sync check) each
// with a copy, and now starts 2 (generator, evaluator with the other two as views) from one shared base: copy:4,shared:2.
// (npm run bench:weight-sync)
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkFlags, flag, parseArgs, UsageError } from '../src/cli/args.js';
import { encodeWeights } from '../src/actors/compute/local_policy.js';
import { sharedBytes } from '../src/streams/shared_memory.js';
import { WorkerPolicy } from '../src/actors/compute/worker_policy.js';
import { parseConfig } from '../src/config/index.js';
import { initBackend } from '../src/kernels/backend.js';
import { disposeModel, initGpt, type GptConfig } from '../src/kernels/gpt.js';
import { InProcessBus } from '../src/streams/inprocess/bus.js';
import { loadAverages, median } from './harness.js';

const MODELS: Record<string, GptConfig> = {
  default: { vocabSize: 4096, contextLength: 128, layers: 4, dModel: 128, heads: 4, dropout: 0, positional: 'learned' },
  'gpt2-124m': { arch: 'gpt2', vocabSize: 50257, contextLength: 1024, layers: 12, dModel: 768, heads: 12, dropout: 0, positional: 'learned', ffDim: 3072 },
};
const SPECIAL = { eos: 1, pad: 0 };

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const fmt = (xs: number[]): string => `median ${median(xs).toFixed(2)} ms, mean ${mean(xs).toFixed(2)}, max ${Math.max(...xs).toFixed(2)}`;

/** The process's peak resident set (VmHWM: every thread's memory, wasm heaps included), MiB. */
function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/**
 * The learner publishes `versions` versions of the default model into the in-process bus's store; after each, every
 * thread fetches and loads it (what a generator does when it hears of a version). Times the put, each thread's
 * get + load, and publish-to-last-thread-loaded.
 */
async function sync(versions: number, threads: number): Promise<void> {
  const cfg = parseConfig({});
  const gpt = MODELS.default!;
  const info = await initBackend('auto', { native: 'auto' });
  const model = initGpt(gpt, 1);
  const initial = encodeWeights(model);
  const bus = new InProcessBus(cfg.bus, 'bench-sync', { log: () => {} });
  const ports = await Promise.all(Array.from({ length: threads }, () => WorkerPolicy.create({ gpt, weights: initial, special: SPECIAL, backend: 'auto', native: 'auto' })));
  const put: number[] = [];
  const load: number[] = [];
  const reach: number[] = [];
  try {
    for (let v = 1; v <= versions; v++) {
      const bytes = encodeWeights(model);
      const t0 = performance.now();
      await bus.weights.put(v, v, bytes);
      put.push(performance.now() - t0);
      await Promise.all(
        ports.map(async (p) => {
          const t1 = performance.now();
          const blob = await bus.weights.get(v);
          await p.loadWeights(v, blob!.bytes);
          load.push(performance.now() - t1);
        }),
      );
      reach.push(performance.now() - t0);
    }
  } finally {
    for (const p of ports) await p.close();
    await bus.close();
    disposeModel(model);
  }
  console.log(`sync: default model, ${(initial.length / 2 ** 20).toFixed(2)} MiB a version, ${versions} versions, ${threads} threads, backend ${info.active}${info.native.active ? ' + native' : ''}`);
  console.log(`  put (learner side):                 ${fmt(put)}`);
  console.log(`  get + load, per thread:              ${fmt(load)}`);
  console.log(`  publish -> every thread loaded:      ${fmt(reach)}`);
}

/** In a child process: `threads` policy threads of `model` started from one encoded base, each given a copy or the shared bytes. */
async function memoryChild(model: string, threads: number, mode: 'copy' | 'shared'): Promise<void> {
  await initBackend('auto', { native: 'auto' });
  const gpt = MODELS[model]!;
  const m = initGpt(gpt, 1);
  const plain = encodeWeights(m);
  disposeModel(m);
  const weights = mode === 'shared' ? sharedBytes(plain) : plain;
  const before = peakRssMiB();
  const t0 = performance.now();
  const ports: WorkerPolicy[] = [];
  // One after the other, as a run starts them, so the peak is that of the threads holding their models.
  for (let i = 0; i < threads; i++) ports.push(await WorkerPolicy.create({ gpt, weights, special: SPECIAL, backend: 'auto', native: 'auto' }));
  const startMs = performance.now() - t0;
  const peak = peakRssMiB();
  for (const p of ports) await p.close();
  process.send!({ bytes: plain.length, before, peak, startMs });
}

async function memory(model: string, layouts: { mode: 'copy' | 'shared'; threads: number }[]): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  console.log(`memory: ${model} model, policy threads started from one encoded base (peak RSS of the process, every thread included)`);
  for (const { mode, threads } of layouts) {
    const child = fork(self, ['--child', mode, '--memory-model', model, '--threads', String(threads)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const r = await new Promise<{ bytes: number; before: number; peak: number; startMs: number }>((resolve, reject) => {
      child.on('message', (msg) => resolve(msg as { bytes: number; before: number; peak: number; startMs: number }));
      child.on('exit', (code) => reject(new Error(`memory child (${mode}) exited with ${code}`)));
    });
    console.log(
      `  ${threads} threads, ${mode === 'copy' ? 'a copy per thread ' : 'one shared buffer '}: base ${(r.bytes / 2 ** 20).toFixed(0)} MiB, peak RSS ${r.before.toFixed(0)} MiB before the threads, ${r.peak.toFixed(0)} MiB with them ` +
        `(+${(r.peak - r.before).toFixed(0)} MiB, ${((r.peak - r.before) / threads).toFixed(0)} MiB a thread); threads started in ${(r.startMs / 1000).toFixed(1)} s`,
    );
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  checkFlags(args, ['versions', 'threads', 'memory-model', 'skip-sync', 'skip-memory', 'child', 'layouts'], 'bench weight_sync');
  const num = (name: string, dflt: number): number => {
    const v = flag(args, name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer; got ${JSON.stringify(v)}`);
    return n;
  };
  const model = String(flag(args, 'memory-model') ?? 'default');
  if (!(model in MODELS)) throw new UsageError(`--memory-model must be one of ${Object.keys(MODELS).join(', ')}; got ${JSON.stringify(model)}`);
  const child = flag(args, 'child');
  if (child !== undefined) {
    if (child !== 'copy' && child !== 'shared') throw new UsageError(`--child must be copy or shared; got ${JSON.stringify(child)}`);
    return memoryChild(model, num('threads', 3), child);
  }
  console.log(`load average at start: ${loadAverages()}`);
  if (flag(args, 'skip-sync') === undefined) await sync(num('versions', 20), num('threads', 2));
  const threads = num('threads', 3);
  const layouts = (flag(args, 'layouts') ?? `copy:${threads},shared:${threads}`).split(',').map((l) => {
    const [mode, n] = l.split(':');
    if ((mode !== 'copy' && mode !== 'shared') || !Number.isInteger(Number(n)) || Number(n) < 1) throw new UsageError(`--layouts takes copy:N or shared:N items, comma-separated; got ${JSON.stringify(l)}`);
    return { mode: mode as 'copy' | 'shared', threads: Number(n) };
  });
  if (flag(args, 'skip-memory') === undefined) await memory(model, layouts);
  console.log(`load average at end: ${loadAverages()}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof UsageError ? err.message : err);
  process.exit(1);
});
