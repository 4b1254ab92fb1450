// Config slice for Generator actors.
import { bool, float, int } from '../fields.js';

export const generator = {
  count: int(1, 1, 256, 'generator actors'),
  samplesPerPrompt: int(8, 2, 256, 'K responses per prompt (the paper: 8)'),
  temperature: float(1, 0, 10, 'sampling temperature (the paper: 1.0)'),
  topP: float(1, 0, 1, 'nucleus sampling mass (the paper: 1.0)'),
  topK: int(0, 0, 1_000_000, 'top-k filter; 0 disables'),
  maxNewTokens: int(32, 1, 8192, 'response length cap'),
  promptsPerBatch: int(4, 1, 4096, 'prompts sampled together (batch = promptsPerBatch * K)'),
  continuous: bool(true, 'continuous batching: a response that ends frees its row for the next waiting one, and each group is published the moment its K responses are done'),
  slots: int(0, 0, 1_000_000, 'continuous batching: rows decoding at once; 0 = promptsPerBatch * K (take more prompts per batch than fit to keep every row busy)'),
  maxBacklog: int(0, 0, 10_000_000, 'streaming: generators pause while this many groups and pairs wait downstream; 0 = learner.batchSize * publishEvery * max(1, maxPolicyLag), what the learner takes before such a backlog turns stale'),
  inFlightUpdates: bool(true, 'streaming with continuous batching: a version published while a batch samples is taken between decoding steps and every row continues with it (its KV cache kept), instead of the batch finishing on the old one'),
  inFlightCheckTokens: int(4, 1, 8192, 'in-flight updates: decoding steps between checks for a newer version (bounds the check cost)'),
};
