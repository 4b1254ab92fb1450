// Weight-sync check: recomputes a share of samples' behaviour log-probs under the version they name, so a generator that
// samples with other weights than the learner published shows up as a per-version mismatch instead of silently.
import type { WeightStore } from '../streams/bus.js';
import { decodeLogprobs } from '../streams/behaviour_logprobs.js';
import type { PairMsg, PairSide } from '../streams/topics.js';
import type { MetricsRegistry } from './metrics.js';
import type { PolicyPort } from './ports.js';

export class SyncMismatchError extends Error {
  override name = 'SyncMismatchError';
}

export interface SyncCheckOptions {
  /** Share of pairs checked beyond the first of each version, in [0, 1]. */
  share: number;
  /** Mean absolute per-token difference (nats) above which a version is reported once as a warning. */
  warn: number;
  /** Above this (when > 0) the check records a SyncMismatchError the learner stops on. */
  stop: number;
  /** The version the check policy holds when built (0: the SFT weights every port starts with). */
  initialVersion?: number;
  /** Per-version gauges kept for the newest this many versions (a metrics message stays bounded on long runs). */
  keepVersions?: number;
  /** Checks waiting beyond this are skipped unless they are a version's first (the learner never waits on a backlog). */
  maxQueued?: number;
}

export interface SyncCheckDeps {
  weights: WeightStore;
  /** A policy port used only for the check: it loads each checked version's published bytes. */
  policy: PolicyPort & Required<Pick<PolicyPort, 'tokenLogprobs'>>;
  metrics: MetricsRegistry;
  log: (line: string) => void;
}

/** What one recomputation found for one sample. */
export interface SampleMismatch {
  /** Mean over tokens of |log pi_learner(y_t) - log pi_behaviour(y_t)|, nats. */
  meanAbsDiff: number;
  /** Sum over tokens of log pi_learner - log pi_behaviour: the log of the implied sequence ratio pi / mu. */
  logRatio: number;
  tokens: number;
}

/** Compares recomputed and behaviour log-probs of one response. */
export function sampleMismatch(recomputed: readonly number[], behaviour: Float32Array): SampleMismatch {
  const n = Math.min(recomputed.length, behaviour.length);
  let abs = 0;
  let sum = 0;
  for (let t = 0; t < n; t++) {
    const d = recomputed[t]! - behaviour[t]!;
    abs += Math.abs(d);
    sum += d;
  }
  return { meanAbsDiff: n > 0 ? abs / n : 0, logRatio: sum, tokens: n };
}

/** Largest ratio reported: metrics values must stay within +-1e15 (MAX_METRIC_MAGNITUDE), and past it the verdict is the same. */
const MAX_RATIO = 1e15;

/** exp(logRatio), capped so a wildly wrong generator still yields a publishable metric. */
export const seqRatio = (logRatio: number): number => Math.min(Math.exp(logRatio), MAX_RATIO);

/** FNV-1a of a string mapped to [0, 1): which pairs fall in the checked share, reproducibly and without a clock or RNG. */
function unitHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

interface VersionStats {
  samples: number;
  tokens: number;
  absSum: number;
  /** The checked sample's log ratio furthest from 0 (signed). */
  worstLogRatio: number;
  warned: boolean;
}

interface Job {
  version: number;
  pairId: string;
  prompt: number[];
  sides: PairSide[];
  first: boolean;
}

/** Per-version metric names: the monitor turns the `_version_<n>` suffix into a version label. */
export const syncDiffName = (v: number): string => `learner_sync_logprob_diff_version_${v}`;
export const syncRatioName = (v: number): string => `learner_sync_seq_ratio_version_${v}`;

export class SyncChecker {
  private loaded: number;
  private readonly stats = new Map<number, VersionStats>();
  /** Versions whose first pair was taken for a check. */
  private readonly started = new Set<number>();
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  /** Set when a version's mismatch passed the stop bound; the learner stops on it. */
  failure: SyncMismatchError | undefined;
  /** Set when the check itself failed (port or store error): reported, and the check goes quiet. */
  broken: unknown;

  constructor(
    private readonly deps: SyncCheckDeps,
    private readonly o: SyncCheckOptions,
  ) {
    this.loaded = o.initialVersion ?? 0;
  }

  /** Mismatch so far per version checked: mean absolute per-token difference and the worst implied sequence ratio. */
  perVersion(): Map<number, { meanAbsDiff: number; seqRatio: number; samples: number; tokens: number }> {
    const out = new Map<number, { meanAbsDiff: number; seqRatio: number; samples: number; tokens: number }>();
    for (const [v, s] of this.stats) out.set(v, { meanAbsDiff: s.tokens > 0 ? s.absSum / s.tokens : 0, seqRatio: seqRatio(s.worstLogRatio), samples: s.samples, tokens: s.tokens });
    return out;
  }

  /** Considers a pair the learner admitted: checks it when it is its version's first or falls in the share. */
  offer(p: PairMsg): void {
    if (this.broken !== undefined) return;
    const m = this.deps.metrics;
    // A side sampled by several versions (in-flight updates) has no single version to recompute under.
    const usable = [p.chosen, p.rejected].filter((s) => s.behaviourLogprobs !== undefined && (s.lastPolicyVersion ?? s.policyVersion) === s.policyVersion && s.responseTokens.length > 0);
    const without = 2 - usable.length;
    if (without > 0) m.counter('learner_sync_samples_unchecked_total').inc(without);
    const byVersion = new Map<number, PairSide[]>();
    for (const s of usable) byVersion.set(s.policyVersion, [...(byVersion.get(s.policyVersion) ?? []), s]);
    for (const [version, sides] of byVersion) {
      const first = !this.started.has(version);
      if (!first && unitHash(`${p.pairId}:${version}`) >= this.o.share) continue;
      // Going back to an older version means reloading weights twice; only a version's first pair is worth it.
      if (!first && (this.queued >= (this.o.maxQueued ?? 4) || version < this.loaded)) {
        m.counter('learner_sync_checks_skipped_total').inc();
        continue;
      }
      this.started.add(version);
      this.enqueue({ version, pairId: p.pairId, prompt: p.promptTokens, sides, first });
    }
  }

  /** Resolves when every queued check has run. */
  idle(): Promise<void> {
    return this.chain;
  }

  private enqueue(job: Job): void {
    this.queued++;
    this.chain = this.chain.then(async () => {
      try {
        if (this.broken === undefined) await this.run(job);
      } catch (err) {
        this.broken = err;
        this.deps.metrics.counter('learner_sync_check_errors_total').inc();
        this.deps.log(`learner: weight-sync check stopped after an error: ${(err as Error).message}`);
      } finally {
        this.queued--;
      }
    });
  }

  private async run(job: Job): Promise<void> {
    const m = this.deps.metrics;
    if (job.version !== this.loaded) {
      const blob = await this.deps.weights.get(job.version);
      if (!blob || blob.meta.version !== job.version) {
        // The store keeps only recent versions; a pair that waited long may name one it dropped.
        m.counter('learner_sync_checks_skipped_total').inc();
        return;
      }
      await this.deps.policy.loadWeights(job.version, blob.bytes);
      this.loaded = job.version;
    }
    const lp = await this.deps.policy.tokenLogprobs(
      job.sides.map(() => job.prompt),
      job.sides.map((s) => s.responseTokens),
    );
    job.sides.forEach((s, i) => this.record(job, s, sampleMismatch(lp[i]!, decodeLogprobs(s.behaviourLogprobs!))));
  }

  private record(job: Job, side: PairSide, r: SampleMismatch): void {
    const m = this.deps.metrics;
    const v = job.version;
    let s = this.stats.get(v);
    if (!s) {
      s = { samples: 0, tokens: 0, absSum: 0, worstLogRatio: 0, warned: false };
      this.stats.set(v, s);
      this.forgetOldVersions();
    }
    s.samples++;
    s.tokens += r.tokens;
    s.absSum += r.meanAbsDiff * r.tokens;
    if (Math.abs(r.logRatio) > Math.abs(s.worstLogRatio)) s.worstLogRatio = r.logRatio;
    const mean = s.absSum / s.tokens;
    m.counter('learner_sync_samples_checked_total').inc();
    m.counter('learner_sync_tokens_checked_total').inc(r.tokens);
    m.gauge(syncDiffName(v)).set(mean);
    m.gauge(syncRatioName(v)).set(seqRatio(s.worstLogRatio));
    m.gauge('learner_sync_version').set(v);
    m.gauge('learner_sync_last_logprob_diff').set(mean);
    const max = m.gauge('learner_sync_logprob_diff_max');
    if (!(max.value >= r.meanAbsDiff)) max.set(r.meanAbsDiff);
    const what = () =>
      `samples of version ${v} differ from the learner's recomputation under version ${v} by ${mean.toExponential(2)} nats per token on average ` +
      `(sample ${side.sampleId} of pair ${job.pairId}: ${r.meanAbsDiff.toExponential(2)} per token, implied sequence ratio pi/mu ${seqRatio(r.logRatio).toExponential(2)})`;
    if (mean > this.o.warn && !s.warned) {
      s.warned = true;
      m.counter('learner_sync_warnings_total').inc();
      this.deps.log(`learner: WARNING weight sync: ${what()}, above learner.syncMismatchWarn ${this.o.warn}: generators may not be sampling with the weights the learner published`);
    }
    if (this.o.stop > 0 && mean > this.o.stop && !this.failure) {
      this.failure = new SyncMismatchError(`weight sync check failed: ${what()}, above learner.syncMismatchStop ${this.o.stop}: generators are not sampling with the weights the learner published`);
    }
  }

  private forgetOldVersions(): void {
    const keep = this.o.keepVersions ?? 32;
    const versions = [...this.stats.keys()].sort((a, b) => a - b);
    for (const v of versions.slice(0, Math.max(0, versions.length - keep))) {
      this.stats.delete(v);
      this.deps.metrics.remove(syncDiffName(v));
      this.deps.metrics.remove(syncRatioName(v));
    }
  }
}
