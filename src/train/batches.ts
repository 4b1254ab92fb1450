// Builds padded token batches (plain typed arrays) for LM pre-training, instruction tuning and reward-model scoring.
import type { Rng } from '../kernels/rng.js';

export class BatchError extends Error {
  override name = 'BatchError';
}

/** One batch, row-major: input/target [B, T] int32, mask [B, T] float32 (1 = the target counts), lastIndex [B]. */
export interface TokenBatch {
  batch: number;
  length: number;
  input: Int32Array;
  target: Int32Array;
  mask: Float32Array;
  /** Index of each row's last real token (for scalar heads). */
  lastIndex: Int32Array;
}

/** A tokenised sequence and where the part that is trained on starts (0 = all of it). */
export interface Sequence {
  ids: number[];
  /** First index whose token is a training target (e.g. the first response token). */
  targetStart: number;
}

/** All documents as one id stream (each formatted, e.g. bos text eos), for packed LM windows. */
export function tokenStream(docs: readonly string[], format: (text: string) => number[]): Int32Array {
  const parts: number[][] = docs.map(format);
  const out = new Int32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function emptyBatch(batch: number, length: number): TokenBatch {
  return {
    batch,
    length,
    input: new Int32Array(batch * length),
    target: new Int32Array(batch * length),
    mask: new Float32Array(batch * length),
    lastIndex: new Int32Array(batch),
  };
}

/** B windows of `length` + 1 tokens at random offsets in the stream: next-token prediction on every position. */
export function randomWindows(stream: Int32Array, batch: number, length: number, rng: Rng): TokenBatch {
  if (stream.length < length + 1) throw new BatchError(`token stream has ${stream.length} tokens; a window needs ${length + 1}`);
  const starts = Array.from({ length: batch }, () => rng.int(stream.length - length));
  return windowsAt(stream, starts, length);
}

/** Non-overlapping windows from the start of the stream (for a stable validation loss), at most `maxWindows`. */
export function sequentialWindowStarts(stream: Int32Array, length: number, maxWindows: number): number[] {
  const n = Math.min(maxWindows, Math.floor((stream.length - 1) / length));
  return Array.from({ length: n }, (_, i) => i * length);
}

export function windowsAt(stream: Int32Array, starts: readonly number[], length: number): TokenBatch {
  const b = emptyBatch(starts.length, length);
  starts.forEach((s, row) => {
    b.input.set(stream.subarray(s, s + length), row * length);
    b.target.set(stream.subarray(s + 1, s + length + 1), row * length);
    b.mask.fill(1, row * length, (row + 1) * length);
    b.lastIndex[row] = length - 1;
  });
  return b;
}

/**
 * Next-token batch from sequences, right-padded to `length` (longer sequences are cut at the end):
 * position t predicts ids[t + 1], and counts only where t + 1 >= targetStart (loss on the response alone).
 */
export function sequenceBatch(seqs: readonly Sequence[], padId: number, length: number): TokenBatch {
  const b = emptyBatch(seqs.length, length);
  b.input.fill(padId);
  b.target.fill(padId);
  seqs.forEach((s, row) => {
    const ids = s.ids.slice(0, length + 1);
    const o = row * length;
    const n = Math.min(ids.length, length);
    for (let t = 0; t < n; t++) b.input[o + t] = ids[t]!;
    for (let t = 0; t + 1 < ids.length; t++) {
      b.target[o + t] = ids[t + 1]!;
      if (t + 1 >= s.targetStart) b.mask[o + t] = 1;
    }
    b.lastIndex[row] = Math.max(0, n - 1);
  });
  return b;
}

/** Inputs for a scalar head: right-padded ids [B, T] and the last real token of each row. */
export function scoringBatch(seqs: readonly number[][], padId: number, length: number): TokenBatch {
  const b = emptyBatch(seqs.length, length);
  b.input.fill(padId);
  seqs.forEach((ids, row) => {
    if (ids.length === 0) throw new BatchError(`sequence ${row} is empty; a scalar head needs at least one token`);
    // Keep the end: the score is read at the last token, which must be the real end of the response.
    const kept = ids.length > length ? ids.slice(ids.length - length) : ids;
    b.input.set(kept, row * length);
    b.lastIndex[row] = kept.length - 1;
  });
  return b;
}

/** Shortest length (rounded up to a multiple of `step`, at most `max`) that holds every sequence. */
export function fitLength(lengths: readonly number[], max: number, step = 8): number {
  const need = Math.max(1, ...lengths);
  return Math.min(max, Math.ceil(need / step) * step);
}

/** Splits indices 0..n-1 into shuffled batches of `size` (the last one may be short). */
export function shuffledBatches(n: number, size: number, rng: Rng): number[][] {
  const idx = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const out: number[][] = [];
  for (let i = 0; i < n; i += size) out.push(idx.slice(i, i + size));
  return out;
}
