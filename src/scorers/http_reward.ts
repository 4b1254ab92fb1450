// http-reward: a reward model served over HTTP, K responses scored in one POST (our JSON contract, or OpenRLHF's remote RM).
import type { HttpClient, HttpStats } from './http_client.js';
import { safeUrl } from './http_client.js';
import type { PointwiseScorer, TextGroup } from './scorer.js';

export const HTTP_REWARD_FORMATS = ['rlhf-stream', 'openrlhf'] as const;
export type HttpRewardFormat = (typeof HTTP_REWARD_FORMATS)[number];

export interface HttpRewardOptions {
  url: string;
  format: HttpRewardFormat;
}

/** The request body of a format (docs/scorers.md documents both). */
export function rewardRequest(format: HttpRewardFormat, g: TextGroup): unknown {
  if (format === 'rlhf-stream') return { prompt: g.prompt, responses: g.responses };
  // OpenRLHF's serve_rm: `query` holds each full text (prompt then response), `prompts` the prompt of each.
  return { query: g.responses.map((r) => g.prompt + r), prompts: g.responses.map(() => g.prompt) };
}

/** Reads K finite scores from a reply, or throws saying what is wrong with it. */
export function rewardReply(format: HttpRewardFormat, json: unknown, k: number): number[] {
  const key = format === 'rlhf-stream' ? 'scores' : 'rewards';
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`expected a JSON object with "${key}"`);
  const v = (json as Record<string, unknown>)[key];
  if (!Array.isArray(v)) throw new Error(`"${key}" must be an array of ${k} numbers; got ${v === undefined ? 'no such key' : typeof v}`);
  if (v.length !== k) throw new Error(`"${key}" has ${v.length} scores for ${k} responses`);
  if (!v.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new Error(`"${key}" must hold finite numbers only`);
  return v as number[];
}

export class HttpRewardScorer implements PointwiseScorer {
  readonly kind = 'pointwise';
  readonly id: string;

  constructor(
    private readonly client: HttpClient,
    private readonly o: HttpRewardOptions,
  ) {
    this.id = `http-reward:${safeUrl(o.url)}`;
  }

  get httpStats(): Readonly<HttpStats> {
    return this.client.stats;
  }

  score(g: TextGroup): Promise<number[]> {
    return this.client.postJson(this.o.url, rewardRequest(this.o.format, g), (json) => rewardReply(this.o.format, json, g.responses.length));
  }

  async close(): Promise<void> {}
}
