// The LearnerPort with real models: a trainable policy (or its LoRA adapter) and a frozen reference, a preference loss, AdamW with cosine schedule and clipping.
import * as tf from '@tensorflow/tfjs-core';
import { loadCheckpoint, NoCheckpointError, saveCheckpoint } from '../../checkpoint/checkpoint.js';
import type { TensorRecord } from '../../checkpoint/safetensors.js';
import type { Config } from '../../config/index.js';
import { AdamW, type OptimizerState } from '../../kernels/adamw.js';
import { forwardLogits, gptParamShapes, setWeights, type GptModel } from '../../kernels/gpt.js';
import { packSequences, sequenceLogProbs } from '../../kernels/logprobs.js';
import { preferenceLoss } from '../../kernels/losses.js';
import { setLoraWeights, withoutAdapter } from '../../kernels/lora.js';
import { deriveSeed } from '../../kernels/rng.js';
import { setGemmThreads } from '../../kernels/native/index.js';
import { cosineWithWarmup } from '../../kernels/schedule.js';
import { weightsRecord } from '../../train/model_io.js';
import { optimizeStepAccumulated, type LossOutput } from '../../train/optimize.js';
import type { PairMsg } from '../../streams/topics.js';
import type { LearnerPort, StepStats } from '../ports.js';
import { adapterRecord, encodeAdapter } from './adapter_weights.js';
import { ComputeError, encodeWeights, responseLogProbs } from './local_policy.js';

export interface DpoLearnerOptions {
  /** Trained in place; starts as the SFT model (warm start). */
  policy: GptModel;
  /**
   * Frozen; the SFT model by default (the paper: updating it is less stable). Absent when the policy carries a LoRA
   * adapter: the reference is then the policy with its adapter switched off (no second copy of the model).
   */
  reference?: GptModel;
  config: Config['learner'];
  padId: number;
  seed: number;
  weightDecay?: number;
}

/** Reference weights ride in the optimizer file under this prefix when learner.reference is 'previous' (one atomic checkpoint). */
const REF_PREFIX = 'reference/';

function f32(rec: TensorRecord): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, t] of Object.entries(rec)) out[k] = { shape: t.shape, data: t.data as Float32Array };
  return out;
}

export class DpoLearner implements LearnerPort {
  private readonly opt: AdamW;
  private steps = 0;

  constructor(private readonly o: DpoLearnerOptions) {
    if (o.policy.head !== 'lm' || (o.reference && o.reference.head !== 'lm')) throw new ComputeError('policy and reference must be language models (head lm)');
    if (!o.reference && !o.policy.lora) throw new ComputeError('a learner without a reference model needs a policy with a LoRA adapter (the reference is its base)');
    if (o.policy.lora && o.config.reference === 'previous') throw new ComputeError('learner.reference previous is not available with learner.adapter lora (the reference is the base model)');
    this.opt = new AdamW({ lr: o.config.lr, weightDecay: o.weightDecay ?? 0 });
  }

  get stepCount(): number {
    return this.steps;
  }

  /** What the optimizer trains: the adapter's tensors when the policy has one (the base stays frozen), else every parameter. */
  private get trainable(): Record<string, tf.Variable> {
    return this.o.policy.lora ? this.o.policy.lora.params : this.o.policy.params;
  }

  /** Summed response log-probs of chosen and rejected under the frozen reference: constants of the loss. */
  private referenceLogProbs(pairs: PairMsg[]): { chosen: number[]; rejected: number[] } {
    const prompts = pairs.map((p) => p.promptTokens);
    const ps = [...prompts, ...prompts];
    const rs = [...pairs.map((p) => p.chosen.responseTokens), ...pairs.map((p) => p.rejected.responseTokens)];
    const ref = this.o.reference;
    const all = ref ? responseLogProbs(ref, ps, rs, this.o.padId) : withoutAdapter(this.o.policy, () => responseLogProbs(this.o.policy, ps, rs, this.o.padId));
    return { chosen: all.slice(0, pairs.length), rejected: all.slice(pairs.length) };
  }

  async step(pairs: PairMsg[], weights: number[]): Promise<StepStats> {
    if (pairs.length === 0 || weights.length !== pairs.length) throw new ComputeError(`a step needs pairs and one weight each; got ${pairs.length} pairs, ${weights.length} weights`);
    const c = this.o.config;
    const n = pairs.length;
    const ref = this.referenceLogProbs(pairs);
    const lr = cosineWithWarmup(this.steps, { peakLr: c.lr, warmupSteps: Math.min(c.warmupSteps, c.totalSteps), totalSteps: c.totalSteps });
    const seed = deriveSeed(this.o.seed, 'dpo', this.steps);
    // Micro-batches bound the activation memory of one forward/backward (a 100M+ model on the 4 GiB wasm heap); each part
    // returns its share of the batch's weighted-mean loss, so the summed gradient is the whole batch's.
    const size = c.microBatch > 0 ? c.microBatch : n;
    const totalWeight = weights.reduce((s, w) => s + w, 0);
    const parts: (() => LossOutput)[] = [];
    for (let at = 0; at < n; at += size) {
      const idx = Array.from({ length: Math.min(size, n - at) }, (_, i) => at + i);
      const partWeight = idx.reduce((s, i) => s + weights[i]!, 0);
      parts.push(() => this.partLoss(pairs, weights, ref, idx, deriveSeed(seed, 'part', at), totalWeight > 0 ? partWeight / totalWeight : idx.length / n, idx.length / n));
    }
    const r = optimizeStepAccumulated(this.trainable, parts, this.opt, { lr, clip: c.gradClip });
    this.steps++;
    return { loss: r.loss, gradNorm: r.gradNorm, lr, rewardMargin: r.extras.rewardMargin!, rewardAccuracy: r.extras.rewardAccuracy!, chosenLogRatio: r.extras.chosenLogRatio!, pairKl: r.extras.pairKl! };
  }

  /**
   * The loss of pairs `idx` with their log-probs under the policy, scaled by `lossShare` (its share of the batch's
   * weights); extras (means over pairs) scaled by `share` (its share of the pairs).
   */
  private partLoss(pairs: PairMsg[], weights: number[], ref: { chosen: number[]; rejected: number[] }, idx: number[], seed: number, lossShare: number, share: number): LossOutput {
    const c = this.o.config;
    const k = idx.length;
    const prompts = idx.map((i) => pairs[i]!.promptTokens);
    const responses = [...idx.map((i) => pairs[i]!.chosen.responseTokens), ...idx.map((i) => pairs[i]!.rejected.responseTokens)];
    // Chosen and rejected go through one forward pass: [2k, L].
    const packed = packSequences([...prompts, ...prompts], responses, this.o.padId, this.o.policy.cfg.contextLength);
    const lp = sequenceLogProbs(forwardLogits(this.o.policy, packed.input, { training: true, seed }), packed.target, packed.mask); // [2k]
    const policyChosen = tf.slice(lp, [0], [k]) as tf.Tensor1D;
    const policyRejected = tf.slice(lp, [k], [k]) as tf.Tensor1D;
    const refChosen = tf.tensor1d(idx.map((i) => ref.chosen[i]!));
    const out = preferenceLoss(c.loss, {
      policyChosen,
      policyRejected,
      refChosen,
      refRejected: tf.tensor1d(idx.map((i) => ref.rejected[i]!)),
      beta: c.beta,
      labelSmoothing: c.labelSmoothing,
      weights: tf.tensor1d(idx.map((i) => weights[i]!)),
    });
    const gap = tf.sub(out.chosenRewards, out.rejectedRewards); // [k]
    return {
      loss: tf.mul(out.loss, lossShare) as tf.Scalar,
      extras: {
        rewardMargin: tf.mul(tf.mean(gap), share) as tf.Scalar,
        rewardAccuracy: tf.mul(tf.mean(tf.cast(tf.greater(gap, 0), 'float32')), share) as tf.Scalar,
        // log pi/ref on the chosen responses only: a drift signal, not a KL (chosen = best of K by the proxy).
        chosenLogRatio: tf.mul(tf.mean(tf.sub(policyChosen, refChosen)), share) as tf.Scalar,
        // log pi/ref over every response of the part (chosen and rejected), before this step's update: see StepStats.pairKl.
        pairKl: tf.mul(tf.mean(tf.sub(lp, tf.tensor1d([...idx.map((i) => ref.chosen[i]!), ...idx.map((i) => ref.rejected[i]!)]))), share) as tf.Scalar,
      },
    };
  }

  async setThreads(threads: number): Promise<number> {
    return setGemmThreads(threads);
  }

  async exportWeights(): Promise<Uint8Array> {
    // With an adapter only the adapter travels: generators apply it to the base they loaded once.
    if (this.o.policy.lora) return encodeAdapter(this.o.policy);
    const bytes = encodeWeights(this.o.policy);
    // With reference 'previous', the version just published becomes the anchor of the next steps (mirror-descent style).
    if (this.o.config.reference === 'previous' && this.o.reference) setWeights(this.o.reference, f32(weightsRecord(this.o.policy)));
    return bytes;
  }

  async saveCheckpoint(dir: string, state: Record<string, unknown>): Promise<void> {
    const optimizer: TensorRecord = { ...this.opt.exportState() };
    if (this.o.config.reference === 'previous' && this.o.reference) {
      for (const [k, t] of Object.entries(weightsRecord(this.o.reference))) optimizer[REF_PREFIX + k] = t;
    }
    const lora = this.o.policy.lora;
    await saveCheckpoint(dir, {
      // With an adapter the checkpoint holds the adapter and its optimizer state only; the base is the run's SFT model.
      weights: lora ? adapterRecord(this.o.policy) : weightsRecord(this.o.policy),
      config: { kind: 'policy', head: 'lm', model: this.o.policy.cfg, learner: this.o.config, ...(lora ? { adapter: { kind: 'lora', ...lora.spec } } : {}) },
      optimizer,
      state: { ...state, learnerComputeSteps: this.steps },
    });
  }

  async loadCheckpoint(dir: string): Promise<Record<string, unknown> | undefined> {
    let ck;
    try {
      const lora = this.o.policy.lora;
      ck = await loadCheckpoint(dir, { names: lora ? Object.fromEntries(Object.entries(lora.params).map(([n, p]) => [n, [...p.shape]])) : gptParamShapes(this.o.policy.cfg, 'lm') });
    } catch (err) {
      if (err instanceof NoCheckpointError) return undefined;
      throw err;
    }
    if (this.o.policy.lora) setLoraWeights(this.o.policy, f32(ck.weights));
    else setWeights(this.o.policy, f32(ck.weights));
    if (ck.optimizer) {
      const adam: OptimizerState = {};
      const ref: TensorRecord = {};
      for (const [k, t] of Object.entries(ck.optimizer)) {
        if (k.startsWith(REF_PREFIX)) ref[k.slice(REF_PREFIX.length)] = t;
        else adam[k] = t;
      }
      this.opt.importState(adam);
      if (Object.keys(ref).length > 0 && this.o.reference) setWeights(this.o.reference, f32(ref));
    }
    const state = ck.state ?? {};
    this.steps = typeof state.learnerComputeSteps === 'number' ? state.learnerComputeSteps : 0;
    return state;
  }

  async close(): Promise<void> {
    this.opt.dispose();
  }
}
