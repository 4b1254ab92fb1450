// Each actor's options from the config: the one place both the one-process cluster and the actor processes read them.
import type { EvaluatorOptions } from '../actors/evaluator.js';
import type { GeneratorOptions } from '../actors/generator.js';
import type { JudgeOptions } from '../actors/judge.js';
import type { LearnerOptions } from '../actors/learner.js';
import type { PromptItem, PromptSourceOptions } from '../actors/prompt_source.js';
import type { Config } from '../config/index.js';
import { deriveSeed } from '../kernels/rng.js';

/**
 * Streaming flow control: generators pause while this much work (sample groups and pairs) waits downstream. By default
 * it is what the learner consumes before its policy goes stale: batchSize x publishEvery x maxPolicyLag.
 */
export function backlogLimit(cfg: Config): number {
  return cfg.generator.maxBacklog || cfg.learner.batchSize * cfg.learner.publishEvery * Math.max(1, cfg.learner.maxPolicyLag);
}

/** Phase-driven modes (iterative, offline) run the pipeline in lock-step; streaming lets every actor run free. */
export const isPhased = (cfg: Config): boolean => cfg.run.mode !== 'streaming';

// Defined with the config, whose checks use it too.
export { phasePrompts } from '../config/index.js';

export function sourceOptions(cfg: Config, prompts: readonly PromptItem[], startAt = 0): PromptSourceOptions {
  return {
    prompts,
    budget: cfg.run.prompts,
    seed: deriveSeed(cfg.compute.seed, 'source'),
    // A phase publishes its prompts at once; the rate limit shapes streaming only.
    promptsPerSecond: isPhased(cfg) ? 0 : cfg.run.promptsPerSecond,
    ...(startAt > 0 ? { startAt } : {}),
  };
}

export function generatorOptions(cfg: Config, generatorId: string): GeneratorOptions {
  return {
    generatorId,
    config: cfg.generator,
    seed: deriveSeed(cfg.compute.seed, 'generator'),
    maxPromptTokens: cfg.model.contextLength - cfg.generator.maxNewTokens,
    ...(isPhased(cfg) ? { pollWeights: true } : {}),
    // A phase is sampled by one version by design; streaming takes newer weights mid-batch when asked to.
    ...(!isPhased(cfg) && cfg.generator.inFlightUpdates && cfg.generator.continuous ? { inFlightCheckTokens: cfg.generator.inFlightCheckTokens } : {}),
    ackWaitMs: cfg.bus.ackWaitMs,
  };
}

export function judgeOptions(cfg: Config, judgeId: string): JudgeOptions {
  return { judgeId, config: cfg.judge, seed: deriveSeed(cfg.compute.seed, 'judge'), samplesPerPrompt: cfg.generator.samplesPerPrompt, ackWaitMs: cfg.bus.ackWaitMs };
}

export function learnerOptions(cfg: Config, learnerId: string, checkpointDir: string): LearnerOptions {
  return { learnerId, config: cfg.learner, checkpointDir, ackWaitMs: cfg.bus.ackWaitMs };
}

export function evaluatorOptions(cfg: Config, evaluatorId: string, prompts: readonly PromptItem[]): EvaluatorOptions {
  return { evaluatorId, config: cfg.evaluator, prompts, topK: cfg.generator.topK, topP: cfg.generator.topP };
}
