// Config slice for pre-training and supervised fine-tuning of the tiny policy.
import { float, int } from '../fields.js';

export const sft = {
  pretrainSteps: int(1500, 0, 10_000_000, 'language-model steps on the corpus before instruction tuning'),
  epochs: int(2, 0, 100, 'epochs over the instruction pairs'),
  batchSize: int(16, 1, 4096, 'sequences per step'),
  lr: float(1e-3, 0, 1, 'peak learning rate (cosine with warm-up)'),
  warmupSteps: int(100, 0, 1_000_000, 'linear warm-up steps'),
  weightDecay: float(0.01, 0, 1, 'AdamW decoupled weight decay'),
  gradClip: float(1, 0, 1e6, 'global gradient-norm clip; 0 disables'),
};
