// The experiment's arms: every (arm, seed) run with its config derived from one base config, so budgets stay equal.
import type { Config } from '../config/index.js';
import type { RmKind } from '../train/stages.js';

export class ExperimentPlanError extends Error {
  override name = 'ExperimentPlanError';
}

export type Mode = Config['run']['mode'];
export const MODES: readonly Mode[] = ['offline', 'iterative', 'streaming'];

/** main = the three-way comparison; rm = the pairwise proxy instead of BT; length = the length penalty on. */
export type ArmGroup = 'main' | 'rm' | 'length';

export interface ArmSpec {
  /** Arm label shared by its seeds: `streaming`, `iterative+pairwise`, `iterative+length-penalty`. */
  arm: string;
  /** Unique run id: the arm label (made id-safe) and the seed. */
  id: string;
  group: ArmGroup;
  mode: Mode;
  seed: number;
  seedIndex: number;
  rmKind: RmKind;
  lengthPenalty: number;
}

const idSafe = (s: string): string => s.replace(/[^A-Za-z0-9_-]+/g, '_');

function spec(arm: string, group: ArmGroup, mode: Mode, seed: number, seedIndex: number, rmKind: RmKind, lengthPenalty: number): ArmSpec {
  return { arm, id: `${idSafe(arm)}-seed${seed}`, group, mode, seed, seedIndex, rmKind, lengthPenalty };
}

/** Online seeds: compute.seed + i, so seed index 0 is the seed the cached stages were built with. */
export function seedsOf(cfg: Config, n: number): number[] {
  return Array.from({ length: n }, (_, i) => cfg.compute.seed + i);
}

/**
 * Every run, main arms first (seed-major, so an early stop still leaves whole seeds), then the ablations. The
 * ablations' baseline is the main arm of their mode at the same seeds, so they must share its proxy (BT) and penalty.
 */
export function planArms(cfg: Config): ArmSpec[] {
  const e = cfg.experiment;
  for (const a of e.arms) {
    if (!(MODES as readonly string[]).includes(a)) throw new ExperimentPlanError(`experiment.arms must hold only ${MODES.join(', ')}; got ${JSON.stringify(a)}`);
  }
  if (e.arms.length === 0) throw new ExperimentPlanError('experiment.arms must name at least one of offline, iterative, streaming; got an empty list');
  if (new Set(e.arms).size !== e.arms.length) throw new ExperimentPlanError(`experiment.arms must not repeat a mode; got ${e.arms.join(', ')}`);
  const ablating = e.rmAblation || e.lengthPenalty > 0;
  if (ablating && !e.arms.includes(e.ablationMode)) {
    throw new ExperimentPlanError(`experiment.ablationMode ${JSON.stringify(e.ablationMode)} must be one of experiment.arms (${e.arms.join(', ')}): its main runs are the ablations' baseline`);
  }
  if (e.ablationSeeds > e.seeds) throw new ExperimentPlanError(`experiment.ablationSeeds must be at most experiment.seeds (${e.seeds}); got ${e.ablationSeeds}`);
  if (cfg.rm.kind !== 'bt') throw new ExperimentPlanError(`the experiment's main proxy is the BT model (the pairwise one is an ablation): rm.kind must be bt; got ${JSON.stringify(cfg.rm.kind)}`);
  if (cfg.judge.lengthPenalty !== 0) throw new ExperimentPlanError(`the main arms run without a length penalty (it is an ablation): judge.lengthPenalty must be 0; got ${cfg.judge.lengthPenalty}`);

  const seeds = seedsOf(cfg, e.seeds);
  const out: ArmSpec[] = [];
  seeds.forEach((seed, i) => {
    for (const mode of e.arms as Mode[]) out.push(spec(mode, 'main', mode, seed, i, 'bt', 0));
  });
  const abl = seeds.slice(0, e.ablationSeeds);
  if (e.rmAblation) abl.forEach((seed, i) => out.push(spec(`${e.ablationMode}+pairwise`, 'rm', e.ablationMode, seed, i, 'pairwise', 0)));
  if (e.lengthPenalty > 0) abl.forEach((seed, i) => out.push(spec(`${e.ablationMode}+length-penalty`, 'length', e.ablationMode, seed, i, 'bt', e.lengthPenalty)));
  return out;
}

/** Policy versions a run of `mode` publishes: one per phase, or one per learner.publishEvery steps when streaming. */
export function versionsOf(cfg: Config, mode: Mode): number {
  if (mode === 'offline') return 1;
  if (mode === 'iterative') return cfg.run.iterations;
  return Math.max(1, Math.floor(Math.min(cfg.learner.totalSteps, Math.ceil(cfg.run.prompts / cfg.learner.batchSize)) / cfg.learner.publishEvery));
}

/**
 * evaluator.everyVersions giving each mode experiment.evalsPerRun evaluations: evaluations share the cores with the
 * run, so equal counts keep the wall-clock comparison fair (and the time-to-target resolution alike).
 */
export function evalEvery(cfg: Config, mode: Mode): number {
  return Math.max(1, Math.floor(versionsOf(cfg, mode) / cfg.experiment.evalsPerRun));
}

/** The base config with this run's mode, online seed, proxy, penalty and output place; everything else (budgets) unchanged. */
export function armConfig(base: Config, s: ArmSpec, armsDir: string): Config {
  const cfg = structuredClone(base);
  cfg.compute.seed = s.seed;
  cfg.run.mode = s.mode;
  cfg.run.id = s.id;
  cfg.run.dir = armsDir;
  cfg.rm.kind = s.rmKind;
  cfg.judge.lengthPenalty = s.lengthPenalty;
  if (base.experiment.evalsPerRun > 0) cfg.evaluator.everyVersions = evalEvery(base, s.mode);
  // Each arm runs headless; the experiment prints its own progress.
  cfg.monitor.dashboard = false;
  return cfg;
}
