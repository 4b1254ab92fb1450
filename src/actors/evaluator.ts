// Evaluator: every N policy versions, samples on held-out prompts and reports gold reward, proxy reward, win rate vs SFT, length and KL.
import type { Config } from '../config/index.js';
import { deriveSeed } from '../kernels/rng.js';
import { weightsAtLeast, type Bus } from '../streams/bus.js';
import type { Clock } from '../clock.js';
import type { MetricsRegistry } from './metrics.js';
import type { GenerateOptions, PolicyPort, ScorerPort } from './ports.js';
import type { PromptItem } from './prompt_source.js';

export class EvaluatorError extends Error {
  override name = 'EvaluatorError';
}

/** The task's gold judge, batched: the true preference the proxy model stands in for (higher is better), one score per item. */
export type GoldScorer = (items: { prompt: PromptItem; tokens: number[]; text: string }[]) => Promise<number[]>;

export interface EvaluatorDeps {
  bus: Bus;
  /** The policy under evaluation; the evaluator loads each version into it. */
  policy: PolicyPort;
  /** The SFT model: baseline responses for the win rate and the reference of the KL estimate. */
  reference: PolicyPort;
  scorer: ScorerPort;
  gold: GoldScorer;
  decode: (tokens: number[]) => string;
  clock: Clock;
  metrics: MetricsRegistry;
  /** Called with each report (the run's summary collects them). */
  onReport?: (r: EvalReport) => void;
  /** Receives every evaluated response with its scores (the composition root writes them to the run's responses.jsonl). */
  onResponses?: (rows: EvalResponse[]) => Promise<void>;
}

export interface EvaluatorOptions {
  evaluatorId: string;
  config: Config['evaluator'];
  /** Held-out prompts; the first config.prompts are used. */
  prompts: readonly PromptItem[];
  /** Sampling filters shared with the generators. */
  topK: number;
  topP: number;
}

export interface EvalReport {
  version: number;
  /** Learner step that produced the version (0 for SFT). */
  step: number;
  prompts: number;
  goldReward: number;
  proxyReward: number;
  sftGoldReward: number;
  /** Share of prompts where the gold judge prefers the policy's response to the SFT model's (ties count half). */
  winRateVsSft: number;
  responseTokens: number;
  /**
   * KL(pi || ref) in nats per response, estimated from this evaluation's samples y ~ pi(.|x): the mean over prompts of
   * log pi(y|x) - log pi_ref(y|x) (sequence level; unbiased at evaluator.temperature 1, when the evaluator samples pi itself).
   */
  kl?: number;
  /**
   * The same KL from the per-token k3 estimator (Schulman): sum over response tokens of (r - 1) - log r with
   * r = pi_ref(y_t|x, y<t) / pi(y_t|x, y<t); unbiased too, never negative, lower variance. Needs per-token log-probs.
   */
  klK3?: number;
  ts: number;
}

/** One evaluated response: what the policy of `version` answered to a held-out prompt, beside the SFT model's answer. */
export interface EvalResponse {
  version: number;
  step: number;
  ts: number;
  promptId: string;
  prompt: string;
  response: string;
  responseTokens: number;
  gold: number;
  proxy: number;
  sftResponse: string;
  sftGold: number;
  /** 1 when the gold judge prefers this response to the SFT one, 0.5 on a tie, else 0. */
  win: number;
  /** log pi(y|x) - log pi_ref(y|x) of this response, and its summed k3 (when the ports give log-probs). */
  logRatio?: number;
  k3?: number;
}

interface Baseline {
  responses: number[][];
  gold: number[];
}

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

/** Per-response KL terms from per-token log-probs of policy (lp) and reference (lr): the log-ratio and the summed k3. */
export function klTerms(lp: readonly number[], lr: readonly number[]): { logRatio: number; k3: number } {
  if (lp.length !== lr.length) throw new EvaluatorError(`policy and reference log-probs differ in length: ${lp.length} vs ${lr.length} tokens`);
  let logRatio = 0;
  let k3 = 0;
  for (let t = 0; t < lp.length; t++) {
    const d = lr[t]! - lp[t]!; // log r, r = pi_ref / pi
    logRatio -= d;
    k3 += Math.expm1(d) - d;
  }
  return { logRatio, k3 };
}

/** Both policies' log-probs of the sampled responses: per token when the ports give them, else per sequence. */
async function klOf(policy: PolicyPort, reference: PolicyPort, prompts: number[][], responses: number[][]): Promise<{ logRatio: number; k3?: number }[] | undefined> {
  if (policy.tokenLogprobs && reference.tokenLogprobs) {
    const [lp, lr] = await Promise.all([policy.tokenLogprobs(prompts, responses), reference.tokenLogprobs(prompts, responses)]);
    return lp.map((x, i) => klTerms(x, lr[i]!));
  }
  if (policy.logprobs && reference.logprobs) {
    const [lp, lr] = await Promise.all([policy.logprobs(prompts, responses), reference.logprobs(prompts, responses)]);
    return lp.map((x, i) => ({ logRatio: x - lr[i]! }));
  }
  return undefined;
}

export class Evaluator {
  private loaded = 0;
  private lastEvaluated = Number.NEGATIVE_INFINITY;
  private baselineP: Promise<Baseline> | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private stateName = 'idle';
  readonly reports: EvalReport[] = [];

  constructor(
    private readonly deps: EvaluatorDeps,
    private readonly opts: EvaluatorOptions,
  ) {
    if (opts.prompts.length === 0) throw new EvaluatorError('the evaluator needs at least one held-out prompt');
  }

  get state(): string {
    return this.stateName;
  }

  private get prompts(): readonly PromptItem[] {
    return this.opts.prompts.slice(0, this.opts.config.prompts);
  }

  /**
   * evaluator.seed for every evaluation, whatever the run's compute.seed: two versions differ by their weights only, and
   * the SFT baseline (its responses and gold reward) is the same in every run of the same SFT model and prompts.
   */
  private genOpts(): GenerateOptions {
    const c = this.opts.config;
    return { maxNewTokens: c.maxNewTokens, temperature: c.temperature, topK: this.opts.topK, topP: this.opts.topP, seed: deriveSeed(c.seed, 'eval') };
  }

  private async goldOf(ps: readonly PromptItem[], responses: number[][]): Promise<number[]> {
    const g = await this.deps.gold(responses.map((tokens, i) => ({ prompt: ps[i]!, tokens, text: this.deps.decode(tokens) })));
    if (g.length !== responses.length || !g.every(Number.isFinite)) {
      throw new EvaluatorError(`the gold judge returned ${g.length} scores for ${responses.length} responses; all must be finite`);
    }
    return g;
  }

  /** SFT responses and their gold scores: computed once, the fixed opponent of every win rate. */
  baseline(): Promise<Baseline> {
    this.baselineP ??= (async () => {
      const ps = this.prompts;
      const r = await this.deps.reference.generate(ps.map((p) => p.tokens), 1, this.genOpts());
      const responses = r.tokens.map((t) => t[0]!);
      return { responses, gold: await this.goldOf(ps, responses) };
    })();
    return this.baselineP;
  }

  /** Evaluates the policy port as it is now, labelled `version` / `step`. */
  async evaluateLoaded(version: number, step: number): Promise<EvalReport> {
    const t0 = this.deps.clock.now();
    const ps = this.prompts;
    const base = await this.baseline();
    const r = await this.deps.policy.generate(ps.map((p) => p.tokens), 1, this.genOpts());
    const responses = r.tokens.map((t) => t[0]!);
    const gold = await this.goldOf(ps, responses);
    const scorer = this.deps.scorer;
    const proxy = scorer.scoreMany
      ? (await scorer.scoreMany(ps.map((p, i) => ({ promptTokens: p.tokens, responses: [responses[i]!] })))).map((s) => s[0]!)
      : await Promise.all(ps.map(async (p, i) => (await scorer.score(p.tokens, [responses[i]!]))[0]!));
    const wins = gold.map((g, i) => (g > base.gold[i]! ? 1 : g === base.gold[i]! ? 0.5 : 0));
    const kls = await klOf(this.deps.policy, this.deps.reference, ps.map((p) => p.tokens), responses);
    const report: EvalReport = {
      version,
      step,
      prompts: ps.length,
      goldReward: mean(gold),
      proxyReward: mean(proxy),
      sftGoldReward: mean(base.gold),
      winRateVsSft: mean(wins),
      responseTokens: mean(responses.map((x) => x.length)),
      ts: this.deps.clock.now(),
    };
    if (kls) {
      report.kl = mean(kls.map((k) => k.logRatio));
      if (kls.every((k) => k.k3 !== undefined)) report.klK3 = mean(kls.map((k) => k.k3!));
    }
    this.reports.push(report);
    if (this.deps.onResponses) {
      const { decode } = this.deps;
      await this.deps.onResponses(
        ps.map((p, i) => ({
          version,
          step,
          ts: report.ts,
          promptId: p.promptId,
          prompt: p.text,
          response: decode(responses[i]!),
          responseTokens: responses[i]!.length,
          gold: gold[i]!,
          proxy: proxy[i]!,
          sftResponse: decode(base.responses[i]!),
          sftGold: base.gold[i]!,
          win: wins[i]!,
          ...(kls ? { logRatio: kls[i]!.logRatio, ...(kls[i]!.k3 !== undefined ? { k3: kls[i]!.k3 } : {}) } : {}),
        })),
      );
    }
    await this.record(report, (this.deps.clock.now() - t0) / 1000);
    this.deps.onReport?.(report);
    return report;
  }

  private async record(r: EvalReport, seconds: number): Promise<void> {
    const m = this.deps.metrics;
    m.counter('evaluator_evaluations_total').inc();
    m.histogram('evaluator_eval_seconds').observe(seconds);
    const values: Record<string, number> = {
      evaluator_policy_version: r.version,
      evaluator_step_index: r.step,
      evaluator_gold_reward: r.goldReward,
      evaluator_proxy_reward: r.proxyReward,
      evaluator_sft_gold_reward: r.sftGoldReward,
      evaluator_win_rate: r.winRateVsSft,
      evaluator_response_length_tokens: r.responseTokens,
    };
    if (r.kl !== undefined) values.evaluator_kl_nats = r.kl;
    if (r.klK3 !== undefined) values.evaluator_kl_k3_nats = r.klK3;
    for (const [k, v] of Object.entries(values)) m.gauge(k).set(v);
    // One message per evaluation, so the dashboard and the run log see every point, not only the last one.
    await this.deps.bus.publish('metrics', {
      type: 'metrics',
      v: 1,
      runId: this.deps.bus.runId,
      actorId: this.opts.evaluatorId,
      role: 'evaluator',
      ts: r.ts,
      values,
      state: 'evaluated',
    });
  }

  /** Loads `version` from the weight store (unless held) and evaluates it. */
  async evaluateVersion(version: number): Promise<EvalReport> {
    let step = 0;
    if (version > 0) {
      // The store keeps only recent versions: one dropped while this evaluator was busy is replaced by the newest.
      const blob = await weightsAtLeast(this.deps.bus.weights, version);
      if (!blob) throw new EvaluatorError(`weights version ${version} is not in the weight store`);
      version = blob.meta.version;
      step = blob.meta.step;
      if (this.loaded !== version) {
        await this.deps.policy.loadWeights(version, blob.bytes);
        this.loaded = version;
      }
    } else if (this.loaded !== 0) {
      throw new EvaluatorError('version 0 (SFT) can only be evaluated before another version was loaded');
    }
    this.lastEvaluated = version;
    return this.evaluateLoaded(version, step);
  }

  /** Evaluates the SFT policy now, then every config.everyVersions versions as they are announced (the newest when several are due). */
  start(): void {
    if (this.loop) return;
    this.stateName = 'running';
    this.loop = (async () => {
      if (this.loaded === 0 && this.lastEvaluated < 0) await this.evaluateVersion(0);
      for await (const w of this.deps.bus.weights.watch(this.abort.signal)) {
        if (w.version < this.lastEvaluated + this.opts.config.everyVersions) continue;
        // Announcements that arrived while the previous evaluation ran are behind the newest: evaluate that one.
        const newest = Math.max(w.version, (await this.deps.bus.weights.latest())?.version ?? 0);
        await this.evaluateVersion(newest);
      }
    })();
  }

  get finished(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Evaluates the newest stored version unless it was the last one evaluated (the run's final point). */
  async evaluateLatest(): Promise<EvalReport | undefined> {
    const latest = await this.deps.bus.weights.latest();
    const v = latest?.version ?? 0;
    if (v === this.lastEvaluated) return this.reports.at(-1);
    return this.evaluateVersion(v);
  }

  /** Finishes the evaluation in flight and stops watching. */
  async stop(): Promise<void> {
    this.stateName = 'draining';
    this.abort.abort();
    await this.loop;
    this.stateName = 'stopped';
  }
}
