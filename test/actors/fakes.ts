// Fake compute ports for actor tests: deterministic, instant (or with a set delay), and recording what they were asked.
import { parseConfig, type Config } from '../../src/config/index.js';
import { Rng } from '../../src/kernels/rng.js';
import type { GenerateOptions, GenerateResult, LearnerPort, PolicyPort, ScorerPort, StepStats } from '../../src/actors/ports.js';
import type { PromptItem } from '../../src/actors/prompt_source.js';
import type { Clock } from '../../src/clock.js';
import { InProcessBus } from '../../src/streams/inprocess/bus.js';
import type { PairMsg, SampleGroupMsg } from '../../src/streams/topics.js';

export const VOCAB = 16;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Samples random tokens; the seed fixes the draw, so a call is reproducible. Records versions loaded. */
export class FakePolicy implements PolicyPort {
  version = 0;
  readonly loads: number[] = [];
  calls = 0;
  constructor(readonly delayMs = 0) {}
  async generate(prompts: number[][], k: number, opts: GenerateOptions): Promise<GenerateResult> {
    this.calls++;
    if (this.delayMs > 0) await sleep(this.delayMs);
    const rng = new Rng(opts.seed);
    const tokens = prompts.map(() => Array.from({ length: k }, () => Array.from({ length: 1 + rng.int(opts.maxNewTokens) }, () => rng.int(VOCAB))));
    return { tokens, finished: tokens.map((g) => g.map((t) => t.length < opts.maxNewTokens)) };
  }
  async loadWeights(version: number, bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) throw new Error('empty weights');
    this.version = version;
    this.loads.push(version);
  }
  async logprobs(_prompts: number[][], responses: number[][]): Promise<number[]> {
    // A policy that drifts from the reference as its version grows: log-ratio = 0.01 * version per token.
    return responses.map((r) => r.length * (-2 + 0.01 * this.version));
  }
  async tokenLogprobs(_prompts: number[][], responses: number[][]): Promise<number[][]> {
    return responses.map((r) => r.map(() => -2 + 0.01 * this.version));
  }
  async close(): Promise<void> {}
}

/**
 * A FakePolicy that also reports behaviour log-probs, the same per-token value its tokenLogprobs gives for the version
 * it holds: a learner's weight-sync check with another such port finds them in sync.
 */
export class LogprobFakePolicy extends FakePolicy {
  override async generate(prompts: number[][], k: number, opts: GenerateOptions): Promise<GenerateResult> {
    const r = await super.generate(prompts, k, opts);
    return { ...r, logprobs: r.tokens.map((g) => g.map((t) => t.map(() => -2 + 0.01 * this.version))) };
  }
}

/** Proxy score = mean token id: few ties, and longer responses are not favoured by construction. */
export class FakeScorer implements ScorerPort {
  readonly modelId = 'fake-rm';
  scored = 0;
  constructor(private readonly fn: (r: number[]) => number = (r) => (r.length === 0 ? 0 : r.reduce((s, t) => s + t, 0) / r.length)) {}
  async score(_prompt: number[], responses: number[][]): Promise<number[]> {
    this.scored += responses.length;
    return responses.map(this.fn);
  }
  async close(): Promise<void> {}
}

/** Checkpoints survive in this map across learner instances, as files on disk would survive a crash. */
export const DISK = new Map<string, { state: Record<string, unknown>; step: number }>();

export class FakeLearnerPort implements LearnerPort {
  steps = 0;
  readonly trained: { pairIds: string[]; weights: number[] }[] = [];
  /** Throws after writing the checkpoint number `crashAfterCheckpoint` (a crash between the write and the acks). */
  crashAfterCheckpoint = 0;
  checkpoints = 0;
  constructor(readonly stepDelayMs = 0) {}
  async step(pairs: PairMsg[], weights: number[]): Promise<StepStats> {
    if (this.stepDelayMs > 0) await sleep(this.stepDelayMs);
    this.steps++;
    this.trained.push({ pairIds: pairs.map((p) => p.pairId), weights: [...weights] });
    const margin = pairs.reduce((s, p) => s + p.margin, 0) / pairs.length;
    return { loss: 0.69 / this.steps, gradNorm: 1, lr: 1e-3, rewardMargin: margin, rewardAccuracy: 0.5 };
  }
  async exportWeights(): Promise<Uint8Array> {
    return new Uint8Array([this.steps & 255, 1, 2, 3]);
  }
  async saveCheckpoint(dir: string, state: Record<string, unknown>): Promise<void> {
    DISK.set(dir, { state: structuredClone(state), step: this.steps });
    this.checkpoints++;
    if (this.checkpoints === this.crashAfterCheckpoint) throw new Error('simulated crash after the checkpoint write');
  }
  async loadCheckpoint(dir: string): Promise<Record<string, unknown> | undefined> {
    const c = DISK.get(dir);
    if (!c) return undefined;
    this.steps = c.step;
    return structuredClone(c.state);
  }
  async close(): Promise<void> {}
}

export function prompts(n: number): PromptItem[] {
  return Array.from({ length: n }, (_, i) => ({ promptId: `q${i}`, text: `prompt ${i}`, tokens: [1, 2 + (i % 10), 3] }));
}

export function config(overrides: Record<string, Record<string, unknown>> = {}): Config {
  return parseConfig(overrides);
}

/** An in-process bus; with `clock`, its ack timers run on that clock (a FakeClock in tests that wait on time). */
export function bus(runId = 'test', overrides: Record<string, unknown> = {}, clock?: Clock): InProcessBus {
  return new InProcessBus(config({ bus: { ackWaitMs: 2000, ...overrides } }).bus, runId, { log: () => {}, ...(clock ? { clock } : {}) });
}

export const decode = (tokens: number[]): string => tokens.map((t) => String.fromCharCode(97 + t)).join('');

/**
 * A group of finished two-token responses (first token from `firsts`, then 1) to prompt [1, 2], one per entry; its
 * samples are `<groupId>:<k>` and carry `samplePromptId` (default: the group's prompt id).
 */
export function sampleGroup(o: { groupId: string; promptId: string; policyVersion: number; firsts: number[]; samplePromptId?: string }): SampleGroupMsg {
  return {
    type: 'samples',
    v: 1,
    runId: 'test',
    groupId: o.groupId,
    promptId: o.promptId,
    policyVersion: o.policyVersion,
    generatorId: 'g0',
    samples: o.firsts.map((t, k) => ({
      runId: 'test',
      sampleId: `${o.groupId}:${k}`,
      promptId: o.samplePromptId ?? o.promptId,
      policyVersion: o.policyVersion,
      generatorId: 'g0',
      startedAt: 0,
      createdAt: 1,
      promptTokens: [1, 2],
      responseTokens: [t, 1],
      text: decode([t, 1]),
      finished: true,
    })),
  };
}

/** Polls `cond` every few ms; fails after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

export function pair(id: string, chosenVersion: number, rejectedVersion = chosenVersion, runId = 'test'): PairMsg {
  return {
    type: 'pair',
    v: 1,
    runId,
    pairId: id,
    promptId: `q-${id}`,
    groupId: `g-${id}`,
    promptTokens: [1, 2, 3],
    chosen: { sampleId: `${id}:0`, responseTokens: [4, 5], text: 'ef', score: 1, policyVersion: chosenVersion },
    rejected: { sampleId: `${id}:1`, responseTokens: [6], text: 'g', score: 0, policyVersion: rejectedVersion },
    judgeId: 'judge-0',
    judgeModel: 'fake-rm',
    margin: 1,
    createdAt: 0,
  };
}

/**
 * A toy preference pair for prompt i % 4: the chosen response continues with even ids, the rejected one with odd ids.
 * `at` places the prompt's two ids and the responses' first id in the model's vocabulary.
 */
export function toyPair(i: number, eos: number, at: { prompt: [number, number]; response: number } = { prompt: [2, 3], response: 10 }): PairMsg {
  const q = i % 4;
  const r = at.response;
  const p = pair(`t${i}`, 0);
  p.promptTokens = [1, at.prompt[0] + q, at.prompt[1] + q];
  p.chosen.responseTokens = [r + 2 * q, r + 2 + 2 * q, eos];
  p.rejected.responseTokens = [r + 1 + 2 * q, r + 3 + 2 * q, r + 5, eos];
  return p;
}
