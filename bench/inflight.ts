// In-flight weight updates and staleness at toy scale: tiny real GPT policies in worker threads, the DPO learner and a
// rule-based proxy (which is also the gold judge) streaming in one process. Prints policy lag (mean, p95; by the
// oldest and by the newest version that sampled a pair) with in-flight updates on and off, the weight-sync mismatch
// per version of a healthy run, and final gold reward with 95% intervals for learner.maxPolicyLag 0, 1, 2, 4, 8 at
// the same budget (learner.totalSteps).
// Run: node dist/bench/inflight.js [--seeds N] [--steps N] [--staleness-steps N] [--skip-lag] [--skip-staleness]
// (npm run bench:inflight)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkFlags, flag, parseArgs, UsageError } from '../src/cli/args.js';
import { DpoLearner } from '../src/actors/compute/learner_compute.js';
import { encodeWeights, LocalPolicy } from '../src/actors/compute/local_policy.js';
import { WorkerPolicy } from '../src/actors/compute/worker_policy.js';
import type { PolicyPort, ScorerPort } from '../src/actors/ports.js';
import { parseConfig } from '../src/config/index.js';
import { initBackend } from '../src/kernels/backend.js';
import { initGpt, type GptConfig } from '../src/kernels/gpt.js';
import { parseBucketName, parseVersionName } from '../src/monitor/metric_names.js';
import { startLocalCluster } from '../src/run/local_cluster.js';
import { InProcessBus } from '../src/streams/inprocess/bus.js';
import { loadAverages } from './harness.js';

const GPT: GptConfig = { vocabSize: 32, contextLength: 24, layers: 2, dModel: 48, heads: 2, dropout: 0, positional: 'learned' };
const SPECIAL = { eos: 30, pad: 31 };
/** Proxy and gold preference: the share of response tokens with ids below 8. */
const lowShare = (r: number[]): number => (r.length === 0 ? 0 : r.filter((t) => t < 8).length / r.length);

class RuleScorer implements ScorerPort {
  readonly modelId = 'low-share';
  async score(_prompt: number[], responses: number[][]): Promise<number[]> {
    return responses.map(lowShare);
  }
  async close(): Promise<void> {}
}

interface Arm {
  inFlight: boolean;
  maxPolicyLag: number;
  seed: number;
  steps: number;
}

interface ArmResult {
  wallS: number;
  lag: { mean: number; p95: number };
  lagLast: { mean: number; p95: number };
  inflightShare: number;
  gold0: number;
  gold: number;
  sync: Map<number, number>;
  stale: number;
}

/** Mean and 95th percentile (bucket upper bound, capped at the max seen) of a flat-encoded histogram. */
function histogram(values: Record<string, number>, base: string): { mean: number; p95: number } {
  const count = values[`${base}_count`] ?? 0;
  const buckets = Object.entries(values)
    .map(([k, v]) => ({ b: parseBucketName(k), v }))
    .filter((x) => x.b?.base === base && Number.isFinite(x.b.le))
    .sort((a, b) => a.b!.le - b.b!.le);
  const at = buckets.find((x) => x.v >= 0.95 * count);
  const max = values[`${base}_max`] ?? Number.NaN;
  return { mean: count > 0 ? values[`${base}_sum`]! / count : Number.NaN, p95: at ? Math.min(at.b!.le, max) : max };
}

async function runArm(a: Arm): Promise<ArmResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-inflight-'));
  const cfg = parseConfig({
    compute: { backend: 'wasm', seed: a.seed },
    model: { contextLength: GPT.contextLength },
    run: { mode: 'streaming', prompts: 1_000_000 },
    // More prompts per batch than slots: rows that start after a swap are sampled by the newer version throughout.
    generator: { count: 1, samplesPerPrompt: 4, promptsPerBatch: 16, slots: 16, maxNewTokens: 10, temperature: 1, inFlightUpdates: a.inFlight, inFlightCheckTokens: 2 },
    judge: { batchSize: 32 },
    learner: { batchSize: 8, lr: 0.01, warmupSteps: 0, totalSteps: a.steps, publishEvery: 1, checkpointEvery: 20, beta: 0.1, maxPolicyLag: a.maxPolicyLag, syncCheckShare: 0.05 },
    evaluator: { everyVersions: 1_000_000, prompts: 128, maxNewTokens: 10 },
    monitor: { intervalMs: 500 },
  });
  const sft = initGpt(GPT, 11);
  const sftBytes = encodeWeights(sft);
  const workers: WorkerPolicy[] = [];
  const learner = new DpoLearner({ policy: initGpt(GPT, 11), reference: initGpt(GPT, 11), config: cfg.learner, padId: SPECIAL.pad, seed: a.seed });
  const prompts = Array.from({ length: 64 }, (_, i) => ({ promptId: `q${i}`, text: `q${i}`, tokens: [1, 8 + (i % 20), 9] }));
  const evalPrompts = Array.from({ length: 128 }, (_, i) => ({ promptId: `e${i}`, text: `e${i}`, tokens: [2, 8 + (i % 20), 9] }));
  const bus = new InProcessBus(cfg.bus, `bench-${a.seed}`, { log: () => {} });
  const t0 = Date.now();
  const cluster = await startLocalCluster(
    cfg,
    bus,
    {
      policy: async (role): Promise<PolicyPort> => {
        if (role === 'reference') return new LocalPolicy(initGpt(GPT, 11), SPECIAL);
        const w = await WorkerPolicy.create({ gpt: GPT, weights: sftBytes, special: SPECIAL, backend: 'wasm' });
        workers.push(w);
        return w;
      },
      scorer: () => new RuleScorer(),
      learner,
      decode: (t) => t.join(' '),
      gold: async (items) => items.map((x) => lowShare(x.tokens)),
    },
    { prompts, evalPrompts, checkpointDir: join(dir, 'ck'), log: (l) => console.error(l) },
  );
  try {
    const s = await cluster.done;
    const l = s.metrics.learner!;
    const g = s.metrics['generator-0']!;
    const sync = new Map<number, number>();
    for (const [k, v] of Object.entries(l)) {
      const p = parseVersionName(k);
      if (p?.base === 'learner_sync_logprob_diff') sync.set(p.version, v);
    }
    return {
      wallS: (Date.now() - t0) / 1000,
      lag: histogram(l, 'learner_policy_lag'),
      lagLast: histogram(l, 'learner_policy_lag_last'),
      inflightShare: (g.generator_samples_inflight_total ?? 0) / (g.generator_samples_total ?? 1),
      gold0: s.evals[0]?.goldReward ?? Number.NaN,
      gold: s.evals.at(-1)?.goldReward ?? Number.NaN,
      sync,
      stale: s.pairsDroppedStale,
    };
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await learner.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Two-sided 95% Student t quantiles by degrees of freedom (1..10), for intervals over a few seeds. */
const T95 = [Number.NaN, 12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23];

function interval(xs: number[]): string {
  const n = xs.length;
  const m = xs.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return `${m.toFixed(3)}`;
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (n - 1));
  const t = T95[Math.min(n - 1, 10)] ?? 1.96;
  return `${m.toFixed(3)} +- ${((t * sd) / Math.sqrt(n)).toFixed(3)}`;
}

const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  checkFlags(args, ['seeds', 'steps', 'staleness-steps', 'skip-lag', 'skip-staleness'], 'bench inflight');
  const seeds = Number(flag(args, 'seeds') ?? 2);
  const steps = Number(flag(args, 'steps') ?? 40);
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > 10) throw new UsageError(`--seeds must be an integer in [1, 10]; got ${flag(args, 'seeds')}`);
  if (!Number.isInteger(steps) || steps < 1) throw new UsageError(`--steps must be an integer >= 1; got ${flag(args, 'steps')}`);
  // A budget short enough that the gold reward has not saturated, so staleness can show in it.
  const stalenessSteps = Number(flag(args, 'staleness-steps') ?? 10);
  if (!Number.isInteger(stalenessSteps) || stalenessSteps < 1) throw new UsageError(`--staleness-steps must be an integer >= 1; got ${flag(args, 'staleness-steps')}`);
  await initBackend('wasm');
  console.log(`in-flight bench: tiny GPT ${JSON.stringify(GPT)}, ${seeds} seed(s); load average at start ${loadAverages()}`);
  if (!args.flags.has('skip-lag')) await lagTable(seeds, steps);
  if (!args.flags.has('skip-staleness')) await stalenessTable(seeds, stalenessSteps);
  console.log(`\nload average at end ${loadAverages()}`);
}

async function lagTable(seeds: number, steps: number): Promise<void> {
  console.log(`\npolicy lag (versions; publishEvery 1) with in-flight updates on and off, maxPolicyLag 8, ${steps} learner steps per run`);
  console.log('in-flight  seed  wall s  lag mean  lag p95  newest-lag mean  newest-lag p95  samples in flight  gold');
  const lagRows: { on: boolean; r: ArmResult }[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    for (const on of [true, false]) {
      const r = await runArm({ inFlight: on, maxPolicyLag: 8, seed, steps });
      lagRows.push({ on, r });
      console.log(
        `${(on ? 'on' : 'off').padEnd(9)} ${String(seed).padStart(5)} ${f(r.wallS, 1).padStart(7)} ${f(r.lag.mean).padStart(9)} ${f(r.lag.p95, 0).padStart(8)} ` +
          `${f(r.lagLast.mean).padStart(16)} ${f(r.lagLast.p95, 0).padStart(15)} ${`${(100 * r.inflightShare).toFixed(0)}%`.padStart(18)}  ${f(r.gold, 3)}`,
      );
    }
  }
  for (const on of [true, false]) {
    const rs = lagRows.filter((x) => x.on === on).map((x) => x.r);
    const m = (g: (r: ArmResult) => number): number => rs.reduce((s, r) => s + g(r), 0) / rs.length;
    console.log(`mean, in-flight ${on ? 'on ' : 'off'}: lag ${f(m((r) => r.lag.mean))} (p95 ${f(m((r) => r.lag.p95), 1)}), newest-lag ${f(m((r) => r.lagLast.mean))} (p95 ${f(m((r) => r.lagLast.p95), 1)}), wall ${f(m((r) => r.wallS), 1)} s`);
  }
  const healthy = lagRows.find((x) => !x.on)!.r.sync;
  console.log(`\nweight-sync mismatch per version (in-flight off, seed 1; mean |d log p| per token, nats): ${[...healthy].sort((a, b) => a[0] - b[0]).map(([v, d]) => `v${v} ${d.toExponential(1)}`).join(', ')}`);
}

async function stalenessTable(seeds: number, steps: number): Promise<void> {
  console.log(`\nstaleness: final gold reward (95% interval over ${seeds} seeds) at ${steps} steps, in-flight updates on, stale pairs dropped`);
  console.log('maxPolicyLag  gold reward          SFT gold  stale pairs dropped (mean)  wall s (mean)');
  for (const lag of [0, 1, 2, 4, 8]) {
    const rs: ArmResult[] = [];
    for (let seed = 1; seed <= seeds; seed++) rs.push(await runArm({ inFlight: true, maxPolicyLag: lag, seed, steps }));
    const m = (g: (r: ArmResult) => number): number => rs.reduce((s, r) => s + g(r), 0) / rs.length;
    console.log(`${String(lag).padStart(12)}  ${interval(rs.map((r) => r.gold)).padEnd(19)}  ${f(m((r) => r.gold0), 3).padStart(8)}  ${f(m((r) => r.stale), 0).padStart(26)}  ${f(m((r) => r.wallS), 1).padStart(13)}`);
  }
}

await main();
