// Per-run figures from a finished arm, and their mean / spread across seeds.
import type { ClusterSummary } from '../run/local_cluster.js';
import type { EvalReport } from '../actors/evaluator.js';
import type { CpuUsage } from './cpu_sampler.js';
import type { PromptEval } from './frontier.js';
import type { ArmGroup, ArmSpec, Mode } from './plan.js';

/** One evaluation, with its time from the arm's start. */
export interface EvalPoint {
  seconds: number;
  version: number;
  step: number;
  goldReward: number;
  winRateVsSft: number;
  proxyReward: number;
  kl: number | null;
  /** The per-token k3 estimate of the same KL. */
  klK3?: number | null;
  responseTokens: number;
}

export interface ArmRun {
  /** The gold task (data.task) the run was judged by. */
  task?: string;
  arm: string;
  id: string;
  group: ArmGroup;
  mode: Mode;
  seed: number;
  seedIndex: number;
  rmKind: string;
  lengthPenalty: number;
  /** The arm's folder (metrics.jsonl, report.md, summary.json), relative to the experiment folder. */
  dir: string;
  // Budgets actually used.
  promptsSeen: number;
  samplesGenerated: number;
  /** Proxy-model labels: every sample scored. */
  labelsUsed: number;
  pairs: number;
  pairsTrained: number;
  pairsDroppedStale: number;
  steps: number;
  versions: number;
  // Outcome on the held-out eval prompts, at the last evaluation (the final policy).
  sftGoldReward: number;
  goldReward: number;
  winRateVsSft: number;
  proxyReward: number;
  kl: number;
  responseTokens: number;
  // Time and throughput.
  wallSeconds: number;
  /** First evaluation at or above the target win rate, seconds from the arm's start; null when never reached. */
  secondsToTarget: number | null;
  samplesPerSecond: number;
  pairsPerSecond: number;
  stepsPerSecond: number;
  /** Seconds the evaluator spent evaluating (it shares the cores with the arm). */
  evalSeconds: number;
  /** Seconds spent in each kind of work, summed over actors (they overlap in time, within and across actors). */
  generateSeconds: number;
  judgeSeconds: number;
  learnSeconds: number;
  evaluations: number;
  coreBusy: number[];
  processShare: number;
  evals: EvalPoint[];
  /** Per-prompt gold and win of every evaluation (from the run's responses.jsonl): the bootstrap and the matched-KL comparison use them. */
  promptEvals?: PromptEval[];
  /** The first held-out prompts answered by SFT and by this run's final policy, with gold scores. */
  examples?: RunExample[];
}

export interface RunExample {
  prompt: string;
  sft: string;
  sftGold: number;
  response: string;
  gold: number;
}

export class ExperimentResultError extends Error {
  override name = 'ExperimentResultError';
}

/** Seconds from `startMs` to the first report at or above `target`; null when none reached it. */
export function secondsToTarget(evals: readonly EvalPoint[], target: number): number | null {
  const hit = evals.find((e) => e.winRateVsSft >= target);
  return hit ? hit.seconds : null;
}

export function evalPoints(evals: readonly EvalReport[], startMs: number): EvalPoint[] {
  return evals.map((e) => ({
    seconds: (e.ts - startMs) / 1000,
    version: e.version,
    step: e.step,
    goldReward: e.goldReward,
    winRateVsSft: e.winRateVsSft,
    proxyReward: e.proxyReward,
    kl: e.kl ?? null,
    klK3: e.klK3 ?? null,
    responseTokens: e.responseTokens,
  }));
}

const sumOf = (metrics: ClusterSummary['metrics'], name: string): number => Object.values(metrics).reduce((t, m) => t + (m[name] ?? 0), 0);

/** Busy seconds by kind of work, from the actors' final metrics (batch, scoring, step and evaluation timers). */
export function workSeconds(metrics: ClusterSummary['metrics']): Pick<ArmRun, 'generateSeconds' | 'judgeSeconds' | 'learnSeconds' | 'evalSeconds'> {
  return {
    generateSeconds: sumOf(metrics, 'generator_batch_seconds_sum'),
    judgeSeconds: sumOf(metrics, 'judge_score_seconds_sum'),
    learnSeconds: sumOf(metrics, 'learner_step_seconds_sum'),
    evalSeconds: sumOf(metrics, 'evaluator_eval_seconds_sum'),
  };
}

/** Figures of one finished arm; `startMs` is the cluster's start (wall clock), `target` the win rate to reach. */
export function armRun(s: ArmSpec, dir: string, summary: ClusterSummary, startMs: number, cpu: CpuUsage, target: number, promptEvals?: PromptEval[]): ArmRun {
  const last = summary.evals.at(-1);
  if (!last) throw new ExperimentResultError(`arm ${s.id} finished without an evaluation; the evaluator needs evaluator.prompts > 0 and held-out prompts`);
  const wallSeconds = summary.wallMs / 1000;
  const evals = evalPoints(summary.evals, startMs);
  const ev = summary.metrics['evaluator'] ?? {};
  return {
    arm: s.arm,
    id: s.id,
    group: s.group,
    mode: s.mode,
    seed: s.seed,
    seedIndex: s.seedIndex,
    rmKind: s.rmKind,
    lengthPenalty: s.lengthPenalty,
    dir,
    promptsSeen: summary.promptsPublished,
    samplesGenerated: summary.samplesGenerated,
    labelsUsed: summary.samplesScored,
    pairs: summary.pairs,
    pairsTrained: summary.pairsTrained,
    pairsDroppedStale: summary.pairsDroppedStale,
    steps: summary.steps,
    versions: summary.version,
    sftGoldReward: last.sftGoldReward,
    goldReward: last.goldReward,
    winRateVsSft: last.winRateVsSft,
    proxyReward: last.proxyReward,
    kl: last.kl ?? Number.NaN,
    responseTokens: last.responseTokens,
    wallSeconds,
    secondsToTarget: secondsToTarget(evals, target),
    samplesPerSecond: summary.samplesGenerated / wallSeconds,
    pairsPerSecond: summary.pairs / wallSeconds,
    stepsPerSecond: summary.steps / wallSeconds,
    ...workSeconds(summary.metrics),
    evaluations: ev['evaluator_evaluations_total'] ?? summary.evals.length,
    coreBusy: cpu.coreBusy,
    processShare: cpu.processShare,
    evals,
    ...(promptEvals ? { promptEvals } : {}),
  };
}

export interface Spread {
  mean: number;
  std: number;
  min: number;
  max: number;
  n: number;
}

/** Mean, sample standard deviation (0 for one value), min and max of the finite values; NaN figures when none. */
export function spread(xs: readonly number[]): Spread {
  const v = xs.filter(Number.isFinite);
  const n = v.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mean = v.reduce((s, x) => s + x, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, min: Math.min(...v), max: Math.max(...v), n };
}

/** The per-run numbers that are averaged across seeds. */
export const AGGREGATED = [
  'goldReward',
  'winRateVsSft',
  'proxyReward',
  'kl',
  'responseTokens',
  'wallSeconds',
  'samplesPerSecond',
  'pairsPerSecond',
  'stepsPerSecond',
  'steps',
  'promptsSeen',
  'labelsUsed',
  'pairsTrained',
  'pairsDroppedStale',
  'evalSeconds',
  'generateSeconds',
  'judgeSeconds',
  'learnSeconds',
  'processShare',
] as const satisfies readonly (keyof ArmRun)[];
export type AggregatedKey = (typeof AGGREGATED)[number];

export interface ArmAggregate {
  arm: string;
  group: ArmGroup;
  mode: Mode;
  rmKind: string;
  lengthPenalty: number;
  seeds: number[];
  figures: Record<AggregatedKey, Spread>;
  /** Runs that reached the target win rate, and the spread of their times. */
  reachedTarget: number;
  secondsToTarget: Spread;
  /** Mean busy fraction of each core across the seeds. */
  coreBusy: number[];
}

/** Groups runs by arm label (in first-seen order) and summarises each group across its seeds. */
export function aggregate(runs: readonly ArmRun[]): ArmAggregate[] {
  const byArm = new Map<string, ArmRun[]>();
  for (const r of runs) byArm.set(r.arm, [...(byArm.get(r.arm) ?? []), r]);
  return [...byArm.values()].map((rs) => {
    const r0 = rs[0]!;
    const figures = Object.fromEntries(AGGREGATED.map((k) => [k, spread(rs.map((r) => r[k]))])) as Record<AggregatedKey, Spread>;
    const times = rs.map((r) => r.secondsToTarget).filter((t): t is number => t !== null);
    const cores = Math.max(0, ...rs.map((r) => r.coreBusy.length));
    const coreBusy = Array.from({ length: cores }, (_, c) => spread(rs.map((r) => r.coreBusy[c] ?? Number.NaN)).mean);
    return {
      arm: r0.arm,
      group: r0.group,
      mode: r0.mode,
      rmKind: r0.rmKind,
      lengthPenalty: r0.lengthPenalty,
      seeds: rs.map((r) => r.seed),
      figures,
      reachedTarget: times.length,
      secondsToTarget: spread(times),
      coreBusy,
    };
  });
}
