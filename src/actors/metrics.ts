// Per-actor metrics: counters, gauges and histograms, published periodically as MetricsMsg on the 'metrics' topic.
import type { Bus } from '../streams/bus.js';
import type { MetricsMsg } from '../streams/topics.js';
import { every, systemClock, type Clock } from '../clock.js';

export class MetricsError extends Error {
  override name = 'MetricsError';
}

/** Metric names follow actor_noun_unit: lower-case words joined by underscores. */
const NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)+$/;

export class Counter {
  value = 0;
  inc(n = 1): void {
    if (!(n >= 0)) throw new MetricsError(`a counter only goes up; got an increment of ${n}`);
    this.value += n;
  }
}

export class Gauge {
  value = Number.NaN;
  set(v: number): void {
    this.value = v;
  }
}

/** Cumulative buckets as Prometheus has them: bucket le=b counts observations <= b. */
export class Histogram {
  readonly counts: number[];
  count = 0;
  sum = 0;
  max = Number.NEGATIVE_INFINITY;
  constructor(readonly buckets: readonly number[]) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]! > buckets[i - 1]!)) throw new MetricsError(`histogram buckets must increase; got ${buckets.join(', ')}`);
    }
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }
}

/** Bucket bounds for seconds-valued latencies. */
export const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
/** Bucket bounds for policy lag in versions. */
export const LAG_BUCKETS = [0, 1, 2, 3, 4, 6, 8, 12, 16, 32] as const;

export class MetricsRegistry {
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly histograms = new Map<string, Histogram>();

  private check(name: string, kind: string): void {
    if (!NAME.test(name)) throw new MetricsError(`metric name ${JSON.stringify(name)} must be actor_noun_unit in lower case`);
    const other = (kind !== 'counter' && this.counters.has(name)) || (kind !== 'gauge' && this.gauges.has(name)) || (kind !== 'histogram' && this.histograms.has(name));
    if (other) throw new MetricsError(`metric ${name} already exists with another kind than ${kind}`);
  }
  counter(name: string): Counter {
    let c = this.counters.get(name);
    if (!c) {
      this.check(name, 'counter');
      this.counters.set(name, (c = new Counter()));
    }
    return c;
  }
  gauge(name: string): Gauge {
    let g = this.gauges.get(name);
    if (!g) {
      this.check(name, 'gauge');
      this.gauges.set(name, (g = new Gauge()));
    }
    return g;
  }
  histogram(name: string, buckets: readonly number[] = SECONDS_BUCKETS): Histogram {
    let h = this.histograms.get(name);
    if (!h) {
      this.check(name, 'histogram');
      this.histograms.set(name, (h = new Histogram(buckets)));
    }
    return h;
  }
  /** Drops a metric of any kind (a per-version gauge past its keep window), so snapshots stay bounded. */
  remove(name: string): void {
    this.counters.delete(name);
    this.gauges.delete(name);
    this.histograms.delete(name);
  }
  /** Flat name -> value map; histograms become name_count, name_sum, name_max and name_bucket_le_<bound> (cumulative, '.' written '_', the last le_inf). */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [n, c] of this.counters) out[n] = c.value;
    for (const [n, g] of this.gauges) if (!Number.isNaN(g.value)) out[n] = g.value;
    for (const [n, h] of this.histograms) {
      out[`${n}_count`] = h.count;
      out[`${n}_sum`] = h.sum;
      if (h.count > 0) out[`${n}_max`] = h.max;
      h.buckets.forEach((b, i) => (out[`${n}_bucket_le_${String(b).replace('.', '_')}`] = h.counts[i]!));
      out[`${n}_bucket_le_inf`] = h.count;
    }
    return out;
  }
}

export interface ReporterOptions {
  actorId: string;
  role: string;
  intervalMs: number;
  clock?: Clock;
  /** The actor's state for the dashboard's actor table ('running', 'draining', ...). */
  state?: () => string;
}

/** Publishes one registry's snapshot every intervalMs, and once more when stopped (so final counts are seen). */
export class MetricsReporter {
  private stopTimer: (() => void) | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly clock: Clock;

  constructor(
    private readonly bus: Bus,
    private readonly registry: MetricsRegistry,
    private readonly opts: ReporterOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  message(): MetricsMsg {
    const msg: MetricsMsg = {
      type: 'metrics',
      v: 1,
      runId: this.bus.runId,
      actorId: this.opts.actorId,
      role: this.opts.role,
      ts: this.clock.now(),
      values: this.registry.snapshot(),
    };
    const state = this.opts.state?.();
    if (state !== undefined) msg.state = state;
    return msg;
  }

  /** Publishes now; a failed publish is reported on stderr and the next tick tries again (metrics never stop an actor). */
  publish(): Promise<void> {
    this.inFlight = this.inFlight.then(() =>
      this.bus.publish('metrics', this.message()).catch((err: unknown) => {
        process.stderr.write(`metrics publish for ${this.opts.actorId} failed: ${(err as Error).message}\n`);
      }),
    );
    return this.inFlight;
  }

  start(): void {
    if (this.stopTimer) return;
    this.stopTimer = every(this.clock, this.opts.intervalMs, () => void this.publish());
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    this.stopTimer = undefined;
    await this.publish();
  }
}
