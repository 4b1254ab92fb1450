// Config slice for the Evaluator actor.
import { float, int } from '../fields.js';

export const evaluator = {
  everyVersions: int(10, 1, 1_000_000, 'evaluate every N policy versions'),
  prompts: int(64, 1, 100_000, 'held-out eval prompts per evaluation'),
  maxNewTokens: int(32, 1, 8192, 'response length cap in evaluation'),
  temperature: float(1, 0, 10, 'sampling temperature in evaluation (1 keeps the KL estimate unbiased)'),
  seed: int(0, 0, 2 ** 31 - 1, 'seed of evaluation sampling, independent of compute.seed: the SFT baseline is the same in every run'),
};
