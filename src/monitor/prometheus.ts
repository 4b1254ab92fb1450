// Prometheus exposition of the aggregated run state: every actor metric (labelled actor, role) plus derived rates and queues.
import { Registry } from 'prom-client';
import type { MetricsAggregator } from './aggregator.js';
import type { MonitorSnapshot } from './views.js';
import { histogramBases, parseBucketName, parseVersionName } from './metric_names.js';

export type FamilyType = 'counter' | 'gauge' | 'histogram';

export interface Sample {
  /** Set for a histogram's _bucket, _sum and _count lines; the family name otherwise. */
  metricName?: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: FamilyType;
  values: Sample[];
}

const HELP: Record<string, string> = {
  generator_samples_total: 'Responses sampled by the generator',
  generator_tokens_total: 'Response tokens sampled by the generator',
  judge_pairs_total: 'Preference pairs published by the judge',
  learner_steps_total: 'Optimizer steps taken by the learner',
  learner_loss: 'Preference loss of the last step',
  learner_policy_lag: 'Policy versions between a pair\'s samples and the learner when it trained on them',
  learner_policy_version: 'Latest policy version published by the learner',
  judge_score_mean: 'Mean proxy score of the last scored batch',
  evaluator_kl_nats: 'KL(policy || SFT) in nats per response: mean of log pi(y|x) - log pi_ref(y|x) over the evaluator\'s fresh samples y ~ pi on held-out prompts (unbiased at temperature 1)',
  evaluator_kl_k3_nats: 'KL(policy || SFT) in nats per response from the per-token k3 estimator (r - 1) - log r, r = pi_ref / pi, summed over each response of the evaluator\'s samples (unbiased, never negative, lower variance)',
  learner_pair_kl_nats: 'Mean log pi(y|x) - log pi_ref(y|x) over the chosen and rejected responses of the last step (before it): they were sampled by a recent version mu, so this is KL(mu || ref) - KL(mu || pi), biased low by the lag (in offline mode mu = ref and it is -KL(ref || pi) <= 0); best and worst of K, not a plain draw',
  learner_sync_logprob_diff: 'Weight-sync check, per policy version: mean absolute difference (nats per token) between the log-probs generators sampled with and the learner\'s recomputation under the version they name (float rounding when in sync)',
  learner_sync_seq_ratio: 'Weight-sync check, per policy version: implied sequence ratio pi/mu (learner over behaviour) of the checked sample furthest from 1 (1 when in sync; capped at 1e15)',
  learner_sync_last_logprob_diff: 'Weight-sync check: the mean absolute per-token log-prob difference of the version checked last',
  learner_sync_logprob_diff_max: 'Weight-sync check: the largest per-sample mean absolute per-token log-prob difference seen in the run',
  learner_chosen_logratio_nats: 'Mean log pi(y|x) - log pi_ref(y|x) over the last step\'s chosen responses (best of K by the proxy): a drift signal, not a KL',
};

/** Prometheus names allow [a-zA-Z_:][a-zA-Z0-9_:]*; anything else from a foreign producer is mapped into that. */
export function sanitizeName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[a-zA-Z_:]/.test(s) ? s : `_${s}`;
}

/** `le` label text as Prometheus writes it: integers without a decimal point, +Inf for the overflow bucket. */
function leLabel(le: number): string {
  return le === Number.POSITIVE_INFINITY ? '+Inf' : String(le);
}

/** Every family exposed for one snapshot: pure, so the exposition can be tested without a server. */
export function families(snap: MonitorSnapshot): Family[] {
  const out = new Map<string, Family>();
  const family = (name: string, type: FamilyType, help?: string): Family => {
    let f = out.get(name);
    if (!f) {
      f = { name, type, help: help ?? HELP[name] ?? `${name} as reported by each actor`, values: [] };
      out.set(name, f);
    }
    return f;
  };

  for (const a of snap.actors) {
    const labels = { actor: a.actorId, role: a.role };
    const bases = histogramBases(a.values);
    for (const base of bases) {
      const name = sanitizeName(base);
      const f = family(name, 'histogram');
      const buckets = Object.entries(a.values)
        .map(([k, v]) => ({ b: parseBucketName(k), v }))
        .filter((x) => x.b?.base === base && Number.isFinite(x.b.le))
        .sort((x, y) => x.b!.le - y.b!.le);
      const count = a.values[`${base}_count`] ?? 0;
      for (const { b, v } of buckets) f.values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: leLabel(b!.le) }, value: v });
      f.values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: count });
      f.values.push({ metricName: `${name}_sum`, labels, value: a.values[`${base}_sum`] ?? 0 });
      f.values.push({ metricName: `${name}_count`, labels, value: count });
    }
    for (const [key, value] of Object.entries(a.values)) {
      if (parseBucketName(key)) continue;
      if ([...bases].some((b) => key === `${b}_count` || key === `${b}_sum`)) continue;
      // A gauge per policy version (the weight-sync check) is one family with a version label.
      const pv = parseVersionName(key);
      if (pv) {
        family(sanitizeName(pv.base), 'gauge').values.push({ labels: { ...labels, version: String(pv.version) }, value });
        continue;
      }
      const name = sanitizeName(key);
      const f = family(name, key.endsWith('_total') ? 'counter' : 'gauge');
      f.values.push({ labels, value });
    }
  }

  const up = family('monitor_actor_up', 'gauge', 'Actor liveness: 1 when its last metrics arrived within 3 intervals');
  const age = family('monitor_actor_heartbeat_age_seconds', 'gauge', 'Seconds since the actor\'s last metrics message');
  for (const a of snap.actors) {
    const labels = { actor: a.actorId, role: a.role };
    up.values.push({ labels, value: a.liveness === 'alive' ? 1 : 0 });
    age.values.push({ labels, value: a.ageMs / 1000 });
  }
  const actors = family('monitor_actors', 'gauge', 'Actors by liveness (alive, stale, dead, stopped)');
  for (const [liveness, n] of Object.entries(snap.counts)) actors.values.push({ labels: { liveness }, value: n });

  const gauge = (name: string, help: string, value: number | null): void => {
    const f = family(name, 'gauge', help);
    if (value !== null) f.values.push({ labels: {}, value });
  };
  gauge('monitor_samples_per_second', 'Responses sampled per second, all generators, over the rate window', snap.rates.samplesPerSec);
  gauge('monitor_tokens_per_second', 'Response tokens sampled per second, all generators', snap.rates.tokensPerSec);
  gauge('monitor_pairs_per_second', 'Preference pairs published per second, all judges', snap.rates.pairsPerSec);
  gauge('monitor_learner_steps_per_second', 'Learner optimizer steps per second', snap.rates.stepsPerSec);
  gauge('monitor_pairs_per_step', 'Pairs produced per learner step (below the batch size the learner waits)', snap.rates.pairsPerStep);
  gauge('monitor_policy_version', 'Latest policy version', snap.policy.version);
  gauge('monitor_policy_lag_mean', 'Mean policy lag of pairs trained in the rate window (versions)', snap.policy.lag ? (snap.policy.lag.recentMean ?? snap.policy.lag.mean) : null);
  gauge('monitor_weight_sync_seconds', 'Weight sync time: learner publish plus generator load', snap.policy.weightSyncMs === null ? null : snap.policy.weightSyncMs / 1000);

  const pending = family('monitor_stream_pending_messages', 'gauge', 'Messages waiting for each durable consumer (queue depth)');
  for (const c of snap.streams.consumers) pending.values.push({ labels: { topic: c.topic, consumer: c.durable }, value: c.pending });
  const published = family('monitor_stream_published_total', 'counter', 'Messages published per topic, as the monitor\'s bus counts them');
  const dead = family('monitor_stream_dead_letters_total', 'counter', 'Messages dead-lettered per topic');
  for (const t of snap.streams.topics) {
    published.values.push({ labels: { topic: t.topic }, value: t.published });
    dead.values.push({ labels: { topic: t.topic }, value: t.deadLettered });
  }
  return [...out.values()];
}

/** A prom-client metric whose samples are whatever the current scrape computed for its name. */
class ScrapedMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    private readonly current: () => Family | undefined,
  ) {}
  get help(): string {
    return this.current()?.help ?? this.name;
  }
  get type(): FamilyType {
    return this.current()?.type ?? 'gauge';
  }
  async get(): Promise<Family & { aggregator: string }> {
    const f = this.current();
    return { name: this.name, help: this.help, type: this.type, values: f?.values ?? [], aggregator: this.aggregator };
  }
  reset(): void {}
}

/** Serves `families()` through a prom-client Registry, so the text format is prom-client's own. */
export class PrometheusExporter {
  readonly registry = new Registry();
  private current = new Map<string, Family>();

  constructor(private readonly agg: MetricsAggregator) {}

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for the aggregator's state now. */
  async metrics(): Promise<string> {
    const next = new Map(families(this.agg.snapshot()).map((f) => [f.name, f]));
    for (const name of this.current.keys()) if (!next.has(name)) this.registry.removeSingleMetric(name);
    for (const name of next.keys()) {
      if (!this.current.has(name)) {
        // prom-client formats any object with name/help/type/get(); the cast only bridges its nominal types.
        this.registry.registerMetric(new ScrapedMetric(name, () => this.current.get(name)) as unknown as Parameters<Registry['registerMetric']>[0]);
      }
    }
    this.current = next;
    return this.registry.metrics();
  }
}
