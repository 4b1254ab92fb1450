// The monitor's state: the 'metrics' stream folded into per-actor values and liveness, windowed rates, histograms and
// series; snapshot() assembles the views (views.ts) from it.
import type { BusCounters } from '../streams/bus.js';
import type { MetricsMsg } from '../streams/topics.js';
import { histogramBases, isCounterName, parseBucketName, TERMINAL_STATES, WELL_KNOWN } from './metric_names.js';
import { RingBuffer } from './ring_buffer.js';
import { WeightSyncTable } from './weight_sync_view.js';
import {
  DEAD_INTERVALS,
  highlightsOf,
  histogramView,
  SERIES_KEYS,
  seriesRow,
  STALE_INTERVALS,
  streamsView,
  type ActorView,
  type HistogramView,
  type Liveness,
  type MonitorSnapshot,
  type RatesView,
  type SeriesColumns,
  type SeriesRow,
  type SnapshotOptions,
} from './views.js';
import { peopleView } from './people_view.js';

export interface AggregatorOptions {
  /** Messages of other runs are ignored; empty accepts any run. */
  runId?: string;
  /** The actors' metrics period: liveness is measured in these. */
  intervalMs: number;
  /** Span over which counter rates are averaged (default: 10 intervals, at least 5 s). */
  windowMs?: number;
  /** Series points kept for charts (default 3600: an hour at one point a second). */
  historyLength?: number;
  /** Milliseconds since the epoch; injected so tests drive time. */
  now?: () => number;
}

interface Point {
  ts: number;
  total: number;
}

/** A counter made monotonic across actor restarts, with the points inside the rate window. */
interface CounterTrack {
  raw: number;
  total: number;
  points: Point[];
}

interface ActorRecord {
  actorId: string;
  role: string;
  state: string | null;
  lastTs: number;
  messages: number;
  values: Record<string, number>;
  bases: Set<string>;
  counters: Map<string, CounterTrack>;
}

export class MetricsAggregator {
  readonly runId: string;
  readonly intervalMs: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly actors = new Map<string, ActorRecord>();
  private readonly history: RingBuffer<SeriesRow>;
  private readonly weightSync = new WeightSyncTable();
  private bus: BusCounters | undefined;
  private busAt: number | null = null;
  private startedAt: number | null = null;
  /** Messages dropped: another run's, or older than what the actor already reported (redeliveries). */
  ignored = 0;
  /** Messages refused (metric_names.ts, metricsProblem): another role's names, a role its id does not name, a value out of range. */
  refused = 0;

  constructor(opts: AggregatorOptions) {
    if (!(opts.intervalMs > 0)) throw new RangeError(`intervalMs must be a positive number of milliseconds; got ${opts.intervalMs}`);
    this.runId = opts.runId ?? '';
    this.intervalMs = opts.intervalMs;
    this.windowMs = opts.windowMs ?? Math.max(10 * opts.intervalMs, 5000);
    this.now = opts.now ?? Date.now;
    this.history = new RingBuffer<SeriesRow>(opts.historyLength ?? 3600);
  }

  /** Takes one metrics message; returns false when it was ignored. */
  ingest(msg: MetricsMsg): boolean {
    if (this.runId && msg.runId !== this.runId) {
      this.ignored++;
      return false;
    }
    let rec = this.actors.get(msg.actorId);
    if (rec && msg.ts < rec.lastTs) {
      this.ignored++;
      return false;
    }
    if (!rec) {
      rec = { actorId: msg.actorId, role: msg.role, state: null, lastTs: msg.ts, messages: 0, values: {}, bases: new Set(), counters: new Map() };
      this.actors.set(msg.actorId, rec);
    }
    const values: Record<string, number> = {};
    // JSON turns NaN into null; a value that is not a finite number carries no information.
    for (const [k, v] of Object.entries(msg.values)) if (typeof v === 'number' && Number.isFinite(v)) values[k] = v;
    rec.role = msg.role;
    rec.state = msg.state ?? null;
    rec.lastTs = msg.ts;
    rec.messages++;
    rec.values = values;
    rec.bases = histogramBases(values);
    if (msg.role === 'learner') this.weightSync.observe(values);
    for (const [name, v] of Object.entries(values)) {
      if (isCounterName(name, rec.bases)) this.trackCounter(rec, name, v, msg.ts);
    }
    if (this.startedAt === null || msg.ts < this.startedAt) this.startedAt = msg.ts;
    return true;
  }

  /** Takes the bus's counters (queue depth per consumer, dead letters). */
  observeBus(counters: BusCounters): void {
    this.bus = counters;
    this.busAt = this.now();
  }

  private trackCounter(rec: ActorRecord, name: string, v: number, ts: number): void {
    let t = rec.counters.get(name);
    if (!t) {
      t = { raw: v, total: v, points: [] };
      rec.counters.set(name, t);
    } else {
      // A counter that went down means the actor restarted from zero: everything it reports now is new.
      t.total += v >= t.raw ? v - t.raw : v;
      t.raw = v;
    }
    const last = t.points.at(-1);
    if (last && last.ts === ts) last.total = t.total;
    else t.points.push({ ts, total: t.total });
    // Keep exactly one point at or before the window's start, so the rate spans the whole window.
    while (t.points.length >= 2 && t.points[1]!.ts <= ts - this.windowMs) t.points.shift();
  }

  liveness(rec: { state: string | null; lastTs: number }, now = this.now()): Liveness {
    if (rec.state !== null && TERMINAL_STATES.has(rec.state)) return 'stopped';
    const age = now - rec.lastTs;
    if (age > DEAD_INTERVALS * this.intervalMs) return 'dead';
    if (age > STALE_INTERVALS * this.intervalMs) return 'stale';
    return 'alive';
  }

  /** Per-second rate of one actor's counter over the window; 0 when the actor is not alive or has one point. */
  private actorRate(rec: ActorRecord, name: string, now: number): number {
    const t = rec.counters.get(name);
    if (!t || t.points.length < 2 || this.liveness(rec, now) !== 'alive') return 0;
    const first = t.points[0]!;
    const last = t.points.at(-1)!;
    return last.ts > first.ts ? ((last.total - first.total) * 1000) / (last.ts - first.ts) : 0;
  }

  private rateOf(name: string, now: number): number {
    let r = 0;
    for (const rec of this.actors.values()) r += this.actorRate(rec, name, now);
    return r;
  }

  /**
   * Each actor's counters as received, by actor id: totals over its restarts (a counter that went down started again
   * from zero). Actors that never wrote a record (killed, or written in another language) are here too.
   */
  counterTotals(): Record<string, { role: string; counters: Record<string, number> }> {
    const out: Record<string, { role: string; counters: Record<string, number> }> = {};
    for (const rec of this.actors.values()) {
      out[rec.actorId] = { role: rec.role, counters: Object.fromEntries([...rec.counters].map(([name, t]) => [name, t.total])) };
    }
    return out;
  }

  private totalOf(name: string): number {
    let s = 0;
    for (const rec of this.actors.values()) s += rec.counters.get(name)?.total ?? 0;
    return s;
  }

  /** The first candidate name any actor reports, read from the actor that reported it last. */
  private latest(names: readonly string[]): number | null {
    for (const name of names) {
      let best: ActorRecord | undefined;
      for (const rec of this.actors.values()) {
        if (name in rec.values && (!best || rec.lastTs > best.lastTs)) best = rec;
      }
      if (best) return best.values[name]!;
    }
    return null;
  }

  private firstCounter(names: readonly string[]): string {
    for (const n of names) for (const rec of this.actors.values()) if (rec.counters.has(n)) return n;
    return names[0]!;
  }

  /** One histogram summed over every actor that reports it. */
  private histogram(base: string, now: number): HistogramView | null {
    const byBound = new Map<number, number>();
    let count = 0;
    let sum = 0;
    let max: number | null = null;
    let seen = false;
    for (const rec of this.actors.values()) {
      if (!rec.bases.has(base)) continue;
      seen = true;
      for (const [k, v] of Object.entries(rec.values)) {
        const b = parseBucketName(k);
        if (b && b.base === base) byBound.set(b.le, (byBound.get(b.le) ?? 0) + v);
      }
      count += rec.values[`${base}_count`] ?? 0;
      sum += rec.values[`${base}_sum`] ?? 0;
      const m = rec.values[`${base}_max`];
      if (m !== undefined && (max === null || m > max)) max = m;
    }
    if (!seen) return null;
    const countRate = this.rateOf(`${base}_count`, now);
    return histogramView(byBound, { count, sum, max }, countRate > 0 ? this.rateOf(`${base}_sum`, now) / countRate : null);
  }

  private actorView(rec: ActorRecord, now: number): ActorView {
    const rates: Record<string, number> = {};
    for (const name of rec.counters.keys()) rates[name] = this.actorRate(rec, name, now);
    return {
      actorId: rec.actorId,
      role: rec.role,
      state: rec.state,
      liveness: this.liveness(rec, now),
      lastTs: rec.lastTs,
      ageMs: now - rec.lastTs,
      messages: rec.messages,
      values: { ...rec.values },
      rates,
      highlights: highlightsOf(rates, rec.values),
    };
  }

  snapshot(opts: SnapshotOptions = {}): MonitorSnapshot {
    const now = this.now();
    const actors = [...this.actors.values()].sort((a, b) => a.role.localeCompare(b.role) || a.actorId.localeCompare(b.actorId)).map((r) => this.actorView(r, now));
    const counts: Record<Liveness, number> = { alive: 0, stale: 0, dead: 0, stopped: 0 };
    for (const a of actors) counts[a.liveness]++;
    const n = {
      samples: this.firstCounter(WELL_KNOWN.samples),
      tokens: this.firstCounter(WELL_KNOWN.tokens),
      pairs: this.firstCounter(WELL_KNOWN.pairs),
      steps: this.firstCounter(WELL_KNOWN.steps),
    };
    const rates: RatesView = {
      samplesPerSec: this.rateOf(n.samples, now),
      tokensPerSec: this.rateOf(n.tokens, now),
      pairsPerSec: this.rateOf(n.pairs, now),
      stepsPerSec: this.rateOf(n.steps, now),
      pairsPerStep: null,
    };
    if (rates.stepsPerSec > 0) rates.pairsPerStep = rates.pairsPerSec / rates.stepsPerSec;
    const histograms: Record<string, HistogramView> = {};
    const bases = new Set<string>();
    for (const rec of this.actors.values()) for (const b of rec.bases) bases.add(b);
    for (const b of [...bases].sort()) histograms[b] = this.histogram(b, now)!;
    const pick = (names: readonly string[]): HistogramView | null => {
      const b = names.find((x) => x in histograms);
      return b ? histograms[b]! : null;
    };
    const ms = (h: HistogramView | null): number | null => {
      const s = h ? (h.recentMean ?? h.mean) : null;
      return s === null ? null : s * 1000;
    };
    const publishMs = ms(pick(WELL_KNOWN.weightPublishSeconds));
    const loadMs = ms(pick(WELL_KNOWN.weightLoadSeconds));
    const snap: MonitorSnapshot = {
      runId: this.runId,
      now,
      startedAt: this.startedAt,
      intervalMs: this.intervalMs,
      windowMs: this.windowMs,
      actors,
      counts,
      rates,
      totals: { samples: this.totalOf(n.samples), tokens: this.totalOf(n.tokens), pairs: this.totalOf(n.pairs), steps: this.totalOf(n.steps) },
      policy: {
        version: this.latest(WELL_KNOWN.policyVersion),
        lag: pick(WELL_KNOWN.policyLag),
        weightPublishMs: publishMs,
        weightLoadMs: loadMs,
        weightSyncMs: publishMs === null && loadMs === null ? null : (publishMs ?? 0) + (loadMs ?? 0),
      },
      quality: {
        proxyReward: this.latest(WELL_KNOWN.proxyReward),
        judgeScore: this.latest(WELL_KNOWN.judgeScore),
        goldReward: this.latest(WELL_KNOWN.goldReward),
        kl: this.latest(WELL_KNOWN.kl),
        loss: this.latest(WELL_KNOWN.loss),
        margin: this.latest(WELL_KNOWN.margin),
        accuracy: this.latest(WELL_KNOWN.accuracy),
        winRate: this.latest(WELL_KNOWN.winRate),
      },
      streams: streamsView(this.bus, this.busAt),
      histograms,
      weightSync: this.weightSync.view(),
      people: peopleView(
        (name) => this.totalOf(name),
        (name) => [...this.actors.values()].reduce((sum, rec) => sum + (rec.values[name] ?? 0), 0),
      ),
    };
    const sel = opts.series ?? 'none';
    if (sel !== 'none') snap.series = this.seriesColumns(sel === 'all' ? Number.NEGATIVE_INFINITY : sel.since);
    return snap;
  }

  /** Records one chart point from the current state; called once per interval. */
  tick(): SeriesRow {
    const s = this.snapshot();
    const row = seriesRow(s);
    const last = this.history.at(-1);
    // Two ticks at one instant (a replay with equal timestamps) keep the later state only.
    if (last && last.t === row.t) Object.assign(last, row);
    else this.history.push(row);
    return row;
  }

  seriesColumns(since = Number.NEGATIVE_INFINITY): SeriesColumns {
    const rows = this.history.toArray().filter((r) => r.t > since);
    const cols = { t: rows.map((r) => r.t) } as SeriesColumns;
    for (const k of SERIES_KEYS) cols[k] = rows.map((r) => r[k]);
    return cols;
  }
}
