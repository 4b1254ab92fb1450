// Config slice for the run as a whole: mode, budget, output folder.
import { int, oneOf, str } from '../fields.js';

export const run = {
  mode: oneOf(['streaming', 'iterative', 'offline'] as const, 'streaming', 'streaming = all actors continuously; iterative = the paper\'s loop; offline = one dataset from SFT'),
  dir: str('runs', 'folder for run outputs (checkpoints, metrics logs, reports)'),
  cacheDir: str('.cache/rlhf-stream', 'folder for data, tokenizer, SFT and RM artifacts reused across runs'),
  id: str('', 'run id (default: derived from time); also the subject namespace under bus.prefix', /^[A-Za-z0-9_-]*$/),
  iterations: int(3, 1, 1000, 'iterations in iterative mode (the paper: 3)'),
  prompts: int(512, 1, 100_000_000, 'prompt budget for the online stage, all modes alike'),
  promptsPerSecond: int(0, 0, 1_000_000, "prompt rate limit per second; 0 = as fast as the generators pull"),
};
