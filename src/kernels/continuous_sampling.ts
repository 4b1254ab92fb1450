// Continuous batching: a fixed number of decoding slots; a row that ends (eos or maxNewTokens) is refilled with the
// next prompt at once instead of idling until the longest row of its batch ends.
import type * as tf from '@tensorflow/tfjs-core';
import type { GptModel } from './gpt.js';
import { disposeCache, forwardCached, gatherCacheRows, type KvCache, type RowSource } from './kv_cache.js';
import { deriveSeed, Rng } from './rng.js';
import { leftPad, preparePrompts, SamplingError, sampleWithLogProb, type SampleOptions, type SampleResult } from './sampling.js';

export interface ContinuousOptions {
  /** Rows decoded together (the batch width); prompts beyond it wait for a slot to free up. */
  slots: number;
  /**
   * Free slots that trigger a refill (default max(1, slots / 8)): each refill prefills the waiting prompts and rebuilds
   * the cache, so gathering a few amortises that cost against a few rows idling for a step or two.
   */
  refillAt?: number;
  /** Called as soon as prompt `index`'s response is complete, before later prompts finish. */
  onDone?: (index: number, response: ContinuousResponse) => void;
  /**
   * In-flight weight updates: called between decoding steps, at most every `updateEvery` steps. It may replace the
   * model's weights in place (same shapes) and returns the version it holds now, or undefined when nothing changed.
   * Rows keep their KV cache (computed by the older weights, as PipelineRL does) and continue with the new weights.
   */
  update?: () => number | undefined;
  /** Decoding steps between update checks (default 1). */
  updateEvery?: number;
  /** The version the model holds at the start (recorded on each response; default 0). */
  version?: number;
}

export interface ContinuousResponse {
  tokens: number[];
  finished: boolean;
  logprob: number;
  tokenLogprobs: number[];
  /** The version that sampled the response's first token and the one that sampled its last. */
  firstVersion: number;
  lastVersion: number;
}

/** Prompt index held by each slot, -1 for a free slot. */
type Slots = number[];

/**
 * Samples the same responses as generate(model, prompts, opts) (prompt i draws from the stream derived from
 * (seed, i) whichever slot it lands in; padding is masked, so only float rounding can differ), with at most
 * `slots` rows decoding at once and finished rows refilled from the queue.
 */
export function generateContinuous(model: GptModel, prompts: number[][], opts: SampleOptions, cont: ContinuousOptions): SampleResult {
  if (!Number.isInteger(cont.slots) || cont.slots < 1) throw new SamplingError(`slots must be an integer >= 1; got ${cont.slots}`);
  const kept = preparePrompts(model, prompts, opts);
  const n = prompts.length;
  const tokens: number[][] = prompts.map(() => []);
  const finished = prompts.map(() => false);
  const logprobs = prompts.map(() => 0);
  const tokenLogprobs: number[][] = prompts.map(() => []);
  if (n === 0) return { tokens, finished, logprobs, tokenLogprobs };
  let version = cont.version ?? 0;
  const firstVersion: number[] = prompts.map(() => version);
  const lastVersion: number[] = prompts.map(() => version);
  const done = (i: number): void =>
    cont.onDone?.(i, { tokens: tokens[i]!, finished: finished[i]!, logprob: logprobs[i]!, tokenLogprobs: tokenLogprobs[i]!, firstVersion: firstVersion[i]!, lastVersion: lastVersion[i]! });
  const updateEvery = cont.updateEvery ?? 1;
  if (!Number.isInteger(updateEvery) || updateEvery < 1) throw new SamplingError(`updateEvery must be an integer >= 1; got ${updateEvery}`);
  let steps = 0;
  if (opts.maxNewTokens === 0) {
    for (let i = 0; i < n; i++) done(i);
    return { tokens, finished, logprobs, tokenLogprobs };
  }
  const v = model.cfg.vocabSize;
  let width = Math.min(cont.slots, n);
  const rngs = new Map<number, Rng>();
  const rngOf = (i: number): Rng => {
    let r = rngs.get(i);
    if (!r) rngs.set(i, (r = new Rng(deriveSeed(opts.seed, 'sample', i))));
    return r;
  };
  const refillAt = cont.refillAt ?? Math.max(1, Math.floor(width / 8));
  if (!Number.isInteger(refillAt) || refillAt < 1) throw new SamplingError(`refillAt must be an integer >= 1; got ${refillAt}`);
  let slots: Slots = Array.from({ length: width }, (_, r) => r);
  let queued = width;
  let cache: KvCache | null = null;
  /** Next-token logits per slot ([V] views), for the slots that hold a prompt. */
  let pending: (Float32Array | undefined)[] = new Array(width);
  try {
    const first = prefill(model, kept.slice(0, width), opts.padId);
    cache = first.cache;
    first.rows.forEach((row, r) => (pending[r] = row));
    for (;;) {
      const next: number[] = new Array(width).fill(opts.padId);
      const active: number[] = new Array(width).fill(0);
      let freedNow = 0;
      for (let r = 0; r < width; r++) {
        const i = slots[r]!;
        if (i < 0) continue;
        const { id, logprob } = sampleWithLogProb(pending[r]!, opts.temperature, opts.topK, opts.topP, rngOf(i));
        if (tokens[i]!.length === 0) firstVersion[i] = version;
        lastVersion[i] = version;
        logprobs[i]! += logprob;
        tokenLogprobs[i]!.push(logprob);
        tokens[i]!.push(id);
        if (id === opts.eosId || tokens[i]!.length === opts.maxNewTokens) {
          finished[i] = id === opts.eosId;
          rngs.delete(i);
          done(i);
          slots[r] = -1;
          pending[r] = undefined;
          freedNow++;
        } else {
          next[r] = id;
          active[r] = 1;
        }
      }
      const free = slots.flatMap((i, r) => (i < 0 ? [r] : []));
      const waiting = n - queued;
      // Refill once enough slots are free, or at once when nothing else would run or the queue holds no more.
      const due = waiting > 0 && (free.length >= refillAt || !active.includes(1) || free.length >= waiting);
      const refill = due ? free.slice(0, waiting) : [];
      if (!active.includes(1) && refill.length === 0) break;
      // Between decoding steps: newer weights, if any, compute every logit from here on (pending ones were computed
      // by the older weights and are sampled as they are, like the kept cache).
      if (cont.update && ++steps % updateEvery === 0) version = cont.update() ?? version;
      if (active.includes(1)) {
        const step: { logits: tf.Tensor2D; cache: KvCache } = forwardCached(model, cache, next.map((id) => [id]), active.map((a) => [a]));
        disposeCache(cache);
        cache = step.cache;
        const all = step.logits.dataSync() as Float32Array;
        step.logits.dispose();
        for (let r = 0; r < width; r++) if (active[r] === 1) pending[r] = all.slice(r * v, (r + 1) * v);
      }
      if (refill.length > 0) cache = refillSlots(model, cache, slots, refill, kept, queued, opts.padId, pending);
      queued += refill.length;
      const live = slots.flatMap((i, r) => (i >= 0 ? [r] : []));
      if (waiting === 0 && freedNow > 0 && live.length > 0 && live.length <= width / 2) {
        // The queue is empty and half the rows are done: drop them from the batch instead of computing padding.
        const shrunk = gatherCacheRows([cache], live.map((r) => ({ source: 0, row: r })));
        disposeCache(cache);
        cache = shrunk;
        slots = live.map((r) => slots[r]!);
        pending = live.map((r) => pending[r]);
        width = live.length;
      }
    }
  } finally {
    if (cache) disposeCache(cache);
  }
  return { tokens, finished, logprobs, tokenLogprobs };
}

/** Runs left-padded prompts through the model: their cache and each row's next-token logits. */
function prefill(model: GptModel, rows: number[][], padId: number): { cache: KvCache; rows: Float32Array[] } {
  const { padded, valid } = leftPad(rows, padId);
  const out = forwardCached(model, null, padded, valid);
  const all = out.logits.dataSync() as Float32Array;
  out.logits.dispose();
  const v = model.cfg.vocabSize;
  return { cache: out.cache, rows: rows.map((_, r) => all.slice(r * v, (r + 1) * v)) };
}

/**
 * Puts the next queued prompts into the `refill` slots (prefilled together as one small batch) and compacts the cache:
 * freed slots that get no prompt become empty rows. Returns the new cache; the old one is disposed.
 */
function refillSlots(
  model: GptModel,
  cache: KvCache,
  slots: Slots,
  refill: number[],
  kept: number[][],
  queued: number,
  padId: number,
  pending: (Float32Array | undefined)[],
): KvCache {
  let fresh: KvCache | null = null;
  if (refill.length > 0) {
    const p = prefill(model, refill.map((_, j) => kept[queued + j]!), padId);
    fresh = p.cache;
    refill.forEach((r, j) => {
      slots[r] = queued + j;
      pending[r] = p.rows[j];
    });
  }
  const picks: RowSource[] = slots.map((i, r) => {
    if (i < 0) return null;
    const j = refill.indexOf(r);
    return j >= 0 ? { source: 1, row: j } : { source: 0, row: r };
  });
  try {
    return gatherCacheRows(fresh ? [cache, fresh] : [cache], picks);
  } finally {
    disposeCache(cache);
    if (fresh) disposeCache(fresh);
  }
}
