// Supervised stage of the policy: LM pre-training on the corpus, then instruction tuning (loss on response tokens only).
import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../kernels/adamw.js';
import { disposeModel, forwardLogits, initGpt, type GptConfig, type GptModel } from '../kernels/gpt.js';
import { lmLoss } from '../kernels/lm_loss.js';
import { deriveSeed, Rng } from '../kernels/rng.js';
import { cosineWithWarmup } from '../kernels/schedule.js';
import type { Config } from '../config/index.js';
import { formatSft, formatText } from '../data/template.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import {
  fitLength,
  randomWindows,
  sequenceBatch,
  sequentialWindowStarts,
  shuffledBatches,
  tokenStream,
  windowsAt,
  type Sequence,
  type TokenBatch,
} from './batches.js';
import { hashInputs, writeManifest } from './manifest.js';
import { optimizeStep } from './optimize.js';
import { ProgressBar, yieldToEvents } from './progress.js';
import { saveModel, type PromptResponse, type SftData, type TrainLog } from './model_io.js';
import { sftDir, sourceIdentity } from '../models/source.js';

export class SftError extends Error {
  override name = 'SftError';
}

export interface TrainOptions {
  log?: TrainLog;
  /** Stops training between steps; the stage then throws and writes no manifest. */
  signal?: AbortSignal;
  /** Show a progress bar on stderr (default true). */
  progress?: boolean;
  /** Re-run the stage even when its manifest matches (upstream stages are still reused). */
  force?: boolean;
}

/** Validation windows and pairs are capped so a validation pass costs seconds, not minutes. */
const MAX_VALID_WINDOWS = 64;
const MAX_VALID_INSTRUCTIONS = 256;

export function policyConfig(cfg: Config, vocabSize: number): GptConfig {
  const m = cfg.model;
  return { vocabSize, contextLength: m.contextLength, layers: m.layers, dModel: m.dModel, heads: m.heads, dropout: m.dropout, positional: m.positional };
}

/** Mean next-token loss over masked positions of one batch, as a number. */
function batchLoss(model: GptModel, b: TokenBatch): { sum: number; count: number } {
  return tf.tidy(() => {
    const input = tf.tensor2d(b.input, [b.batch, b.length], 'int32');
    const target = tf.tensor2d(b.target, [b.batch, b.length], 'int32');
    const mask = tf.tensor2d(b.mask, [b.batch, b.length], 'float32');
    const logits = forwardLogits(model, input, { training: false, seed: 0 }); // [B, T, V]
    const loss = lmLoss(logits, target, mask).dataSync()[0]!;
    const count = b.mask.reduce((s, x) => s + x, 0);
    return { sum: loss * count, count };
  });
}

/** Token-weighted mean loss over batches; perplexity is exp of it. */
export function evaluateLoss(model: GptModel, batches: readonly TokenBatch[]): { loss: number; perplexity: number } {
  let sum = 0;
  let count = 0;
  for (const b of batches) {
    const r = batchLoss(model, b);
    sum += r.sum;
    count += r.count;
  }
  const loss = count > 0 ? sum / count : NaN;
  return { loss, perplexity: Math.exp(loss) };
}

/** One optimizer step of the masked next-token loss on a batch. */
function lmStep(model: GptModel, opt: AdamW, b: TokenBatch, lr: number, clip: number, seed: number): { loss: number; gradNorm: number } {
  const input = tf.tensor2d(b.input, [b.batch, b.length], 'int32');
  const target = tf.tensor2d(b.target, [b.batch, b.length], 'int32');
  const mask = tf.tensor2d(b.mask, [b.batch, b.length], 'float32');
  try {
    const r = optimizeStep(
      model.params,
      () => ({ loss: lmLoss(forwardLogits(model, input, { training: true, seed }), target, mask) }),
      opt,
      { lr, clip },
    );
    return { loss: r.loss, gradNorm: r.gradNorm };
  } finally {
    tf.dispose([input, target, mask]);
  }
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new SftError('training was stopped before it finished; no checkpoint was written');
}

/** Prompt + response in the instruction template; the loss covers the response and its eos (formatSft's mask). */
export function encodeInstruction(tok: TextTokenizer, prompt: string, response: string, maxLength: number): Sequence {
  const ex = formatSft(tok, prompt, response);
  // Long pairs lose the end of the response: the prompt is what conditions it.
  return { ids: ex.ids.slice(0, maxLength + 1), targetStart: ex.lossMask.indexOf(1) };
}

interface PhaseResult {
  steps: number;
  /** Validation loss of the model before the phase. */
  validLossBefore: number;
  msPerStep: number;
  validLoss: number;
  validPerplexity: number;
}

export async function pretrain(model: GptModel, cfg: Config, data: SftData, opts: TrainOptions, log: TrainLog): Promise<PhaseResult> {
  const s = cfg.sft;
  const length = Math.min(s.pretrainLength, cfg.model.contextLength);
  const format = (t: string) => formatText(data.tokenizer, t);
  const train = tokenStream(data.corpus.train, format);
  const valid = tokenStream(data.corpus.valid, format);
  const validBatches = chunk(sequentialWindowStarts(valid, length, MAX_VALID_WINDOWS), s.batchSize).map((st) => windowsAt(valid, st, length));
  log(`sft: pre-training on ${train.length} corpus tokens (${data.corpus.train.length} documents), windows of ${length}, ${s.pretrainSteps} steps`);
  if (validBatches.length === 0) log(`sft: the validation split holds no window of ${length} tokens (a small data slice): pre-train validation loss is n/a`);
  const before = evaluateLoss(model, validBatches);
  if (validBatches.length > 0) log(`sft: pre-train valid loss before ${before.loss.toFixed(3)} (perplexity ${before.perplexity.toFixed(1)})`);
  const opt = new AdamW({ lr: s.lr, weightDecay: s.weightDecay });
  const rng = new Rng(deriveSeed(cfg.compute.seed, 'sft', 'pretrain'));
  const bar = opts.progress === false ? undefined : new ProgressBar('pretrain', s.pretrainSteps);
  const started = performance.now();
  let ema = NaN;
  try {
    for (let step = 0; step < s.pretrainSteps; step++) {
      await yieldToEvents();
      checkAbort(opts.signal);
      const lr = cosineWithWarmup(step, { peakLr: s.lr, warmupSteps: Math.min(s.warmupSteps, s.pretrainSteps), totalSteps: s.pretrainSteps, minLrRatio: 0.1 });
      const r = lmStep(model, opt, randomWindows(train, s.batchSize, length, rng), lr, s.gradClip, deriveSeed(cfg.compute.seed, 'sft', 'dropout', step));
      ema = Number.isNaN(ema) ? r.loss : 0.95 * ema + 0.05 * r.loss;
      bar?.tick(1, `loss ${ema.toFixed(3)} lr ${lr.toExponential(1)}`);
    }
  } finally {
    bar?.close();
    opt.dispose();
  }
  const msPerStep = s.pretrainSteps > 0 ? (performance.now() - started) / s.pretrainSteps : 0;
  const after = evaluateLoss(model, validBatches);
  log(`sft: pre-train ${validBatches.length > 0 ? `valid loss ${after.loss.toFixed(3)} (perplexity ${after.perplexity.toFixed(1)})` : 'done'}, ${msPerStep.toFixed(0)} ms/step`);
  return { steps: s.pretrainSteps, validLossBefore: before.loss, msPerStep, validLoss: after.loss, validPerplexity: after.perplexity };
}

/** Rows of at most `length` tokens, cut to the longest row in the batch: instruction examples are short, padding is waste. */
function instructionBatch(seqs: readonly Sequence[], pad: number, length: number): TokenBatch {
  return sequenceBatch(seqs, pad, fitLength(seqs.map((s) => s.ids.length - 1), length));
}

/** The tuning mix: a seeded selection of instruction pairs plus sentence continuations. */
export function tuningMix(cfg: Config, data: SftData): { train: PromptResponse[]; valid: PromptResponse[] } {
  const rng = new Rng(deriveSeed(cfg.compute.seed, 'sft', 'mix'));
  const pick = <T>(xs: readonly T[], n: number): T[] => rng.shuffle([...xs]).slice(0, n);
  const s = cfg.sft;
  const half = Math.floor(MAX_VALID_INSTRUCTIONS / 2);
  return {
    train: [...pick(data.instructions.train, s.instructionPairs), ...pick(data.continuations.train, s.continuationPairs)],
    valid: [...pick(data.instructions.valid, s.instructionPairs > 0 ? half : 0), ...pick(data.continuations.valid, s.continuationPairs > 0 ? half : 0)],
  };
}

export async function finetune(model: GptModel, cfg: Config, data: SftData, opts: TrainOptions, log: TrainLog): Promise<PhaseResult & { epochs: { validLoss: number; validPerplexity: number }[] }> {
  const s = cfg.sft;
  const length = Math.min(s.instructionLength, cfg.model.contextLength);
  const pad = data.tokenizer.special.pad;
  const mix = tuningMix(cfg, data);
  const train = mix.train.map((x) => encodeInstruction(data.tokenizer, x.prompt, x.response, length));
  const valid = mix.valid.map((x) => encodeInstruction(data.tokenizer, x.prompt, x.response, length));
  const validBatches = chunk(valid, s.batchSize).map((v) => instructionBatch(v, pad, length));
  const stepsPerEpoch = Math.ceil(train.length / s.batchSize);
  const total = stepsPerEpoch * s.epochs;
  log(`sft: tuning on ${train.length} pairs (${valid.length} held out), ${s.epochs} epochs x ${stepsPerEpoch} steps, at most ${length} tokens`);
  const before = evaluateLoss(model, validBatches);
  log(`sft: instruction valid loss before ${before.loss.toFixed(3)} (perplexity ${before.perplexity.toFixed(1)})`);
  const opt = new AdamW({ lr: s.finetuneLr, weightDecay: s.weightDecay });
  const rng = new Rng(deriveSeed(cfg.compute.seed, 'sft', 'finetune'));
  const epochs: { validLoss: number; validPerplexity: number }[] = [];
  const bar = opts.progress === false ? undefined : new ProgressBar('finetune', total);
  const started = performance.now();
  let step = 0;
  let ema = NaN;
  try {
    for (let epoch = 0; epoch < s.epochs; epoch++) {
      for (const idx of shuffledBatches(train.length, s.batchSize, rng)) {
        await yieldToEvents();
      checkAbort(opts.signal);
        const warmup = Math.min(Math.ceil(total / 10), s.warmupSteps);
        const lr = cosineWithWarmup(step, { peakLr: s.finetuneLr, warmupSteps: warmup, totalSteps: total, minLrRatio: 0.1 });
        const batch = instructionBatch(idx.map((i) => train[i]!), pad, length);
        const r = lmStep(model, opt, batch, lr, s.gradClip, deriveSeed(cfg.compute.seed, 'sft', 'dropout-ft', step));
        ema = Number.isNaN(ema) ? r.loss : 0.9 * ema + 0.1 * r.loss;
        step += 1;
        bar?.tick(1, `epoch ${epoch + 1}/${s.epochs} loss ${ema.toFixed(3)}`);
      }
      const v = evaluateLoss(model, validBatches);
      epochs.push({ validLoss: v.loss, validPerplexity: v.perplexity });
      const line = `sft: epoch ${epoch + 1}/${s.epochs} instruction valid loss ${v.loss.toFixed(3)} (perplexity ${v.perplexity.toFixed(2)})`;
      if (bar) bar.log(line);
      else log(line);
    }
  } finally {
    bar?.close();
    opt.dispose();
  }
  const last = epochs.at(-1) ?? { validLoss: before.loss, validPerplexity: before.perplexity };
  return { steps: total, validLossBefore: before.loss, msPerStep: total > 0 ? (performance.now() - started) / total : 0, ...last, epochs };
}

function chunk<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** What the SFT artifact depends on: model shape, the SFT slice, the seed and the data it was trained on. */
export function sftInputs(cfg: Config, data: SftData): Record<string, unknown> {
  // An imported model is identified by its files, not by the tiny model's shape fields.
  const model = cfg.model.source ? { source: sourceIdentity(cfg.model.source) } : cfg.model;
  // continuations: 2 since their responses start with a space.
  return { stage: 'sft', model, sft: cfg.sft, seed: cfg.compute.seed, data: data.hash, promptWords: cfg.data.promptWords, continuations: 2 };
}

/**
 * Trains the SFT policy from scratch and writes its checkpoint (model.safetensors, config.json, tokenizer.json) and
 * manifest; returns the folder. A run from an imported model (model.source) takes importSft instead (stages.ts).
 */
export async function trainSft(cfg: Config, data: SftData, opts: TrainOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const dir = sftDir(cfg);
  const gcfg = policyConfig(cfg, data.tokenizer.vocabSize);
  const started = performance.now();
  const model = initGpt(gcfg, deriveSeed(cfg.compute.seed, 'sft', 'init'), 'lm');
  try {
    const pre = await pretrain(model, cfg, data, opts, log);
    const ft = await finetune(model, cfg, data, opts, log);
    const seconds = (performance.now() - started) / 1000;
    await saveModel(dir, model, { kind: 'policy', head: 'lm', model: gcfg, input: 'formatPrompt(prompt) + response + eos' }, data.tokenizer);
    const summary = { pretrain: pre, finetune: ft, seconds };
    writeManifest(dir, { stage: 'sft', hash: hashInputs(sftInputs(cfg, data)), inputs: sftInputs(cfg, data), files: ['model.safetensors', 'config.json', 'tokenizer.json'], summary });
    log(`sft: done in ${seconds.toFixed(0)} s; checkpoint in ${dir}`);
    return dir;
  } finally {
    disposeModel(model);
  }
}
