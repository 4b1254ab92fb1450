// Bootstrap 95% intervals over held-out prompts and seeds: every replicate resamples seeds and prompts with replacement.
import { Rng } from './rng.js';

export class BootstrapError extends Error {
  override name = 'BootstrapError';
}

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
  /** Seeds and prompts the interval rests on. */
  seeds: number;
  prompts: number;
}

export interface BootstrapOptions {
  replicates?: number;
  seed?: number;
  /** Two-sided coverage (default 0.95). */
  level?: number;
}

/** [seed][prompt] values: every row must hold the same prompts in the same order. */
export type PerSeedPrompt = readonly (readonly number[])[];

function check(xs: PerSeedPrompt, what: string): number {
  if (xs.length === 0) throw new BootstrapError(`${what}: needs at least one seed`);
  const p = xs[0]!.length;
  if (p === 0) throw new BootstrapError(`${what}: needs at least one prompt`);
  xs.forEach((row, s) => {
    if (row.length !== p) throw new BootstrapError(`${what}: seed ${s} has ${row.length} prompts; seed 0 has ${p} (every seed must be evaluated on the same prompts)`);
  });
  return p;
}

const quantile = (sorted: readonly number[], q: number): number => {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo]! + (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!) * (i - lo);
};

const grandMean = (xs: PerSeedPrompt): number => xs.reduce((t, row) => t + row.reduce((a, x) => a + x, 0), 0) / (xs.length * xs[0]!.length);

/**
 * Percentile interval of stat(a) - stat(b) (b omitted: of stat(a)), where stat is the mean over seeds and prompts. A
 * replicate draws seed indices and prompt indices with replacement and applies the same draw to a and b, so a
 * difference is paired by prompt (both arms answered the same prompts) and by seed index. Resampling both levels counts
 * the answer-level noise twice, so with independent answers the interval is up to sqrt(2) wider than a plain one over
 * seeds x prompts: conservative, and it also covers prompt-set and seed-to-seed variation.
 */
export function bootstrapInterval(a: PerSeedPrompt, b?: PerSeedPrompt, opts: BootstrapOptions = {}): Interval {
  const p = check(a, 'bootstrap');
  if (b) {
    const pb = check(b, 'bootstrap (second arm)');
    if (pb !== p || b.length !== a.length) throw new BootstrapError(`a paired bootstrap needs equal shapes; got ${a.length}x${p} and ${b.length}x${pb}`);
  }
  const reps = opts.replicates ?? 2000;
  const level = opts.level ?? 0.95;
  const rng = new Rng(opts.seed ?? 20240501);
  const s = a.length;
  const stats: number[] = [];
  const seedIdx = new Int32Array(s);
  const promptIdx = new Int32Array(p);
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < s; i++) seedIdx[i] = rng.int(s);
    for (let j = 0; j < p; j++) promptIdx[j] = rng.int(p);
    let t = 0;
    for (let i = 0; i < s; i++) {
      const ra = a[seedIdx[i]!]!;
      const rb = b?.[seedIdx[i]!];
      for (let j = 0; j < p; j++) t += ra[promptIdx[j]!]! - (rb ? rb[promptIdx[j]!]! : 0);
    }
    stats.push(t / (s * p));
  }
  stats.sort((x, y) => x - y);
  const alpha = (1 - level) / 2;
  return { mean: grandMean(a) - (b ? grandMean(b) : 0), lo: quantile(stats, alpha), hi: quantile(stats, 1 - alpha), seeds: s, prompts: p };
}

/** a's interval lies wholly above b's. */
export const above = (a: Interval, b: Interval): boolean => a.lo > b.hi;
