// The Scorer interface a judge scores through: pointwise (a score per response) or pairwise (which of two is better), on text.
import type { HttpStats } from './http_client.js';

/** One prompt and its K responses, as text (decoded with the run's tokenizer). */
export interface TextGroup {
  prompt: string;
  responses: string[];
}

/** Gives each response of a group a score; higher is better. */
export interface PointwiseScorer {
  readonly kind: 'pointwise';
  /** Names what scored (a model name, a URL's host, a module path); stamped on every pair. */
  readonly id: string;
  score(group: TextGroup): Promise<number[]>;
  /** The counts of the HTTP client it calls through, for scorers that call a service. */
  readonly httpStats?: Readonly<HttpStats>;
  close(): Promise<void>;
}

/**
 * Compares two responses to one prompt: the probability in [0, 1] that `a` is better than `b`.
 * A scorer that asks both orders itself (llm-judge) says so with `symmetric`, so the tournament does not ask twice.
 */
export interface PairwiseScorer {
  readonly kind: 'pairwise';
  readonly id: string;
  readonly symmetric?: boolean;
  compare(prompt: string, a: string, b: string): Promise<number>;
  readonly httpStats?: Readonly<HttpStats>;
  close(): Promise<void>;
}

export type Scorer = PointwiseScorer | PairwiseScorer;

export class ScorerConfigError extends Error {
  override name = 'ScorerConfigError';
}

/**
 * The service behind a scorer cannot answer now (down, timing out, 5xx, rate-limited past the retries, circuit open).
 * Not the group's fault: the judge hands the group back to the stream and tries again later.
 */
export class ScorerUnavailableError extends Error {
  override name = 'ScorerUnavailableError';
}

/** The scorer answered, but not with what its contract says (after the retries): the group is dead-lettered with the reply. */
export class MalformedReplyError extends Error {
  override name = 'MalformedReplyError';
}

/** Longest piece of a reply quoted in an error or a dead letter. */
export const REPLY_EXCERPT_CHARS = 300;

export function excerpt(text: string, max = REPLY_EXCERPT_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} chars)`;
}
