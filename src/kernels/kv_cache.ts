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

/** Where a row of a rebuilt cache comes from: row `row` of the `source`-th cache, or nothing (an empty row). */
export type RowSource = { source: number; row: number } | null;

/**
 * Builds a cache whose row r is row picks[r].row of caches[picks[r].source] (an empty row where picks[r] is null),
 * keeping only each row's valid columns: the width becomes the most valid columns any row holds (at least 1), so rows
 * that stopped or were replaced stop costing attention work. Column order within a row is kept (attention does not
 * depend on it: positions travel with the keys). The given caches are left as they were.
 */
export function gatherCacheRows(caches: KvCache[], picks: RowSource[]): KvCache {
  if (caches.length === 0) throw new GptError('gatherCacheRows needs at least one source cache');
  const layers = caches[0]!.layers.length;
  for (const c of caches) {
    if (c.layers.length !== layers) throw new GptError(`source caches hold ${c.layers.length} and ${layers} layers; they must match`);
  }
  const offsets: number[] = [];
  let total = 0;
  for (const c of caches) {
    offsets.push(total);
    total += c.valid.length;
  }
  const columns = picks.map((p) => {
    if (p === null) return [];
    const v = caches[p.source]?.valid[p.row];
    if (v === undefined) throw new GptError(`row source ${JSON.stringify(p)} does not exist`);
    const cols: number[] = [];
    v.forEach((x, j) => x === 1 && cols.push(j));
    return cols;
  });
  const width = Math.max(1, ...columns.map((c) => c.length));
  const srcWidth = Math.max(...caches.map(cacheLength));
  // One row gather over [rows * columns, H * hd]: flat id = source row * srcWidth + column (tf.gather's batchDims is
  // avoided: the wasm backend gets it wrong for axes past the first).
  const flat: number[] = [];
  picks.forEach((p, r) => {
    const base = p === null ? 0 : (offsets[p.source]! + p.row) * srcWidth;
    const cols = columns[r]!;
    for (let j = 0; j < width; j++) flat.push(base + (j < cols.length ? cols[j]! : 0));
  });
  const out = tf.tidy(() => {
    const ids = tf.tensor1d(flat, 'int32');
    /** Parts in [B, H, S, hd] layout (keys arrive transposed and leave transposed). */
    const pick = (parts: tf.Tensor4D[], keys: boolean): tf.Tensor4D => {
      const h = parts[0]!.shape[1];
      const hd = keys ? parts[0]!.shape[2] : parts[0]!.shape[3];
      const rows = parts.map((t) => {
        const bshs = keys ? tf.transpose(t, [0, 3, 1, 2]) : tf.transpose(t, [0, 2, 1, 3]); // [B, S, H, hd]
        const missing = srcWidth - bshs.shape[1];
        const full = missing === 0 ? bshs : tf.pad(bshs, [[0, 0], [0, missing], [0, 0], [0, 0]]);
        return tf.reshape(full, [-1, h * hd]);
      });
      const got = tf.reshape(tf.gather(rows.length === 1 ? rows[0]! : tf.concat(rows, 0), ids, 0), [picks.length, width, h, hd]);
      return (keys ? tf.transpose(got, [0, 2, 3, 1]) : tf.transpose(got, [0, 2, 1, 3])) as tf.Tensor4D;
    };
    return Array.from({ length: layers }, (_, l) => ({
      kT: pick(caches.map((c) => c.layers[l]!.kT), true),
      v: pick(caches.map((c) => c.layers[l]!.v), false),
    }));
  });
  return {
    layers: out,
    valid: columns.map((c) => [...Array<number>(c.length).fill(1), ...Array<number>(width - c.length).fill(0)]),
    nextPosition: picks.map((p) => (p === null ? 0 : caches[p.source]!.nextPosition[p.row]!)),
  };
}
