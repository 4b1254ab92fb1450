// Shared check: prefill + decode steps with the KV cache give the full forward's last-position logits.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { forwardLogits, type GptModel } from '../../src/kernels/gpt.js';
import { cacheLength, disposeCache, forwardCached, type KvCache } from '../../src/kernels/kv_cache.js';

/** Logits of the last position of one unpadded sequence, by a full forward. */
export function fullLast(m: GptModel, seq: number[]): Float32Array {
  return tf.tidy(() => {
    const logits = forwardLogits(m, tf.tensor2d([seq], [1, seq.length], 'int32')); // [1, T, V]
    return tf.slice(logits, [0, seq.length - 1, 0], [1, 1, m.cfg.vocabSize]).dataSync() as Float32Array;
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Left-pads the prompts to `width`, prefills, then takes 3 decode steps of deterministic tokens, comparing every
 * row's logits with a full forward at each of the 4 points (max |diff| < tol). Returns the final cache for further
 * checks; the caller disposes it.
 */
export function assertDecodeMatchesFull(m: GptModel, prompts: number[][], width: number, tol: number): KvCache {
  const padded = prompts.map((p) => [...Array<number>(width - p.length).fill(0), ...p]);
  const valid = prompts.map((p) => [...Array<number>(width - p.length).fill(0), ...Array<number>(p.length).fill(1)]);
  let step = forwardCached(m, null, padded, valid);
  const seqs = prompts.map((p) => [...p]);
  const V = m.cfg.vocabSize;
  for (let s = 0; s < 4; s++) {
    const got = step.logits.dataSync();
    seqs.forEach((seq, r) => {
      const d = maxAbsDiff(got.subarray(r * V, (r + 1) * V), fullLast(m, seq));
      assert.ok(d < tol, `step ${s}, row ${r}: max |diff| ${d}`);
    });
    if (s === 3) break;
    const next = seqs.map((_, r) => (11 * s + 7 * r + 1) % V);
    next.forEach((id, r) => seqs[r]!.push(id));
    const prev = step.cache;
    step.logits.dispose();
    step = forwardCached(m, prev, next.map((id) => [id]));
    disposeCache(prev);
  }
  step.logits.dispose();
  assert.equal(cacheLength(step.cache), width + 3);
  return step.cache;
}
