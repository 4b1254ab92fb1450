// A PolicyPort over a GptModel in this thread: sampling, weight swaps from safetensors bytes, and sequence log-probs.
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors, encodeSafetensors } from '../../checkpoint/safetensors.js';
import { forwardLogits, setWeights, type GptModel } from '../../kernels/gpt.js';
import { detachLora } from '../../kernels/lora.js';
import { adapterSpecOf, applyAdapter } from './adapter_weights.js';
import { ComputeError } from './compute_error.js';
import { isShared } from '../../streams/shared_memory.js';
import { generateContinuous } from '../../kernels/continuous_sampling.js';
import { packSequences, sequenceLogProbs, tokenLogProbs } from '../../kernels/logprobs.js';
import { generate, type SampleResult } from '../../kernels/sampling.js';
import { weightsRecord } from '../../train/model_io.js';
import type { GenerateOptions, GenerateResult, GroupDone, PolicyPort } from '../ports.js';

export { ComputeError };

export interface SpecialTokens {
  eos: number;
  pad: number;
}

/** The model's weights as safetensors bytes: what the learner publishes and generators load. `shared`: in a SharedArrayBuffer. */
export function encodeWeights(model: GptModel, opts: { shared?: boolean } = {}): Uint8Array {
  return encodeSafetensors(weightsRecord(model), undefined, opts);
}

/**
 * Overwrites the model's weights with safetensors bytes; names and shapes must match exactly. Bytes that hold a LoRA
 * adapter (adapter_weights.ts) are applied to the base the model holds, which stays as it is.
 */
export function loadWeightsInto(model: GptModel, bytes: Uint8Array): void {
  // Shared bytes (one process's base or version, shared_weights.ts) are immutable and outlive the load: read them in
  // place, so the only copy a thread makes is the one into its tensor backend.
  const { tensors, metadata } = decodeSafetensors(bytes, { source: 'published weights', alias: isShared(bytes) });
  const w: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'F32') throw new ComputeError(`weight ${JSON.stringify(name)} is ${t.dtype}; policy weights must be F32`);
    w[name] = { shape: t.shape, data: t.data as Float32Array };
  }
  const spec = adapterSpecOf(metadata);
  if (spec) return applyAdapter(model, spec, w);
  // Full weights replace the whole model: an adapter from an earlier version no longer applies.
  detachLora(model);
  setWeights(model, w);
}

/** Rows per forward pass when scoring log-probs (bounds memory on long batches). */
const LOGPROB_CHUNK = 32;
/** At most this many logits per forward pass: a 50k vocabulary would otherwise need gigabytes for 32 rows. */
const LOGPROB_MAX_LOGITS = 2 ** 25;

/** Rows per chunk for rows of up to `length` tokens. */
function logprobChunk(model: GptModel, prompts: number[][], responses: number[][]): number {
  const length = Math.min(model.cfg.contextLength, Math.max(1, ...prompts.map((p, i) => p.length + responses[i]!.length)));
  return Math.max(1, Math.min(LOGPROB_CHUNK, Math.floor(LOGPROB_MAX_LOGITS / (length * model.cfg.vocabSize))));
}

/** Summed log pi(response | prompt) per row, [N], in chunks; eos counts when the response holds it. */
export function responseLogProbs(model: GptModel, prompts: number[][], responses: number[][], padId: number): number[] {
  if (prompts.length !== responses.length) throw new ComputeError(`got ${prompts.length} prompts but ${responses.length} responses`);
  const out: number[] = [];
  const chunk = logprobChunk(model, prompts, responses);
  for (let i = 0; i < prompts.length; i += chunk) {
    const lp = tf.tidy(() => {
      const p = packSequences(prompts.slice(i, i + chunk), responses.slice(i, i + chunk), padId, model.cfg.contextLength);
      return sequenceLogProbs(forwardLogits(model, p.input), p.target, p.mask); // [n]
    });
    out.push(...(lp.dataSync() as Float32Array));
    lp.dispose();
  }
  return out;
}

/** log pi(y_t | prompt, y<t) of every response token per row, [N][len] (a response cut by the context keeps its first tokens). */
export function responseTokenLogProbs(model: GptModel, prompts: number[][], responses: number[][], padId: number): number[][] {
  if (prompts.length !== responses.length) throw new ComputeError(`got ${prompts.length} prompts but ${responses.length} responses`);
  const out: number[][] = [];
  for (let i = 0; i < prompts.length; i += LOGPROB_CHUNK) {
    const [lp, mask] = tf.tidy(() => {
      const p = packSequences(prompts.slice(i, i + LOGPROB_CHUNK), responses.slice(i, i + LOGPROB_CHUNK), padId, model.cfg.contextLength);
      return [tokenLogProbs(forwardLogits(model, p.input), p.target), p.mask]; // [n, L] each
    });
    const [n, l] = lp.shape as [number, number];
    const v = lp.dataSync() as Float32Array;
    const m = mask.dataSync() as Float32Array;
    tf.dispose([lp, mask]);
    for (let r = 0; r < n; r++) {
      const row: number[] = [];
      for (let t = 0; t < l; t++) if (m[r * l + t] === 1) row.push(v[r * l + t]!);
      out.push(row);
    }
  }
  return out;
}

/** In-flight updates inside one sampling call: the check between decoding steps and the version held at its start. */
export interface InFlightHook {
  /** Adopts the newest weights offered since the last check; returns their version, or undefined when none. */
  update: () => number | undefined;
  version: number;
}

/**
 * Samples K responses per prompt: the P prompts are repeated K times into P*K rows, each with its own stream, decoded in
 * one batch or, with opts.slots, continuously (onGroup then hears of each group the moment its last row ends). With
 * opts.inFlightCheckTokens and `inFlight`, weights may change between decoding steps (continuous batching only).
 */
export function sampleGroups(model: GptModel, prompts: number[][], k: number, opts: GenerateOptions, special: SpecialTokens, onGroup?: GroupDone, inFlight?: InFlightHook): GenerateResult {
  const rows = prompts.flatMap((p) => Array.from({ length: k }, () => p));
  const { slots, inFlightCheckTokens, ...rest } = opts;
  const so = { ...rest, eosId: special.eos, padId: special.pad };
  const group = <T>(xs: T[], p: number): T[] => xs.slice(p * k, (p + 1) * k);
  let r: SampleResult;
  let versions: [number, number][] | undefined;
  if (slots) {
    const left = prompts.map(() => k);
    const tokens: number[][] = [];
    const finished: boolean[] = [];
    const logprobs: number[][] = [];
    const vs: [number, number][] = [];
    const updates = inFlight ? { version: inFlight.version, ...(inFlightCheckTokens ? { update: inFlight.update, updateEvery: inFlightCheckTokens } : {}) } : {};
    r = generateContinuous(model, rows, so, {
      slots,
      ...updates,
      onDone: (row, resp) => {
        tokens[row] = resp.tokens;
        finished[row] = resp.finished;
        logprobs[row] = resp.tokenLogprobs;
        vs[row] = [resp.firstVersion, resp.lastVersion];
        const p = Math.floor(row / k);
        if (--left[p]! === 0 && onGroup) onGroup(p, group(tokens, p), group(finished, p), { logprobs: group(logprobs, p), versions: group(vs, p) });
      },
    });
    versions = vs;
  } else {
    r = generate(model, rows, so);
    if (onGroup) prompts.forEach((_, p) => onGroup(p, group(r.tokens, p), group(r.finished, p), { logprobs: group(r.tokenLogprobs, p) }));
  }
  return {
    tokens: prompts.map((_, i) => group(r.tokens, i)),
    finished: prompts.map((_, i) => group(r.finished, i)),
    logprobs: prompts.map((_, i) => group(r.tokenLogprobs, i)),
    ...(versions ? { versions: prompts.map((_, i) => group(versions, i)) } : {}),
  };
}

/** In-thread policy: simple, and blocks the event loop while it computes (WorkerPolicy moves the same work off it). */
export class LocalPolicy implements PolicyPort {
  version = 0;
  constructor(
    readonly model: GptModel,
    private readonly special: SpecialTokens,
  ) {}

  /** Weights offered for in-flight adoption; this port samples on the caller's thread, so only offers made before a call reach it. */
  private offered: { version: number; bytes: Uint8Array } | undefined;

  async generate(prompts: number[][], k: number, opts: GenerateOptions, onGroup?: GroupDone): Promise<GenerateResult> {
    const update = (): number | undefined => {
      const o = this.offered;
      if (!o) return undefined;
      this.offered = undefined;
      loadWeightsInto(this.model, o.bytes);
      return (this.version = o.version);
    };
    try {
      return sampleGroups(this.model, prompts, k, opts, this.special, onGroup, { update, version: this.version });
    } finally {
      this.offered = undefined;
    }
  }

  offerWeights(version: number, bytes: Uint8Array): void {
    if (version > (this.offered?.version ?? this.version)) this.offered = { version, bytes };
  }

  async loadWeights(version: number, bytes: Uint8Array): Promise<void> {
    loadWeightsInto(this.model, bytes);
    this.version = version;
  }

  async logprobs(prompts: number[][], responses: number[][]): Promise<number[]> {
    return responseLogProbs(this.model, prompts, responses, this.special.pad);
  }

  async tokenLogprobs(prompts: number[][], responses: number[][]): Promise<number[][]> {
    return responseTokenLogProbs(this.model, prompts, responses, this.special.pad);
  }

  async close(): Promise<void> {}
}
