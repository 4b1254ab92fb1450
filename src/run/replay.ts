// Replay: a fresh learner from the run's starting checkpoint retrains the run's recorded steps, in order, without
// generators or judges; with the run's settings it checks each version against the original, with others it is a
// counterfactual on the same online data, its versions scored by the evaluator beside the original's.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Evaluator, type EvalReport } from '../actors/evaluator.js';
import { MetricsRegistry } from '../actors/metrics.js';
import type { LearnerPort } from '../actors/ports.js';
import { loadCheckpoint, NoCheckpointError } from '../checkpoint/checkpoint.js';
import { decodeSafetensors } from '../checkpoint/safetensors.js';
import { systemClock } from '../clock.js';
import { loadConfig, type Config } from '../config/index.js';
import { buildData } from '../data/build.js';
import { bootstrapInterval, type Interval } from '../kernels/bootstrap.js';
import { readResponses, responsesFile, responsesWriter } from '../monitor/responses_log.js';
import { createBus } from '../streams/index.js';
import { evaluatorOptions, isPhased } from './actor_options.js';
import { evalPrompts, loadTokenizer } from './artifacts.js';
import { learnerConfigFile, readLearnerStart } from './learner_start.js';
import { closeAll, goldScorer, learnerPort, localPolicy, scorerPort, type Owned } from './ports.js';
import { readReplayPlan, type ReplayPlan } from './replay_plan.js';
import { workerLearner } from './worker_ports.js';

export class ReplayError extends Error {
  override name = 'ReplayError';
}

export interface ReplayOptions {
  /** `section.key=value` settings over the run's own (config.json); any makes the replay a counterfactual. */
  overrides?: string[];
  /** Score versions with the evaluator (those the original evaluated, else every evaluator.everyVersions). */
  evaluate?: boolean;
  /** Folder name under <run>/replays/ (default: "exact", or the overrides joined). */
  name?: string;
  log?: (line: string) => void;
}

export interface ReplayedVersion {
  version: number;
  step: number;
  sha256: string;
  /** The original export's sha256 at the same point. */
  originalSha256: string;
  equal: boolean;
}

export interface VersionScore {
  version: number;
  step: number;
  /** Gold reward. */
  original?: Interval;
  replay?: Interval;
  /** Win rate against the SFT model's answers (gold judge; ties count half). */
  originalWinRate?: Interval;
  replayWinRate?: Interval;
}

export interface ReplayResult {
  outDir: string;
  counterfactual: boolean;
  overrides: string[];
  steps: number;
  distinctPairs: number;
  pairSlots: number;
  versions: ReplayedVersion[];
  /** The run's last checkpoint compared tensor by tensor with the replay at its step; undefined when absent. */
  checkpoint?: { step: number; equal: boolean; tensors: number; differing: string[] };
  scores: VersionScore[];
  wallSeconds: number;
}

const safeName = (overrides: readonly string[]): string => (overrides.length === 0 ? 'exact' : overrides.join('_').replace(/[^A-Za-z0-9._=-]+/g, '-'));

/**
 * The learner's resolved config (learner_config.json; a run's config.json otherwise) with `overrides` on top. The
 * environment is not read: a variable set today must not change what the replay trains.
 */
export function runConfig(runDir: string, overrides: readonly string[]): Config {
  const file = [learnerConfigFile(runDir), join(runDir, 'config.json')].find((f) => existsSync(f));
  if (!file) throw new ReplayError(`${runDir} holds neither learner_config.json nor config.json: not a run folder`);
  return loadConfig({ file, overrides: [...overrides], env: {} });
}

/** The learner port as the run built it: in a worker thread with compute.roleThreads, else on this thread. */
async function replayLearner(cfg: Config, dirs: { sftDir: string; rmDir: string }, log: (line: string) => void): Promise<Owned<LearnerPort>> {
  return cfg.compute.roleThreads ? workerLearner(cfg, dirs, log) : learnerPort(cfg, dirs);
}

/** Tensors of `bytes` (safetensors) whose data differ from the checkpoint's, by name. */
function differingTensors(bytes: Uint8Array, weights: Record<string, { data: Float32Array | Int32Array }>): { tensors: number; differing: string[] } {
  const { tensors } = decodeSafetensors(bytes, { source: 'replayed weights' });
  const names = new Set([...Object.keys(tensors), ...Object.keys(weights)]);
  const differing: string[] = [];
  for (const n of names) {
    const a = tensors[n]?.data;
    const b = weights[n]?.data;
    if (!a || !b || !Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) differing.push(n);
  }
  return { tensors: names.size, differing };
}

/** Gold reward and win rate per version: means over held-out prompts with bootstrap 95% intervals. */
function goldByVersion(file: string): Map<number, { step: number; interval: Interval; winRate: Interval }> {
  const byVersion = new Map<number, { step: number; gold: number[]; win: number[] }>();
  for (const r of readResponses(file)) {
    const v = byVersion.get(r.version) ?? { step: r.step, gold: [], win: [] };
    v.gold.push(r.gold);
    v.win.push(r.win);
    byVersion.set(r.version, v);
  }
  const out = new Map<number, { step: number; interval: Interval; winRate: Interval }>();
  for (const [version, v] of byVersion) out.set(version, { step: v.step, interval: bootstrapInterval([v.gold]), winRate: bootstrapInterval([v.win]) });
  return out;
}

interface Scoring {
  /** Scores `bytes` as `version`; without bytes, the policy as loaded (the SFT weights at first). */
  evaluate(version: number, step: number, bytes?: Uint8Array): Promise<EvalReport>;
  close(): Promise<void>;
}

/** An evaluator as the run's, over an in-process bus of its own; each version is loaded into its policy and scored. */
async function startScoring(cfg: Config, dirs: { sftDir: string; rmDir: string }, outDir: string, log: (line: string) => void): Promise<Scoring> {
  const owned: Owned<unknown>[] = [];
  const data = await buildData(cfg, { log });
  const tok = loadTokenizer(dirs);
  const bus = await createBus({ ...cfg.bus, kind: 'inprocess' }, `replay-${Date.now()}`, {});
  const policy = await localPolicy(dirs);
  owned.push(policy);
  const reference = await localPolicy(dirs);
  owned.push(reference);
  const scorer = await scorerPort(dirs);
  owned.push(scorer);
  const gold = await goldScorer(cfg, log);
  owned.push(gold);
  const ev = new Evaluator(
    {
      bus,
      policy: policy.port,
      reference: reference.port,
      scorer: scorer.port,
      gold: gold.port,
      decode: (ids) => tok.decode(ids),
      clock: systemClock,
      metrics: new MetricsRegistry(),
      onResponses: responsesWriter(responsesFile(outDir)),
    },
    evaluatorOptions(cfg, 'replay-evaluator', evalPrompts(cfg, data.prompts.eval, tok)),
  );
  return {
    async evaluate(version, step, bytes) {
      if (bytes) await policy.port.loadWeights(version, bytes);
      return ev.evaluateLoaded(version, step);
    },
    async close() {
      await bus.close();
      await closeAll(owned);
    },
  };
}

/** Replays the run in `runDir`; writes <runDir>/replays/<name>/replay.json and report.md. */
export async function replayRun(runDir: string, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const t0 = Date.now();
  const overrides = opts.overrides ?? [];
  const counterfactual = overrides.length > 0;
  const cfg = runConfig(runDir, overrides);
  const start = readLearnerStart(runDir);
  const plan: ReplayPlan = readReplayPlan(runDir);
  if (plan.steps.length === 0) throw new ReplayError(`${runDir}: the ledger records no step`);
  const rmDir = start.rmDir ?? '';
  if (opts.evaluate && !rmDir) throw new ReplayError(`${runDir}: the start record names no proxy model, which the evaluator reports`);
  const dirs = { sftDir: start.sftDir, rmDir };
  const outDir = join(runDir, 'replays', opts.name ?? safeName(overrides));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  log(
    `replay of ${runDir}: ${plan.steps.length} steps, ${plan.distinctPairs} pairs (${plan.pairSlots} step slots), ${plan.publishes.length} versions, from ${start.sftDir}` +
      (counterfactual ? `; counterfactual: ${overrides.join(' ')}` : ''),
  );

  const originalScores = goldByVersion(responsesFile(runDir));
  const toScore = new Set(originalScores.keys());
  const learner = await replayLearner(cfg, dirs, log);
  // A phase that starts once labelled steps with learner.phaseThreads GEMM threads (Learner.widenThreads): the same here.
  if (isPhased(cfg) && cfg.learner.phaseStart === 'labelled' && learner.port.setThreads) await learner.port.setThreads(cfg.learner.phaseThreads || availableParallelism());
  const scoring = opts.evaluate ? await startScoring(cfg, dirs, outDir, log) : undefined;
  const versions: ReplayedVersion[] = [];
  const scores: VersionScore[] = [];
  let lastBytes: Uint8Array | undefined;
  let lastScored = 0;
  try {
    if (scoring) {
      const sft = originalScores.get(0);
      // The SFT model as the policy port loaded it: exporting the learner's weights here would, with learner.reference
      // 'previous', move its reference, which the original did not do.
      await scoring.evaluate(0, 0);
      scores.push({ version: 0, step: 0, ...(sft ? { original: sft.interval, originalWinRate: sft.winRate } : {}) });
    }
    let p = 0;
    const exportsAt = async (step: number): Promise<void> => {
      while (p < plan.publishes.length && plan.publishes[p]!.step === step) {
        const orig = plan.publishes[p++]!;
        const bytes = await learner.port.exportWeights();
        lastBytes = bytes;
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        const v: ReplayedVersion = { version: orig.version, step, sha256, originalSha256: orig.sha256, equal: sha256 === orig.sha256 };
        versions.push(v);
        log(`replay: version ${v.version} at step ${step}: ${v.equal ? 'equal to the original' : 'differs from the original'}`);
        const due = toScore.size > 0 ? toScore.has(v.version) : v.version >= lastScored + cfg.evaluator.everyVersions;
        if (scoring && due) {
          await scoring.evaluate(v.version, step, bytes);
          lastScored = v.version;
          const o = originalScores.get(v.version);
          scores.push({ version: v.version, step, ...(o ? { original: o.interval, originalWinRate: o.winRate } : {}) });
        }
      }
    };
    await exportsAt(0);
    for (const s of plan.steps) {
      await learner.port.step(s.pairs, s.weights);
      await exportsAt(s.step);
    }
    if (p < plan.publishes.length) throw new ReplayError(`the record has a version (${plan.publishes[p]!.version}) after step ${plan.publishes[p]!.step}, past its last step ${plan.steps.at(-1)!.step}`);
  } finally {
    await scoring?.close();
  }

  // The run's last checkpoint, when it is at the replay's last step, tensor by tensor.
  let checkpoint: ReplayResult['checkpoint'];
  const lastStep = plan.steps.at(-1)!.step;
  try {
    const ck = await loadCheckpoint(join(runDir, 'checkpoints'));
    const ckStep = Number(ck.state?.step);
    if (ckStep === lastStep) {
      const bytes = plan.publishes.at(-1)?.step === lastStep && lastBytes ? lastBytes : await learner.port.exportWeights();
      const d = differingTensors(bytes, ck.weights);
      checkpoint = { step: ckStep, equal: d.differing.length === 0, ...d };
      log(`replay: the run's checkpoint at step ${ckStep}: ${checkpoint.equal ? `all ${d.tensors} tensors equal` : `${d.differing.length} of ${d.tensors} tensors differ`}`);
    } else log(`replay: the run's checkpoint is at step ${ckStep}, not the replay's last step ${lastStep}: not compared`);
  } catch (err) {
    if (!(err instanceof NoCheckpointError)) throw err;
    log(`replay: ${join(runDir, 'checkpoints')} holds no checkpoint: the weights are checked against the recorded hashes only`);
  } finally {
    await learner.close();
  }

  const replayScores = goldByVersion(responsesFile(outDir));
  for (const s of scores) {
    const r = replayScores.get(s.version);
    if (r) {
      s.replay = r.interval;
      s.replayWinRate = r.winRate;
    }
  }
  const result: ReplayResult = {
    outDir,
    counterfactual,
    overrides,
    steps: plan.steps.length,
    distinctPairs: plan.distinctPairs,
    pairSlots: plan.pairSlots,
    versions,
    ...(checkpoint ? { checkpoint } : {}),
    scores,
    wallSeconds: (Date.now() - t0) / 1000,
  };
  writeFileSync(join(outDir, 'replay.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(outDir, 'report.md'), replayReport(result));
  return result;
}

/** Three decimals, or three significant digits for a small value (a weak policy's gold rewards are around 1e-4). */
const num = (x: number): string => (x !== 0 && Math.abs(x) < 0.01 ? x.toPrecision(3) : x.toFixed(3));
const fmt = (i: Interval | undefined): string => (i ? `${num(i.mean)} [${num(i.lo)}, ${num(i.hi)}]` : 'n/a');

/** The replay's report: versions against the original's, and gold reward with intervals where scored. */
export function replayReport(r: ReplayResult): string {
  const lines = [
    `# Replay${r.counterfactual ? ` (counterfactual: ${r.overrides.join(' ')})` : ''}`,
    '',
    `${r.steps} steps on ${r.distinctPairs} recorded pairs (${r.pairSlots} step slots), ${r.wallSeconds.toFixed(1)} s.`,
    '',
    '| version | step | weights equal to the original |',
    '|---|---|---|',
    ...r.versions.map((v) => `| ${v.version} | ${v.step} | ${v.equal ? 'yes' : 'no'} |`),
  ];
  if (r.checkpoint) lines.push('', `The run's checkpoint at step ${r.checkpoint.step}: ${r.checkpoint.equal ? `all ${r.checkpoint.tensors} tensors bit-identical` : `${r.checkpoint.differing.length} of ${r.checkpoint.tensors} tensors differ`}.`);
  if (r.scores.length > 0) {
    lines.push(
      '',
      'Gold reward and win rate against the SFT model, means over held-out prompts [bootstrap 95% interval]:',
      '',
      '| version | step | gold: original | gold: replay | win rate: original | win rate: replay |',
      '|---|---|---|---|---|---|',
    );
    for (const s of r.scores) lines.push(`| ${s.version} | ${s.step} | ${fmt(s.original)} | ${fmt(s.replay)} | ${fmt(s.originalWinRate)} | ${fmt(s.replayWinRate)} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** A replay's result as written (for tests and reports). */
export function readReplayResult(outDir: string): ReplayResult {
  return JSON.parse(readFileSync(join(outDir, 'replay.json'), 'utf8')) as ReplayResult;
}
