// The gold judge's public face: the judge, its tasks and the registry that names them.
export { combine, createGoldJudge, densityOf, GoldJudgeError, GOLD_JUDGE_VERSION, goldJudgeIdentity, naturalnessOf, NATURALNESS_FLOOR, SLOR_FULL, type GoldItem, type GoldJudge, type GoldJudgeOptions, type GoldScore } from './judge.js';
export { GOLD_TASK_NAMES, goldTask, GoldTaskError } from './tasks/index.js';
export type { GoldTask, TaskScorer } from './task.js';
export { GOLD_FORMULA, isContinuation, textStats, type TextStats } from './text_stats.js';
export { loadGoldLm, GOLD_LM_OPTIONS } from './language_model.js';
export * from './human_agreement.js';
