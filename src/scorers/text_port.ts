// Turns a text Scorer into the judge's token-level ScorerPort: decodes with the run's tokenizer, runs the tournament for pairwise scorers.
import type { ScorerPort } from '../actors/ports.js';
import { bothOrders, runTournaments } from './tournament.js';
import type { HttpStats } from './http_client.js';
import type { Scorer, TextGroup } from './scorer.js';

/** How token ids become the text an external scorer reads (the prompt without the policy's template, the response without eos). */
export interface TextCodec {
  prompt(tokens: readonly number[]): string;
  response(tokens: readonly number[]): string;
}

export interface TokenRequest {
  promptTokens: number[];
  responses: number[][];
}

export class TextScorerPort implements ScorerPort {
  /** Pairwise comparisons made so far (one per tournament match, both orders included): the judge's per-group metric. */
  comparisons = 0;

  constructor(
    private readonly scorer: Scorer,
    private readonly codec: TextCodec,
  ) {}

  get modelId(): string {
    return this.scorer.id;
  }

  get httpStats(): Readonly<HttpStats> | undefined {
    return this.scorer.httpStats;
  }

  async score(promptTokens: number[], responses: number[][]): Promise<number[]> {
    return this.scoreText(this.decode({ promptTokens, responses }));
  }

  /** One result per group, so one group's bad reply or outage does not decide the fate of the others. */
  scoreEach(requests: TokenRequest[]): Promise<PromiseSettledResult<number[]>[]> {
    return Promise.allSettled(requests.map((r) => this.scoreText(this.decode(r))));
  }

  async close(): Promise<void> {
    await this.scorer.close();
  }

  private decode(r: TokenRequest): TextGroup {
    return { prompt: this.codec.prompt(r.promptTokens), responses: r.responses.map((y) => this.codec.response(y)) };
  }

  private async scoreText(g: TextGroup): Promise<number[]> {
    const s = this.scorer;
    if (s.kind === 'pointwise') return s.score(g);
    const { scores, comparisons } = await runTournaments([g.responses.length], (matches) =>
      Promise.all(
        matches.map(async ({ a, b }) => {
          const ya = g.responses[a]!;
          const yb = g.responses[b]!;
          if (s.symmetric) return s.compare(g.prompt, ya, yb);
          const [ab, ba] = await Promise.all([s.compare(g.prompt, ya, yb), s.compare(g.prompt, yb, ya)]);
          return bothOrders(ab, ba);
        }),
      ),
    );
    this.comparisons += comparisons[0]!;
    return scores[0]!;
  }
}
