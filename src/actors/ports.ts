// The compute ports actors depend on: small async interfaces, so actors run with fakes in tests and tfjs models in runs.
import type { HttpStats } from '../scorers/http_client.js';
import type { PairMsg } from '../streams/topics.js';

export interface GenerateOptions {
  maxNewTokens: number;
  temperature: number;
  /** 0 disables the top-k filter. */
  topK: number;
  topP: number;
  /** Every random draw of the call derives from it, so a call is reproducible. */
  seed: number;
  /**
   * Continuous batching: at most this many rows decode at once, and a row that ends takes the next waiting sample
   * (prompt i's k-th response draws the same stream either way). Absent or 0: all P*K rows in one batch.
   */
  slots?: number;
  /**
   * In-flight weight updates (needs slots): between decoding steps, at most every this many, the port adopts the newest
   * weights offered meanwhile (offerWeights) and continues every row with them. Absent: one version samples the call.
   */
  inFlightCheckTokens?: number;
}

/** What a port may report of each group beyond its tokens. */
export interface GroupExtras {
  /** [K][len] each sampled token's log-probability under the weights that sampled it. */
  logprobs?: number[][];
  /** [K] the versions that sampled each response's first and last token (in-flight updates). */
  versions?: [number, number][];
}

/** Called once per prompt as soon as all K of its responses are done, before the call returns. */
export type GroupDone = (prompt: number, tokens: number[][], finished: boolean[], extras?: GroupExtras) => void;

export interface GenerateResult {
  /** [P][K] response token ids (prompt excluded; the eos id included when the response ended with it). */
  tokens: number[][][];
  /** [P][K] true when the response ended with eos, false when cut at maxNewTokens. */
  finished: boolean[][];
  /**
   * [P][K][len] log pi_behaviour(y_t | x, y<t) of every sampled token, unfiltered at temperature 1 (what a learner
   * recomputes to check the weights it published are the ones that sampled). Optional: a port may not report them.
   */
  logprobs?: number[][][];
  /** [P][K] the versions that sampled each response's first and last token; absent: the version held at the call's start. */
  versions?: [number, number][][];
}

/** A policy that samples; its weights are swapped between calls, or during one with in-flight updates. */
export interface PolicyPort {
  /** K responses for each prompt; onGroup hears of each prompt's group as it completes. */
  generate(prompts: number[][], k: number, opts: GenerateOptions, onGroup?: GroupDone): Promise<GenerateResult>;
  /** Replaces the weights with a published version (safetensors bytes as stored in the weight store). */
  loadWeights(version: number, bytes: Uint8Array): Promise<void>;
  /**
   * In-flight updates: newer weights for the generate call in progress, adopted at its next check (the newest offer
   * wins); an offer no call adopts may be dropped, so the caller loads the version as usual unless a call reported it
   * (GenerateResult.versions). Optional.
   */
  offerWeights?(version: number, bytes: Uint8Array): void;
  /**
   * Summed log-probability of each response given its prompt, [N]: the evaluator's KL estimate needs it.
   * Optional: a port that cannot score leaves it out and the evaluator reports no KL.
   */
  logprobs?(prompts: number[][], responses: number[][]): Promise<number[]>;
  /** Log-probability of each response token given prompt and the tokens before it, [N][len]: the evaluator's k3 KL estimate needs it. Optional. */
  tokenLogprobs?(prompts: number[][], responses: number[][]): Promise<number[][]>;
  close(): Promise<void>;
}

export interface ScoreRequest {
  promptTokens: number[];
  responses: number[][];
}

/**
 * What the judge scores with: the proxy preference model or a scorer the user brings (src/scorers). A pointwise scorer
 * returns r(x, y) for each response; a pairwise one returns scores from a tournament of both-order comparisons (linear in K).
 */
export interface ScorerPort {
  /** Names what scored (weights' version or hash, a served model, a module); stamped on every pair. */
  readonly modelId: string;
  score(promptTokens: number[], responses: number[][]): Promise<number[]>;
  /** Scores several groups in one model call (batching is where scorer throughput comes from); optional. */
  scoreMany?(requests: ScoreRequest[]): Promise<number[][]>;
  /** One outcome per group, so one group's bad reply or outage settles only that group (network scorers); optional. */
  scoreEach?(requests: ScoreRequest[]): Promise<PromiseSettledResult<number[]>[]>;
  /** Pairwise comparisons made so far (a tournament match, asked in both orders, counts once); pairwise scorers only. */
  readonly comparisons?: number;
  /** The counts of the HTTP client a network scorer calls through (retries, 429s, timeouts...); network scorers only. */
  readonly httpStats?: Readonly<HttpStats>;
  close(): Promise<void>;
}

export interface StepStats {
  loss: number;
  gradNorm: number;
  lr: number;
  /** Mean of beta * (policy - reference) log-ratio of chosen minus rejected. */
  rewardMargin: number;
  /** Share of pairs whose implicit reward ranks chosen above rejected. */
  rewardAccuracy: number;
  /** Mean summed log-ratio log pi(y|x) - log pi_ref(y|x) over the batch's chosen responses: a drift signal, not a KL. */
  chosenLogRatio?: number;
  /**
   * The learner's KL estimate, nats per response: the mean of log pi(y|x) - log pi_ref(y|x) over every response of the
   * batch (chosen and rejected), under the weights before the step. The responses were sampled by a recent version mu
   * (the pair's policy version, lag versions back; the SFT model itself in offline mode), so this estimates
   * E_{y~mu}[log pi/pi_ref] = KL(mu || pi_ref) - KL(mu || pi), not KL(pi || pi_ref): it is biased low by KL(mu || pi)
   * (small when the lag is 0-1 versions; in offline mode, where mu = pi_ref, it is -KL(pi_ref || pi), at most 0). The
   * responses are also the best and worst of K by the proxy, not a plain draw from mu. The evaluator's KL has neither bias.
   */
  pairKl?: number;
}

/** The trainable policy with its frozen reference, optimizer and schedule. */
export interface LearnerPort {
  /** One optimizer step on the pairs; `weights[i]` scales pair i's loss (staleness down-weighting). */
  step(pairs: PairMsg[], weights: number[]): Promise<StepStats>;
  /** The current policy weights as safetensors bytes, as generators load them. */
  exportWeights(): Promise<Uint8Array>;
  /** Writes model, optimizer and `state` atomically: after it resolves, a crash loses nothing before it. */
  saveCheckpoint(dir: string, state: Record<string, unknown>): Promise<void>;
  /** Restores model and optimizer and returns the saved `state`, or undefined when `dir` holds no checkpoint. */
  loadCheckpoint(dir: string): Promise<Record<string, unknown> | undefined>;
  /** Sets the step's GEMM threads; resolves to the count replaced (0: no native GEMM, nothing changed). */
  setThreads?(threads: number): Promise<number>;
  close(): Promise<void>;
}
