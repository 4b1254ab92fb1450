// Model-size benchmark: DPO training-step and KV-cache sampling tokens/s, and the learner's peak memory, for the default
// tiny model, a GPT-2-small-sized (124M) and a SmolLM2-135M-sized (Llama family) random model. Each model runs in its own
// child process, so its peak resident memory is its own. LoRA (rank 16 on every projection) runs side by side with full
// fine-tuning: DPO step, learner peak memory, bytes of a published version and the time to encode it and apply it to a
// generator's model. Usage: node dist/bench/models.js [--steps N] [--only NAME] [--no-sample]
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DpoLearner } from '../src/actors/compute/learner_compute.js';
import { loadWeightsInto } from '../src/actors/compute/local_policy.js';
import { initLora } from '../src/kernels/lora.js';
import type { PairMsg } from '../src/streams/topics.js';
import { parseConfig } from '../src/config/index.js';
import { describeBackend, initBackend } from '../src/kernels/backend.js';
import { countParams, disposeModel, gptParamShapes, initGpt, type GptConfig } from '../src/kernels/gpt.js';
import { Rng } from '../src/kernels/rng.js';
import { generate } from '../src/kernels/sampling.js';

const MODELS: Record<string, GptConfig> = {
  default: { vocabSize: 4096, contextLength: 128, layers: 4, dModel: 128, heads: 4, dropout: 0, positional: 'learned' },
  'gpt2-124m': { arch: 'gpt2', vocabSize: 50257, contextLength: 1024, layers: 12, dModel: 768, heads: 12, dropout: 0, positional: 'learned', ffDim: 3072 },
  'smollm2-135m': {
    arch: 'llama', vocabSize: 49152, contextLength: 2048, layers: 30, dModel: 576, heads: 9, kvHeads: 3, ffDim: 1536, dropout: 0,
    positional: 'rotary', ropeTheta: 100000, normEps: 1e-5, tiedEmbeddings: true,
  },
};

/** Shape of the measured work: DPO pairs per step and their lengths; sampling rows, prompt length and new tokens. */
const PAIRS = 4;
const PROMPT = 32;
const RESPONSE = 32;
const SAMPLE_ROWS = 8;
/** learner.microBatch per model: the 100M+ models take the step one pair at a time to stay within the 4 GiB wasm heap. */
const MICRO: Record<string, number> = { default: 0, 'gpt2-124m': 1, 'smollm2-135m': 1 };
const NEW_TOKENS = 24;

interface Figures {
  name: string;
  params: number;
  microBatch: number;
  stepSeconds: number;
  stepCpuSeconds: number;
  trainTokensPerSecond: number;
  sampleTokensPerSecond: number;
  sampleCpuTokensPerSecond: number;
  peakRssMiB: number;
  backend: string;
}

function pairs(vocab: number, rng: Rng): PairMsg[] {
  const ids = (n: number) => Array.from({ length: n }, () => rng.int(vocab - 2));
  return Array.from({ length: PAIRS }, (_, i) => ({
    type: 'pair', v: 1, runId: 'bench', pairId: `p${i}`, promptId: `q${i}`, promptTokens: ids(PROMPT),
    chosen: { responseTokens: ids(RESPONSE), score: 1, policyVersion: 0 },
    rejected: { responseTokens: ids(RESPONSE), score: 0, policyVersion: 0 },
  }) as unknown as PairMsg);
}

type Train = Pick<Figures, 'params' | 'microBatch' | 'stepSeconds' | 'stepCpuSeconds' | 'trainTokensPerSecond' | 'peakRssMiB' | 'backend'>;
type Sample = Pick<Figures, 'sampleTokensPerSecond' | 'sampleCpuTokensPerSecond'> & { samplerPeakRssMiB: number };

type Adapter = 'none' | 'lora';
/** The adapter measured against full fine-tuning: rank 16, alpha 32, every projection. */
const LORA = { rank: 16, alpha: 32, dropout: 0, targetModules: [] as string[] };

type Publish = { bytes: number; encodeSeconds: number; applySeconds: number; publishPeakRssMiB: number };

/**
 * The learner's work: policy and AdamW state in one process (with a frozen reference model for full fine-tuning; with
 * LoRA the reference is the base with the adapter off), DPO steps. Then one version published: encoded by the learner
 * and applied to a generator's model (a second model in this process, as a generator thread holds one).
 */
async function measureTrain(name: string, steps: number, adapter: Adapter): Promise<Train & Publish> {
  const cfg = parseConfig({ learner: { adapter } });
  const info = await initBackend('wasm', { native: 'auto', nativeThreads: 1 });
  const gcfg = MODELS[name]!;
  const policy = initGpt(gcfg, 1);
  const lora = adapter === 'lora';
  if (lora) initLora(policy, { ...LORA, targetModules: gcfg.arch === 'llama' ? ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] : ['c_attn', 'c_proj', 'c_fc'] }, 1);
  const reference = lora ? undefined : initGpt(gcfg, 1);
  const learner = new DpoLearner({ policy, ...(reference ? { reference } : {}), config: { ...cfg.learner, batchSize: PAIRS, microBatch: MICRO[name] ?? 0 }, padId: gcfg.vocabSize - 1, seed: 1 });
  const rng = new Rng(2);
  const batch = pairs(gcfg.vocabSize, rng);
  await learner.step(batch, batch.map(() => 1)); // warm-up: kernel set-up and the optimizer's moments
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) await learner.step(batch, batch.map(() => 1));
  const stepSeconds = (performance.now() - t0) / 1000 / steps;
  const cu = process.cpuUsage(c0);
  const stepCpuSeconds = (cu.user + cu.system) / 1e6 / steps;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const e0 = performance.now();
  const bytes = await learner.exportWeights();
  const encodeSeconds = (performance.now() - e0) / 1000;
  // The generator holds the SFT base; a LoRA version is applied to it, a full version replaces it.
  const generator = reference ?? initGpt(gcfg, 1);
  const a0 = performance.now();
  loadWeightsInto(generator, bytes);
  const applySeconds = (performance.now() - a0) / 1000;
  const figures: Train & Publish = {
    params: lora ? Object.values(policy.lora!.params).reduce((s, p) => s + p.size, 0) : countParams(policy),
    microBatch: MICRO[name] ?? 0,
    stepSeconds,
    stepCpuSeconds,
    // Each step runs the policy forward and backward and the reference forward over chosen and rejected sequences.
    trainTokensPerSecond: (2 * PAIRS * (PROMPT + RESPONSE)) / stepSeconds,
    peakRssMiB,
    backend: describeBackend(info),
    bytes: bytes.byteLength,
    encodeSeconds,
    applySeconds,
    publishPeakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  await learner.close();
  disposeModel(policy);
  disposeModel(generator);
  return figures;
}

/** A generator's work: the policy alone, KV-cache sampling. */
async function measureSample(name: string): Promise<Sample> {
  await initBackend('wasm', { native: 'auto', nativeThreads: 1 });
  const gcfg = MODELS[name]!;
  const policy = initGpt(gcfg, 1);
  const rng = new Rng(2);
  const prompts = Array.from({ length: SAMPLE_ROWS }, () => Array.from({ length: PROMPT }, () => rng.int(gcfg.vocabSize - 2)));
  const opts = { maxNewTokens: NEW_TOKENS, temperature: 1, topK: 0, topP: 1, eosId: gcfg.vocabSize - 1, padId: gcfg.vocabSize - 1, seed: 3 };
  generate(policy, prompts.slice(0, 2), { ...opts, maxNewTokens: 2 });
  const s0 = process.cpuUsage();
  const g0 = performance.now();
  const out = generate(policy, prompts, opts);
  const gen = (performance.now() - g0) / 1000;
  const su = process.cpuUsage(s0);
  const produced = out.tokens.reduce((s, t) => s + t.length, 0);
  const figures: Sample = {
    sampleTokensPerSecond: produced / gen,
    sampleCpuTokensPerSecond: produced / ((su.user + su.system) / 1e6),
    samplerPeakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  disposeModel(policy);
  return figures;
}

/** Parameter count of a config without building the model. */
function countParamsOf(cfg: GptConfig): number {
  return Object.values(gptParamShapes(cfg)).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const steps = Number(arg('steps') ?? 2);
  const one = arg('one');
  if (one) {
    const phase = arg('phase');
    console.log(JSON.stringify(phase === 'sample' ? await measureSample(one) : await measureTrain(one, steps, phase === 'train-lora' ? 'lora' : 'none')));
    return;
  }
  const names = arg('only') ? [arg('only')!] : Object.keys(MODELS);
  const load0 = loadavg();
  console.log(`models benchmark: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'cpu'}), load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`DPO step: ${PAIRS} pairs of ${PROMPT}-token prompts + ${RESPONSE}-token responses, ${steps} timed steps after a warm-up; sampling: ${SAMPLE_ROWS} rows, ${NEW_TOKENS} new tokens, KV cache`);
  const child = <T>(name: string, phase: string): T | string => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--one', name, '--phase', phase, '--steps', String(steps)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) return `failed (exit ${r.status}: ${r.stderr.trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-2).join(' ')})`;
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
  };
  const lines: string[] = [];
  const loraLines: string[] = [];
  let backend = '';
  const mib = (b: number): string => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(0)} KiB`);
  for (const name of names) {
    const t = child<Train & Publish>(name, 'train');
    const tl = child<Train & Publish>(name, 'train-lora');
    for (const [label, r] of [['full', t], ['lora r16', tl]] as const) {
      loraLines.push(
        typeof r === 'string'
          ? `| ${name} | ${label} | ${r} | | | | | | |`
          : `| ${name} | ${label} | ${(r.params / 1e6).toFixed(2)}M | ${r.stepSeconds.toFixed(2)} | ${r.stepCpuSeconds.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} MiB | ${mib(r.bytes)} | ${(r.encodeSeconds * 1000).toFixed(0)} | ${(r.applySeconds * 1000).toFixed(0)} |`,
      );
    }
    const s = process.argv.includes('--no-sample') ? 'skipped (--no-sample)' : child<Sample>(name, 'sample');
    const params = `${(countParamsOf(MODELS[name]!) / 1e6).toFixed(1)}M`;
    const train = typeof t === 'string' ? `${MICRO[name] || 'whole batch'} | ${t} | | | |` : `${t.microBatch || 'whole batch'} | ${t.stepSeconds.toFixed(2)} | ${t.stepCpuSeconds.toFixed(2)} | ${t.trainTokensPerSecond.toFixed(0)} | ${t.peakRssMiB.toFixed(0)} MiB |`;
    const sample = typeof s === 'string' ? `${s} | | |` : `${s.sampleTokensPerSecond.toFixed(1)} | ${s.sampleCpuTokensPerSecond.toFixed(1)} | ${s.samplerPeakRssMiB.toFixed(0)} MiB |`;
    if (typeof t !== 'string') backend = t.backend;
    lines.push(`| ${name} | ${params} | ${train} ${sample}`);
  }
  console.log(backend);
  console.log('');
  console.log('| model | params | micro-batch | DPO step (wall s) | step (CPU s) | train tokens/s | learner peak RSS | sampling tokens/s (wall) | sampling tokens/s (CPU) | sampler peak RSS |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const l of lines) console.log(l);
  console.log('\nLoRA side by side with full fine-tuning (same model, same pairs; the learner process: policy + optimizer, and a reference model for full fine-tuning only):\n');
  console.log('| model | training | trained params | DPO step (wall s) | step (CPU s) | learner peak RSS | bytes per version | encode (ms) | apply on a generator model (ms) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const l of loraLines) console.log(l);
  console.log(`\nload average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

await main();
