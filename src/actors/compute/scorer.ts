// ScorerPorts over the trained proxy models: Bradley-Terry r(x, y), and the pairwise model ranking K responses by a both-order tournament.
import type { GptModel } from '../../kernels/gpt.js';
import { bothOrders, runTournaments } from '../../scorers/tournament.js';
import { btScores, scoreSequences } from '../../train/reward_model.js';
import type { TextCodec } from '../../scorers/text_port.js';
import type { ScorerPort, ScoreRequest } from '../ports.js';
import { ComputeError } from './local_policy.js';

export interface ScorerSpecials {
  bos: number;
  eos: number;
  pad: number;
  prompt: number;
  response: number;
  context: number;
  responseA: number;
  responseB: number;
}

/** Bradley-Terry reward model: one forward row per response, all groups of a call batched together. */
export class BtScorer implements ScorerPort {
  constructor(
    private readonly model: GptModel,
    private readonly special: ScorerSpecials,
    readonly modelId: string,
  ) {
    if (model.head !== 'scalar') throw new ComputeError(`a reward model needs head 'scalar'; got '${model.head}'`);
  }

  async score(promptTokens: number[], responses: number[][]): Promise<number[]> {
    return btScores(this.model, promptTokens, responses, this.special);
  }

  async scoreMany(requests: ScoreRequest[]): Promise<number[][]> {
    const seqs: number[][] = [];
    for (const r of requests) for (const y of r.responses) seqs.push([...r.promptTokens, ...stripEos(y, this.special.eos), this.special.eos]);
    const all = scoreSequences(this.model, seqs, this.special.pad);
    let at = 0;
    return requests.map((r) => r.responses.map(() => all[at++]!));
  }

  async close(): Promise<void> {}
}

function stripEos(y: readonly number[], eos: number): number[] {
  return y.at(-1) === eos ? y.slice(0, -1) : [...y];
}

/** How an external scorer reads a group: the prompt without the policy template, each response without its eos. */
export function tokenizerCodec(decode: (ids: number[]) => string, s: ScorerSpecials): TextCodec {
  return { prompt: (t) => decode(promptBody(t, s)), response: (y) => decode(stripEos(y, s.eos)) };
}

/** The prompt's text ids without the policy template (`<|bos|> <|prompt|> x <|response|>` -> x). */
export function promptBody(promptTokens: readonly number[], s: ScorerSpecials): number[] {
  let body = [...promptTokens];
  if (body[0] === s.bos) body = body.slice(1);
  if (body[0] === s.prompt) body = body.slice(1);
  if (body.at(-1) === s.response) body = body.slice(0, -1);
  return body;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * Pairwise preference model (`<|context|> x <|response_a|> a <|response_b|> b` -> logit P(A better)). K responses are
 * ranked by the tournament of src/scorers/tournament.ts (the recipe's: linear in K), each match asked in both orders to
 * cancel position bias: P(a beats b) = (sigmoid(z(a, b)) + 1 - sigmoid(z(b, a))) / 2. A round's matches of every group
 * in the call go through the model as one batch.
 */
export class PairwiseScorer implements ScorerPort {
  comparisons = 0;

  constructor(
    private readonly model: GptModel,
    private readonly special: ScorerSpecials,
    readonly modelId: string,
  ) {
    if (model.head !== 'scalar') throw new ComputeError(`a pairwise preference model needs head 'scalar'; got '${model.head}'`);
  }

  private input(x: number[], a: number[], b: number[]): number[] {
    const s = this.special;
    return [s.context, ...x, s.responseA, ...stripEos(a, s.eos), s.responseB, ...stripEos(b, s.eos)];
  }

  async score(promptTokens: number[], responses: number[][]): Promise<number[]> {
    return (await this.scoreMany([{ promptTokens, responses }]))[0]!;
  }

  async scoreMany(requests: ScoreRequest[]): Promise<number[][]> {
    const xs = requests.map((r) => promptBody(r.promptTokens, this.special));
    const { scores, comparisons } = await runTournaments(
      requests.map((r) => r.responses.length),
      async (matches) => {
        const seqs: number[][] = [];
        for (const { group, a, b } of matches) {
          const ys = requests[group]!.responses;
          seqs.push(this.input(xs[group]!, ys[a]!, ys[b]!), this.input(xs[group]!, ys[b]!, ys[a]!));
        }
        const z = scoreSequences(this.model, seqs, this.special.pad);
        return matches.map((_, i) => bothOrders(sigmoid(z[2 * i]!), sigmoid(z[2 * i + 1]!)));
      },
    );
    this.comparisons += comparisons.reduce((s, c) => s + c, 0);
    return scores;
  }

  async close(): Promise<void> {}
}
