// Exports a scorer's HTTP client counts (retries, 429s, timeouts, failures, breaker openings) as the judge's counters.
import type { MetricsRegistry } from '../actors/metrics.js';
import type { HttpStats } from './http_client.js';

/** The judge's counter for each client count. */
export const HTTP_METRIC_NAMES = {
  requests: 'judge_http_requests_total',
  retries: 'judge_http_retries_total',
  rateLimited: 'judge_http_rate_limited_total',
  timeouts: 'judge_http_timeouts_total',
  failures: 'judge_http_failures_total',
  breakerOpens: 'judge_http_breaker_opens_total',
} as const satisfies Record<keyof HttpStats, string>;

/**
 * Brings the registry's counters up to a client's counts. The client only counts up, so each sync adds what happened
 * since the last; a client that counts down (replaced by a fresh one) is an error, not a silent negative increment.
 */
export class HttpMetricsExporter {
  private readonly seen: Record<keyof HttpStats, number> = { requests: 0, retries: 0, rateLimited: 0, timeouts: 0, failures: 0, breakerOpens: 0 };

  constructor(private readonly metrics: MetricsRegistry) {
    // Registered at zero, so a run with no retries shows 0 rather than nothing.
    for (const name of Object.values(HTTP_METRIC_NAMES)) metrics.counter(name);
  }

  sync(stats: Readonly<HttpStats>): void {
    for (const key of Object.keys(HTTP_METRIC_NAMES) as (keyof HttpStats)[]) {
      const delta = stats[key] - this.seen[key];
      if (delta < 0) throw new RangeError(`http client count ${key} went down from ${this.seen[key]} to ${stats[key]}`);
      if (delta > 0) this.metrics.counter(HTTP_METRIC_NAMES[key]).inc(delta);
      this.seen[key] = stats[key];
    }
  }
}
