// Incremental decoding: forward only the new tokens of each row, attending over keys and values cached from earlier steps.
import * as tf from '@tensorflow/tfjs-core';
import { cachedBias } from './attention.js';
import { forwardStack, GptError, tiedLogits, type GptModel, type LayerKv } from './gpt.js';

export interface KvCache {
  /** Per layer: keys stored transposed [B, H, hd, S] (attention multiplies by them directly) and values [B, H, S, hd]. */
  layers: LayerKv[];
  /** valid[b][s] is 1 where cached column s of row b holds a real token, 0 for padding or a row that stopped. */
  valid: number[][];
  /** Position id the next real token of each row takes (rows may hold prompts of different lengths). */
  nextPosition: number[];
}

/** Columns cached so far. */
export function cacheLength(cache: KvCache): number {
  return cache.valid[0]?.length ?? 0;
}

export function disposeCache(cache: KvCache): void {
  for (const l of cache.layers) {
    l.kT.dispose();
    l.v.dispose();
  }
  cache.layers = [];
}

/**
 * Runs new columns tokens [B][Tn] (valid[b][j] = 0 marks padding, e.g. the left padding of a shorter prompt or a row that
 * already stopped) on top of `cache` (null: an empty one). Real tokens take consecutive positions per row, padding is
 * never attended to. Returns the logits of the last new column [B, V] (meaningful for rows whose last column is real)
 * and a new cache; the old cache is left as it was (dispose it with disposeCache).
 */
export function forwardCached(
  model: GptModel,
  cache: KvCache | null,
  tokens: number[][],
  valid?: number[][],
): { logits: tf.Tensor2D; cache: KvCache } {
  const b = tokens.length;
  const tn = tokens[0]?.length ?? 0;
  if (b === 0 || tn === 0) throw new GptError(`forwardCached needs at least one row and one column; got [${b}, ${tn}]`);
  if (tokens.some((r) => r.length !== tn)) throw new GptError('forwardCached needs rows of equal length (pad them and mark the padding in valid)');
  const mask = valid ?? tokens.map((r) => r.map(() => 1));
  if (cache && cache.valid.length !== b) throw new GptError(`cache holds ${cache.valid.length} rows; got ${b} rows of tokens`);
  const past = cache ? cacheLength(cache) : 0;

  const positions: number[][] = [];
  const nextPosition: number[] = [];
  for (let r = 0; r < b; r++) {
    let pos = cache ? cache.nextPosition[r]! : 0;
    const row: number[] = [];
    for (let j = 0; j < tn; j++) {
      // Padding takes the current position too; it is never attended to, so its value does not matter.
      row.push(Math.min(pos, model.cfg.contextLength - 1));
      if (mask[r]![j] === 1) pos++;
    }
    if (pos > model.cfg.contextLength) {
      throw new GptError(`row ${r} would hold ${pos} tokens; model.contextLength is ${model.cfg.contextLength}`);
    }
    positions.push(row);
    nextPosition.push(pos);
  }
  const keyValid = mask.map((m, r) => [...(cache ? cache.valid[r]! : []), ...m]);

  const out = tf.tidy(() => {
    const bias = cachedBias(keyValid, past, tn);
    const ids = tf.tensor2d(tokens, [b, tn], 'int32');
    const { hidden, presents } = forwardStack(model, ids, { positions, bias, past: cache?.layers });
    const last = tf.reshape(tf.slice(hidden, [0, tn - 1, 0], [b, 1, model.cfg.dModel]), [b, model.cfg.dModel]); // [B, D]
    return { logits: tiedLogits(model, last) as tf.Tensor2D, kT: presents.map((p) => p.kT), v: presents.map((p) => p.v) };
  });
  const layers = out.kT.map((kT, i) => ({ kT, v: out.v[i]! }));
  return { logits: out.logits, cache: { layers, valid: keyValid, nextPosition } };
}
