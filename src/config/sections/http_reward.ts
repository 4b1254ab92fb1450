// Config slice for judge.scorer http-reward: a reward model served over HTTP (URL and key in the judge section).
import { oneOf } from '../fields.js';

export const httpReward = {
  format: oneOf(['rlhf-stream', 'openrlhf'] as const, 'rlhf-stream', 'request shape: {prompt, responses} -> {scores}, or OpenRLHF remote RM {query, prompts} -> {rewards} (docs/scorers.md)'),
};
