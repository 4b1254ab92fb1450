// Config slice for Judge actors: proxy scoring and pair construction.
import { float, int, oneOf } from '../fields.js';

/** How a judge picks (chosen, rejected) among K scored responses; src/actors/pairing.ts implements them. */
export const PAIRING_RULES = ['max_min', 'max_random', 'random'] as const;
export type PairingRule = (typeof PAIRING_RULES)[number];

export const judge = {
  count: int(1, 1, 256, 'judge actors'),
  pairing: oneOf(PAIRING_RULES, 'max_min', 'chosen/rejected rule: best vs worst of K, best vs random, or two random'),
  lengthPenalty: float(0, 0, 100, 'rank by r - lambda * length(tokens); 0 disables'),
  minMargin: float(1e-6, 0, 1e6, 'pairs whose (penalised) scores differ by less are ties and dropped'),
  batchSize: int(32, 1, 4096, 'samples scored per proxy-model call'),
};
