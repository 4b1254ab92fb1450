// Config slice for pre-training and supervised fine-tuning of the tiny policy.
import { float, int } from '../fields.js';

export const sft = {
  pretrainSteps: int(400, 0, 10_000_000, 'language-model steps on the corpus before instruction tuning'),
  epochs: int(1, 0, 100, 'epochs over the instruction pairs'),
  batchSize: int(32, 1, 4096, 'sequences per step'),
  lr: float(1e-3, 0, 1, 'peak learning rate (cosine with warm-up)'),
  warmupSteps: int(40, 0, 1_000_000, 'linear warm-up steps'),
  weightDecay: float(0.01, 0, 1, 'AdamW decoupled weight decay'),
  gradClip: float(1, 0, 1e6, 'global gradient-norm clip; 0 disables'),
  pretrainLength: int(64, 8, 8192, 'tokens per packed corpus window in pre-training (capped at model.contextLength)'),
  instructionLength: int(64, 8, 8192, 'tokens per instruction example, prompt + response (capped at model.contextLength)'),
  finetuneLr: float(5e-4, 0, 1, 'peak learning rate of instruction tuning (cosine with warm-up)'),
  instructionPairs: int(6000, 0, 10_000_000, 'WordNet instruction pairs used for tuning (a seeded selection; 0 = none)'),
  continuationPairs: int(6000, 0, 10_000_000, 'sentence-continuation pairs (opening -> rest of a corpus sentence) mixed into tuning, as most RLHF prompts are openings'),
};
