// Batched autoregressive sampling with a KV cache: temperature, top-k and nucleus (top-p) filtering, seeded per row.
import type { GptModel } from './gpt.js';
import { disposeCache, forwardCached } from './kv_cache.js';
import { deriveSeed, Rng } from './rng.js';

export class SamplingError extends Error {
  override name = 'SamplingError';
}

export interface SampleOptions {
  maxNewTokens: number;
  /** 0 means greedy (argmax). */
  temperature: number;
  /** Keep only the k most likely tokens; 0 turns the filter off. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches topP; 1 turns the filter off. */
  topP: number;
  eosId: number;
  padId: number;
  seed: number;
}

export interface SampleResult {
  /** Response ids per prompt, eos included when produced. */
  tokens: number[][];
  /** Whether each row stopped at eos (false: it ran out of maxNewTokens). */
  finished: boolean[];
  /** Sum of the sampled tokens' log-probabilities under the unfiltered policy at temperature 1. */
  logprobs: number[];
  /** Each sampled token's log-probability, as summed in `logprobs`: the behaviour log-probs a weight-sync check compares. */
  tokenLogprobs: number[][];
}

function validate(opts: SampleOptions, contextLength: number): void {
  const { maxNewTokens, temperature, topK, topP } = opts;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0 || maxNewTokens >= contextLength) {
    throw new SamplingError(`maxNewTokens must be an integer in [0, ${contextLength - 1}] (below contextLength); got ${maxNewTokens}`);
  }
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new SamplingError(`temperature must be a number >= 0; got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new SamplingError(`topK must be an integer >= 0 (0 = off); got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new SamplingError(`topP must be in (0, 1] (1 = off); got ${topP}`);
  if (!Number.isInteger(opts.seed)) throw new SamplingError(`seed must be an integer; got ${opts.seed}`);
}

/** log sum exp of a row, in float64. */
function logSumExp(row: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > m) m = row[i]!;
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - m);
  return m + Math.log(s);
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Indices of the k largest entries, largest first (ties: lower index first). */
function topIndices(row: Float32Array, k: number): number[] {
  if (k >= row.length / 8) {
    const all = Array.from({ length: row.length }, (_, i) => i);
    all.sort((a, b) => row[b]! - row[a]! || a - b);
    return all.slice(0, k);
  }
  // Small k: keep a sorted list of the best k seen (O(V k)), cheaper than sorting the whole vocabulary.
  const best: number[] = [];
  for (let i = 0; i < row.length; i++) {
    const x = row[i]!;
    if (best.length === k && x <= row[best[k - 1]!]!) continue;
    let j = best.length === k ? k - 1 : best.length;
    while (j > 0 && row[best[j - 1]!]! < x) {
      best[j] = best[j - 1]!;
      j--;
    }
    best[j] = i;
  }
  return best;
}

/**
 * Draws one token id from a row of logits [V] after temperature, top-k and top-p filtering, using one uniform from rng.
 * Temperature 0 or topK 1 is greedy and draws nothing.
 */
/**
 * Samples one id and returns its log-probability under the unfiltered, temperature-1 policy.
 * The paper's setting (temperature 1, no top-k, top-p 1) shares one exp pass between the draw and the
 * normaliser; it draws exactly what sampleFromLogits draws from the same generator state.
 */
export function sampleWithLogProb(row: Float32Array, temperature: number, topK: number, topP: number, rng: Rng): { id: number; logprob: number } {
  const plain = temperature === 1 && (topK <= 0 || topK >= row.length) && topP >= 1;
  if (!plain) {
    const id = sampleFromLogits(row, temperature, topK, topP, rng);
    return { id, logprob: row[id]! - logSumExp(row) };
  }
  const v = row.length;
  let m = -Infinity;
  for (let i = 0; i < v; i++) if (row[i]! > m) m = row[i]!;
  const w = new Float64Array(v);
  let total = 0;
  for (let i = 0; i < v; i++) {
    w[i] = Math.exp(row[i]! - m);
    total += w[i]!;
  }
  const u = rng.next() * total;
  let acc = 0;
  let id = v - 1;
  for (let i = 0; i < v; i++) {
    acc += w[i]!;
    if (u < acc) {
      id = i;
      break;
    }
  }
  return { id, logprob: row[id]! - m - Math.log(total) };
}

export function sampleFromLogits(row: Float32Array, temperature: number, topK: number, topP: number, rng: Rng): number {
  if (temperature === 0 || topK === 1) return argmax(row);
  const v = row.length;
  const filterK = topK > 0 && topK < v;
  let candidates: number[] | undefined = filterK ? topIndices(row, topK) : undefined;
  if (topP < 1 && !candidates) candidates = topIndices(row, v);
  const ids = candidates ?? null;
  const n = ids ? ids.length : v;
  const at = (i: number): number => (ids ? ids[i]! : i);
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, row[at(i)]!);
  const w = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    w[i] = Math.exp((row[at(i)]! - m) / temperature);
    total += w[i]!;
  }
  let count = n;
  if (topP < 1) {
    // Candidates are sorted most likely first: keep the shortest prefix whose mass reaches topP.
    let mass = 0;
    count = 0;
    while (count < n && mass < topP * total) mass += w[count++]!;
    total = mass;
  }
  const u = rng.next() * total;
  let acc = 0;
  for (let i = 0; i < count; i++) {
    acc += w[i]!;
    if (u < acc) return at(i);
  }
  return at(count - 1);
}

/**
 * Samples responses for prompts of different lengths in one batch. Prompts are cut from the left to
 * contextLength - maxNewTokens tokens and left-padded to a common length (padding is masked out and positions count
 * real tokens only, so each row computes what it would alone). A row stops after producing eosId; every row draws from
 * its own stream derived from (seed, row).
 */
/**
 * Validates options and prompts and cuts each prompt from the left to contextLength - maxNewTokens tokens (what both
 * the batched and the continuous sampler feed the model).
 */
export function preparePrompts(model: GptModel, prompts: number[][], opts: SampleOptions): number[][] {
  const { cfg } = model;
  validate(opts, cfg.contextLength);
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new SamplingError(`prompt ${i} is empty: every prompt needs at least one token (e.g. a BOS id)`);
    for (const id of p) {
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) {
        throw new SamplingError(`prompt ${i} holds token id ${id}; ids must be integers in [0, ${cfg.vocabSize - 1}]`);
      }
    }
  });
  const budget = cfg.contextLength - opts.maxNewTokens;
  return prompts.map((p) => (p.length > budget ? p.slice(p.length - budget) : p));
}

/** Left-pads rows to a common width: the padded ids and the valid mask (0 over padding). */
export function leftPad(rows: number[][], padId: number): { padded: number[][]; valid: number[][] } {
  const width = Math.max(...rows.map((p) => p.length));
  return {
    padded: rows.map((p) => [...Array<number>(width - p.length).fill(padId), ...p]),
    valid: rows.map((p) => [...Array<number>(width - p.length).fill(0), ...Array<number>(p.length).fill(1)]),
  };
}

/**
 * Samples responses for prompts of different lengths in one batch. Prompts are cut from the left to
 * contextLength - maxNewTokens tokens and left-padded to a common length (padding is masked out and positions count
 * real tokens only, so each row computes what it would alone). A row stops after producing eosId; every row draws from
 * its own stream derived from (seed, row).
 */
export function generate(model: GptModel, prompts: number[][], opts: SampleOptions): SampleResult {
  const { cfg } = model;
  const kept = preparePrompts(model, prompts, opts);
  if (prompts.length === 0) return { tokens: [], finished: [], logprobs: [], tokenLogprobs: [] };
  const b = prompts.length;
  const { padded, valid } = leftPad(kept, opts.padId);

  const rngs = Array.from({ length: b }, (_, r) => new Rng(deriveSeed(opts.seed, 'sample', r)));
  const tokens: number[][] = prompts.map(() => []);
  const finished = prompts.map(() => false);
  const logprobs = prompts.map(() => 0);
  const tokenLogprobs: number[][] = prompts.map(() => []);
  if (opts.maxNewTokens === 0) return { tokens, finished, logprobs, tokenLogprobs };

  let step = forwardCached(model, null, padded, valid);
  try {
    for (let s = 0; s < opts.maxNewTokens; s++) {
      const all = step.logits.dataSync() as Float32Array; // [B * V]
      step.logits.dispose();
      const v = cfg.vocabSize;
      const active = finished.map((f) => !f);
      const next: number[] = [];
      for (let r = 0; r < b; r++) {
        if (!active[r]) {
          next.push(opts.padId);
          continue;
        }
        const row = all.subarray(r * v, (r + 1) * v);
        const { id, logprob } = sampleWithLogProb(row, opts.temperature, opts.topK, opts.topP, rngs[r]!);
        logprobs[r]! += logprob;
        tokenLogprobs[r]!.push(logprob);
        tokens[r]!.push(id);
        if (id === opts.eosId) finished[r] = true;
        next.push(id);
      }
      if (finished.every((f) => f) || s === opts.maxNewTokens - 1) break;
      const prev = step.cache;
      step = forwardCached(model, prev, next.map((id) => [id]), active.map((a) => [a ? 1 : 0]));
      disposeCache(prev);
    }
  } finally {
    if (!step.logits.isDisposed) step.logits.dispose();
    disposeCache(step.cache);
  }
  return { tokens, finished, logprobs, tokenLogprobs };
}
