// Config slice for Generator actors.
import { float, int } from '../fields.js';

export const generator = {
  count: int(1, 1, 256, 'generator actors'),
  samplesPerPrompt: int(8, 2, 256, 'K responses per prompt (the paper: 8)'),
  temperature: float(1, 0, 10, 'sampling temperature (the paper: 1.0)'),
  topP: float(1, 0, 1, 'nucleus sampling mass (the paper: 1.0)'),
  topK: int(0, 0, 1_000_000, 'top-k filter; 0 disables'),
  maxNewTokens: int(32, 1, 8192, 'response length cap'),
  promptsPerBatch: int(4, 1, 4096, 'prompts sampled together (batch = promptsPerBatch * K)'),
  maxBacklog: int(0, 0, 10_000_000, 'streaming: generators pause while this many groups and pairs wait downstream; 0 = learner.batchSize * publishEvery * max(1, maxPolicyLag), what the learner takes before such a backlog turns stale'),
};
