// Config slice for preference data and the proxy reward models (Bradley-Terry and pairwise).
import { float, int, oneOf } from '../fields.js';

export const rm = {
  kind: oneOf(['bt', 'pairwise'] as const, 'bt', 'proxy model the judge uses: Bradley-Terry scalar head or pairwise preference model'),
  responsesPerPrompt: int(4, 2, 64, 'responses sampled per prompt from the SFT policy to build preference pairs'),
  prompts: int(600, 1, 10_000_000, 'train prompts used to build the preference dataset (600 x K=4 samples: minutes on 2 cores)'),
  labelNoise: oneOf(['none', 'bradley-terry'] as const, 'none', 'none = deterministic gold labels; bradley-terry = sample labels with P = sigmoid(gold diff / temperature)'),
  noiseTemperature: float(0.1, 1e-6, 100, 'temperature of the Bradley-Terry label noise'),
  epochs: int(1, 1, 100, 'epochs over the preference pairs'),
  batchSize: int(16, 1, 4096, 'pairs per step'),
  lr: float(3e-4, 0, 1, 'peak learning rate (cosine with warm-up)'),
  heldOutFraction: float(0.1, 0, 0.5, 'share of pairs kept for held-out accuracy'),
  pairwiseMaxEpochs: int(12, 1, 1000, 'pairwise model: most epochs; it trains until validation accuracy (both orders) stops rising and keeps the best epoch'),
  pairwisePatience: int(2, 1, 1000, 'pairwise model: epochs without a new best validation accuracy before training stops'),
  pairwiseValidFraction: float(0.1, 0.01, 0.5, 'pairwise model: share of the training prompts held out as the early-stopping validation split (the held-out pairs stay untouched)'),
};
