// What the monitor shows: the snapshot's view types, and the pure functions that build views from aggregated numbers.
import type { BusCounters } from '../streams/bus.js';
import type { WeightSyncRow } from './weight_sync_view.js';
import type { PeopleView } from './people_view.js';

/** alive: heard from within 3 intervals; stale: within 10; dead: longer; stopped: said it ended. */
export type Liveness = 'alive' | 'stale' | 'dead' | 'stopped';

export const STALE_INTERVALS = 3;
export const DEAD_INTERVALS = 10;

export interface HistogramView {
  /** Upper bounds, increasing; the last implicit bucket is +Inf. */
  bounds: number[];
  /** Cumulative: cumulative[i] counts observations <= bounds[i]. */
  cumulative: number[];
  count: number;
  sum: number;
  max: number | null;
  mean: number | null;
  /** Upper bound of the bucket holding the quantile, at most the max seen (the max when past the last bound). */
  p50: number | null;
  p90: number | null;
  /** Mean over the rate window (from the _sum and _count rates), when observations arrived in it. */
  recentMean: number | null;
}

export interface ActorView {
  actorId: string;
  role: string;
  state: string | null;
  liveness: Liveness;
  /** The actor's own timestamp of its last metrics message. */
  lastTs: number;
  ageMs: number;
  messages: number;
  values: Record<string, number>;
  /** Per-second rate of each counter over the window (0 unless alive). */
  rates: Record<string, number>;
  /** A few labelled numbers for the actor table: counter rates first, then well-known gauges. */
  highlights: [string, number][];
}

export interface RatesView {
  samplesPerSec: number;
  tokensPerSec: number;
  pairsPerSec: number;
  stepsPerSec: number;
  /** Pairs produced per learner step: below the batch size the learner waits for pairs. */
  pairsPerStep: number | null;
}

export interface TotalsView {
  samples: number;
  tokens: number;
  pairs: number;
  steps: number;
}

export interface QualityView {
  proxyReward: number | null;
  judgeScore: number | null;
  goldReward: number | null;
  kl: number | null;
  loss: number | null;
  margin: number | null;
  accuracy: number | null;
  winRate: number | null;
}

export interface PolicyView {
  version: number | null;
  lag: HistogramView | null;
  /** Learner side of a weight sync (store + announce), ms: the window's mean, else the run's. */
  weightPublishMs: number | null;
  /** Generator side (fetch + load), ms. */
  weightLoadMs: number | null;
  /** Both halves together: announcement to loaded weights, as far as the two sides measure it. */
  weightSyncMs: number | null;
}

export interface StreamsView {
  topics: { topic: string; published: number; delivered: number; acked: number; deadLettered: number }[];
  /** Messages waiting per durable consumer: the queue depth ahead of each consuming actor. */
  consumers: { topic: string; durable: string; pending: number }[];
  pendingTotal: number;
  deadLetters: number;
  /** Dead letters held now by sender (the id in the subject the server bound to its publisher); empty when unknown. */
  deadBySender: { sender: string; letters: number }[];
  /** When the counters were read; null before the first read. */
  observedAt: number | null;
}

export const SERIES_KEYS = [
  'samplesPerSec',
  'tokensPerSec',
  'pairsPerSec',
  'stepsPerSec',
  'pairsPerStep',
  'policyVersion',
  'policyLagMean',
  'policyLagP90',
  'weightSyncMs',
  'proxyReward',
  'judgeScore',
  'goldReward',
  'kl',
  'loss',
  'margin',
  'accuracy',
  'winRate',
  'pendingTotal',
  'deadLetters',
  'actorsAlive',
] as const;
export type SeriesKey = (typeof SERIES_KEYS)[number];
export type SeriesRow = { t: number } & Record<SeriesKey, number | null>;
/** Column-wise series, as chart libraries take them: t in ms, one array per key, null where unknown. */
export type SeriesColumns = { t: number[] } & Record<SeriesKey, (number | null)[]>;

export interface MonitorSnapshot {
  runId: string;
  now: number;
  /** Timestamp of the earliest metrics message seen. */
  startedAt: number | null;
  intervalMs: number;
  windowMs: number;
  actors: ActorView[];
  counts: Record<Liveness, number>;
  rates: RatesView;
  totals: TotalsView;
  policy: PolicyView;
  quality: QualityView;
  streams: StreamsView;
  histograms: Record<string, HistogramView>;
  /** The learner's weight-sync check per policy version, newest first (weight_sync_view.ts). */
  weightSync: WeightSyncRow[];
  /** People in the loop (judge.human): figures from the judges' counters. */
  people: PeopleView;
  series?: SeriesColumns;
}

export interface SnapshotOptions {
  /** 'all' history, 'none', or only the points after time `since`. */
  series?: 'all' | 'none' | { since: number };
}

const HIGHLIGHT_GAUGES: [string, string][] = [
  ['learner_policy_version', 'version'],
  ['generator_policy_version', 'version'],
  ['learner_loss', 'loss'],
  ['evaluator_gold_reward', 'gold'],
  ['evaluator_kl', 'kl'],
];

/** A few labelled numbers for an actor's row: counter rates first, then well-known gauges. */
export function highlightsOf(rates: Record<string, number>, values: Record<string, number>): [string, number][] {
  const highlights: [string, number][] = [];
  for (const [name, r] of Object.entries(rates)) {
    if (!name.endsWith('_total')) continue;
    // generator_samples_total -> samples/s: the role prefix and unit are implied by the row.
    const noun = name.slice(0, -'_total'.length).replace(/^[a-z0-9]+_/, '');
    highlights.push([`${noun}/s`, r]);
  }
  for (const [name, label] of HIGHLIGHT_GAUGES) if (name in values) highlights.push([label, values[name]!]);
  return highlights.slice(0, 5);
}

/** A histogram summed over actors: cumulative buckets by upper bound, totals, quantiles and the window's mean. */
export function histogramView(byBound: ReadonlyMap<number, number>, t: { count: number; sum: number; max: number | null }, recentMean: number | null): HistogramView {
  const { count, sum, max } = t;
  const bounds = [...byBound.keys()].filter(Number.isFinite).sort((a, b) => a - b);
  const cumulative = bounds.map((b) => byBound.get(b)!);
  const quantile = (q: number): number | null => {
    if (count === 0) return null;
    const i = cumulative.findIndex((c) => c >= q * count);
    // A bucket's upper bound overstates the quantile when every observation was smaller: clamp to the max seen.
    if (i < 0) return max;
    return max !== null ? Math.min(bounds[i]!, max) : bounds[i]!;
  };
  return {
    bounds,
    cumulative,
    count,
    sum,
    max,
    mean: count > 0 ? sum / count : null,
    p50: quantile(0.5),
    p90: quantile(0.9),
    recentMean,
  };
}

/** The bus's counters as per-topic rows and per-consumer queue depths. */
export function streamsView(c: BusCounters | undefined, observedAt: number | null): StreamsView {
  if (!c) return { topics: [], consumers: [], pendingTotal: 0, deadLetters: 0, deadBySender: [], observedAt: null };
  const names = new Set([...Object.keys(c.published), ...Object.keys(c.delivered), ...Object.keys(c.acked), ...Object.keys(c.deadLettered)]);
  const topics = [...names].sort().map((topic) => ({
    topic,
    published: c.published[topic] ?? 0,
    delivered: c.delivered[topic] ?? 0,
    acked: c.acked[topic] ?? 0,
    deadLettered: c.deadLettered[topic] ?? 0,
  }));
  const consumers = Object.entries(c.pending)
    .map(([key, pending]) => {
      const slash = key.indexOf('/');
      return { topic: slash >= 0 ? key.slice(0, slash) : key, durable: slash >= 0 ? key.slice(slash + 1) : '', pending };
    })
    .sort((a, b) => (a.topic + a.durable).localeCompare(b.topic + b.durable));
  return {
    topics,
    consumers,
    // The metrics topic's own consumers (this monitor among them) are not part of the pipeline's backlog.
    pendingTotal: consumers.filter((x) => x.topic !== 'metrics').reduce((s, x) => s + x.pending, 0),
    // The run's dead stream counts every process's letters; this process's own counters are the fallback.
    deadLetters: c.deadStored ?? topics.reduce((s, x) => s + x.deadLettered, 0),
    deadBySender: Object.entries(c.deadBySender ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([sender, letters]) => ({ sender, letters })),
    observedAt,
  };
}

/** One chart point from a snapshot. */
export function seriesRow(s: MonitorSnapshot): SeriesRow {
  const lag = s.policy.lag;
  const row: SeriesRow = {
    t: s.now,
    samplesPerSec: s.rates.samplesPerSec,
    tokensPerSec: s.rates.tokensPerSec,
    pairsPerSec: s.rates.pairsPerSec,
    stepsPerSec: s.rates.stepsPerSec,
    pairsPerStep: s.rates.pairsPerStep,
    policyVersion: s.policy.version,
    policyLagMean: lag ? (lag.recentMean ?? lag.mean) : null,
    policyLagP90: lag ? lag.p90 : null,
    weightSyncMs: s.policy.weightSyncMs,
    proxyReward: s.quality.proxyReward,
    judgeScore: s.quality.judgeScore,
    goldReward: s.quality.goldReward,
    kl: s.quality.kl,
    loss: s.quality.loss,
    margin: s.quality.margin,
    accuracy: s.quality.accuracy,
    winRate: s.quality.winRate,
    pendingTotal: s.streams.observedAt === null ? null : s.streams.pendingTotal,
    deadLetters: s.streams.observedAt === null ? null : s.streams.deadLetters,
    actorsAlive: s.counts.alive,
  };
  return row;
}
