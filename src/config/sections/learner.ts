// Config slice for the Learner actor: asynchronous preference optimisation.
import { PREFERENCE_LOSSES } from '../../kernels/loss_kinds.js';
import { float, int, oneOf, str, strList, subsection } from '../fields.js';

export const learner = {
  loss: oneOf(PREFERENCE_LOSSES, 'dpo', 'preference loss'),
  beta: float(0.1, 1e-6, 100, 'DPO/IPO/hinge temperature (the paper: 0.1)'),
  labelSmoothing: float(0, 0, 0.5, 'conservative DPO label smoothing (later scripts: 0.1)'),
  lr: float(5e-5, 0, 1, 'peak learning rate (cosine with warm-up)'),
  warmupSteps: int(10, 0, 1_000_000, 'linear warm-up steps'),
  totalSteps: int(200, 1, 100_000_000, 'steps in the cosine schedule; the run ends after them'),
  batchSize: int(8, 1, 4096, 'pairs per step'),
  microBatch: int(0, 0, 4096, 'pairs per forward/backward within a step, gradients summed (bounds memory for 100M+ models); 0 = the whole batch at once'),
  gradClip: float(1, 0, 1e6, 'global gradient-norm clip; 0 disables'),
  weightDecay: float(0.01, 0, 1, 'AdamW decoupled weight decay of the policy'),
  maxPolicyLag: int(4, 0, 1_000_000, 'pairs whose samples are more than this many versions old are stale'),
  stalePairs: oneOf(['drop', 'downweight'] as const, 'drop', 'what happens to stale pairs'),
  reference: oneOf(['sft', 'previous'] as const, 'sft', 'reference model: the SFT model (the paper) or the previous published version'),
  publishEvery: int(5, 1, 1_000_000, 'steps between weight publications'),
  checkpointEvery: int(20, 1, 1_000_000, 'steps between checkpoints'),
  phaseStart: oneOf(['labelled', 'arrival'] as const, 'labelled', "iterative/offline modes: when a phase's training starts. labelled = once every pair of the phase is labelled (the paper's loop: training waits while the phase generates, generation waits while it trains); arrival = the first pass trains pairs as they are labelled (the same pairs in the same order, sooner)"),
  phaseThreads: int(0, 0, 256, "GEMM threads of the learner while a phase of the paper's loop trains (learner.phaseStart labelled: generation waits meanwhile, so its cores are free); 0 = every core the process may use. Streaming, and phases that start on arrival, keep compute.nativeThreads"),
  adapter: oneOf(['none', 'lora'] as const, 'none', 'none = full fine-tuning; lora = train low-rank adapters on a frozen base (the learner holds one model: the DPO reference is the base with the adapter off; only the adapter is published and checkpointed)'),
  lora: subsection(
    {
      rank: int(8, 1, 4096, 'LoRA rank r (PEFT default 8)'),
      alpha: float(8, 1e-6, 1e6, 'LoRA alpha; the adapter term is scaled by alpha / rank (PEFT default 8)'),
      dropout: float(0, 0, 0.9, 'dropout on the adapter input in training (PEFT default 0)'),
      from: str('', "a PEFT LoRA folder (adapter_config.json, adapter_model.safetensors) to start the adapter from, e.g. one `export` wrote; its r, lora_alpha and target_modules replace the fields above; '' = a fresh adapter (B = 0)"),
      targetModules: strList([], "projections to adapt by short name (GPT-2: c_attn, c_proj, c_fc; Llama family: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj); [] = all of the model's"),
    },
    'LoRA settings, used when learner.adapter is lora',
  ),
  epochsPerPhase: int(1, 1, 100, 'iterative/offline modes: passes over each phase\'s new pairs (the paper: 2); streaming uses each pair once'),
  syncCheckShare: float(0.05, 0, 1, "weight-sync check: share of pairs whose samples' behaviour log-probs the learner recomputes under the version they name (the first pair of each version is always checked); 0 turns the check off"),
  syncMismatchWarn: float(0.01, 0, 1e6, 'weight-sync check: mean absolute per-token log-prob difference (nats) above which the learner warns that generators sample with other weights than it published'),
  syncMismatchStop: float(0, 0, 1e6, 'weight-sync check: mean absolute per-token log-prob difference (nats) above which the run stops with the reason; 0 never stops'),
};
