// Config slice for `rlhf-stream experiment`: which arms, how many seeds, the ablations and where results go.
import { bool, float, int, oneOf, str, strList } from '../fields.js';

export const experiment = {
  tasks: strList([], 'gold tasks (data.task values) to run the whole experiment on, each with its own data, SFT and proxy models and results; empty = data.task alone'),
  arms: strList(['offline', 'iterative', 'streaming'], 'online modes compared on equal budgets (any of offline, iterative, streaming)'),
  seeds: int(3, 1, 100, 'seeds per arm: the online stage runs with compute.seed + i; data, SFT and reward models are built once from compute.seed'),
  targetWinRate: float(0.6, 0, 1, 'gold win rate vs SFT whose first crossing (wall-clock from the arm start) is reported'),
  rmAblation: bool(true, 'also run ablationMode with the pairwise preference model as the proxy (BT is the main proxy)'),
  lengthPenalty: float(0.02, 0, 100, 'judge.lengthPenalty of the length-penalty ablation (ablationMode, BT proxy); 0 skips it'),
  ablationMode: oneOf(['streaming', 'iterative', 'offline'] as const, 'iterative', 'online mode of the ablation runs'),
  ablationSeeds: int(1, 1, 100, 'seeds of each ablation (the first ones of the main arms, so the baseline is shared)'),
  evalsPerRun: int(3, 0, 1000, 'evaluations per run after the SFT one, equal in every mode (sets evaluator.everyVersions from the versions a mode publishes); 0 = evaluator.everyVersions as configured'),
  judgeCheckPrompts: int(8, 0, 1000, "held-out prompts per kind on which the gold judge's adversarial suite runs before the arms (with its agreement with the task's human pairs), reported in results.md; 0 = skip both"),
  cpuSampleMs: int(1000, 50, 60_000, 'period of /proc/stat samples taken during each arm'),
  docsDir: str('', 'also copy results.md (as results.md) and the plots (into results/) to this folder; empty = no copy'),
};
