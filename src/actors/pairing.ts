// Turns K scored responses into one (chosen, rejected) pair: the paper's rejection-sampling exploration and its variants.
import { PAIRING_RULES, type PairingRule } from '../config/sections/judge.js';
import { Rng } from '../kernels/rng.js';

export class PairingError extends Error {
  override name = 'PairingError';
}

export interface PairingOptions {
  rule: PairingRule;
  /** Ranks by r - lengthPenalty * length; 0 ranks by r alone. */
  lengthPenalty: number;
  /** Pairs whose ranking scores differ by less are ties and dropped. */
  minMargin: number;
  /** Seeds the random choices of 'max_random' and 'random' (derive it from the group id so a redelivery pairs the same). */
  seed: number;
}

export type PairChoice =
  | { kind: 'pair'; chosen: number; rejected: number; margin: number; adjusted: number[] }
  | { kind: 'tie'; margin: number; adjusted: number[] };

/** The ranking quantity: r(x, y) - lambda * len(y) (the recipe's length penalty against length exploitation). */
export function penalisedScores(scores: readonly number[], lengths: readonly number[], lengthPenalty: number): number[] {
  if (scores.length !== lengths.length) throw new PairingError(`got ${scores.length} scores but ${lengths.length} lengths`);
  return scores.map((r, i) => r - lengthPenalty * lengths[i]!);
}

function argBest(xs: readonly number[], better: (a: number, b: number) => boolean): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (better(xs[i]!, xs[best]!)) best = i;
  return best;
}

/**
 * Picks chosen and rejected indices among K responses.
 * max_min: best vs worst (the paper); max_random: best vs a uniformly drawn other; random: two distinct draws,
 * the higher-ranked one chosen. Ties on the ranking score keep the lowest index, so the result is deterministic.
 */
export function choosePair(scores: readonly number[], lengths: readonly number[], opts: PairingOptions): PairChoice {
  const k = scores.length;
  if (k < 2) throw new PairingError(`pairing needs at least 2 responses; got ${k}`);
  if (!scores.every(Number.isFinite)) throw new PairingError(`scores must be finite; got ${scores.join(', ')}`);
  if (!(PAIRING_RULES as readonly string[]).includes(opts.rule)) {
    throw new PairingError(`judge.pairing must be one of ${PAIRING_RULES.join(', ')}; got ${JSON.stringify(opts.rule)}`);
  }
  const adjusted = penalisedScores(scores, lengths, opts.lengthPenalty);
  const rng = new Rng(opts.seed);
  let a: number;
  let b: number;
  if (opts.rule === 'max_min') {
    a = argBest(adjusted, (x, y) => x > y);
    b = argBest(adjusted, (x, y) => x < y);
  } else if (opts.rule === 'max_random') {
    a = argBest(adjusted, (x, y) => x > y);
    b = rng.int(k - 1);
    if (b >= a) b++;
  } else {
    a = rng.int(k);
    b = rng.int(k - 1);
    if (b >= a) b++;
    if (adjusted[b]! > adjusted[a]!) [a, b] = [b, a];
  }
  const margin = adjusted[a]! - adjusted[b]!;
  if (a === b || margin < opts.minMargin) return { kind: 'tie', margin, adjusted };
  return { kind: 'pair', chosen: a, rejected: b, margin, adjusted };
}
