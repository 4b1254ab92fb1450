// ScorerPorts over the trained proxy models: Bradley-Terry r(x, y), and the pairwise model scored against an anchor in both orders.
import type { GptModel } from '../../kernels/gpt.js';
import { btScores, scoreSequences } from '../../train/reward_model.js';
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

/** The prompt's text ids without the policy template (`<|bos|> <|prompt|> x <|response|>` -> x). */
export function promptBody(promptTokens: readonly number[], s: ScorerSpecials): number[] {
  let body = [...promptTokens];
  if (body[0] === s.bos) body = body.slice(1);
  if (body[0] === s.prompt) body = body.slice(1);
  if (body.at(-1) === s.response) body = body.slice(0, -1);
  return body;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const logit = (p: number): number => Math.log(p / (1 - p));

/**
 * Pairwise preference model (`<|context|> x <|response_a|> a <|response_b|> b` -> logit P(A better)). K responses are
 * scored against one anchor (response 0), each comparison in both orders to cancel position bias:
 * p_i = (sigmoid(z(y_i, y_0)) + 1 - sigmoid(z(y_0, y_i))) / 2, score_i = logit(p_i), and score_0 = 0.
 * That is 2(K-1) forward rows per group, linear in K; ranking by a common opponent assumes the preferences are
 * roughly transitive, as a Bradley-Terry reading of the model does.
 */
export class PairwiseScorer implements ScorerPort {
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
    const seqs: number[][] = [];
    for (const r of requests) {
      const x = promptBody(r.promptTokens, this.special);
      const anchor = r.responses[0]!;
      for (let i = 1; i < r.responses.length; i++) {
        seqs.push(this.input(x, r.responses[i]!, anchor), this.input(x, anchor, r.responses[i]!));
      }
    }
    const z = seqs.length > 0 ? scoreSequences(this.model, seqs, this.special.pad) : [];
    let at = 0;
    return requests.map((r) =>
      r.responses.map((_, i) => {
        if (i === 0) return 0;
        const p = (sigmoid(z[at]!) + 1 - sigmoid(z[at + 1]!)) / 2;
        at += 2;
        // Clamped so a saturated comparison stays finite (the judge rejects non-finite scores).
        return logit(Math.min(1 - 1e-7, Math.max(1e-7, p)));
      }),
    );
  }

  async close(): Promise<void> {}
}
