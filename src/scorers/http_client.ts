// The one small HTTP client network scorers share: timeouts, retries with seeded jittered backoff, 429 + Retry-After, a concurrency limit and a circuit breaker.
import { Rng } from '../kernels/rng.js';
import { excerpt, MalformedReplyError, ScorerUnavailableError } from './scorer.js';

export interface HttpClientOptions {
  /** One request's limit, from sending to the whole body read. */
  timeoutMs: number;
  /** Retries after the first attempt (timeouts, network errors, 5xx, 429, malformed replies). */
  maxRetries: number;
  /** Backoff before retry n (from 0) is uniform in [0, min(maxBackoffMs, backoffMs * 2^n)] ("full jitter"). */
  backoffMs: number;
  maxBackoffMs: number;
  /** Requests in flight at once through this client; more wait their turn. */
  maxInFlight: number;
  /** Consecutive failed requests (after their retries) that open the circuit... */
  breakerFailures: number;
  /** ...for this long: calls fail at once, then one trial call decides whether it closes again. */
  breakerCooldownMs: number;
  /** Seeds the jitter, so a run's retry timing is reproducible. */
  seed: number;
  /** Sent with every request; values are secret (never logged, never in an error). */
  headers?: Record<string, string>;
  /** For tests: the clock and the sleep. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** What one client has done since it was made; the judge exports these as its `judge_http_*_total` counters. */
export interface HttpStats {
  /** Attempts sent, retries included. */
  requests: number;
  retries: number;
  /** Attempts answered 429. */
  rateLimited: number;
  /** Attempts that ran past timeoutMs. */
  timeouts: number;
  /** Requests that failed after all their retries (outages, not bad replies or refusals). */
  failures: number;
  breakerOpens: number;
}

/** A non-retryable client error (4xx other than 408 and 429): the request itself is wrong. */
export class HttpRequestRejectedError extends Error {
  override name = 'HttpRequestRejectedError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

type Attempt<T> = { ok: true; value: T } | { ok: false; kind: 'transient' | 'malformed' | 'rejected'; message: string; retryAfterMs?: number; status?: number };

const RETRY_AFTER_CAP_MS = 60_000;

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return Math.min(RETRY_AFTER_CAP_MS, secs * 1000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.min(RETRY_AFTER_CAP_MS, Math.max(0, at - now)) : undefined;
}

/** Replaces every secret value in `text` (a server may echo a header back in an error page). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

export class HttpClient {
  readonly stats: HttpStats = { requests: 0, retries: 0, rateLimited: 0, timeouts: 0, failures: 0, breakerOpens: 0 };
  private readonly rng: Rng;
  private readonly secrets: string[];
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private consecutiveFailures = 0;
  private openUntil = 0;
  private trialInFlight = false;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: HttpClientOptions) {
    for (const k of ['timeoutMs', 'maxRetries', 'backoffMs', 'maxBackoffMs', 'maxInFlight', 'breakerFailures', 'breakerCooldownMs'] as const) {
      if (!Number.isFinite(o[k]) || o[k] < 0) throw new RangeError(`http client ${k} must be a number >= 0; got ${o[k]}`);
    }
    if (o.maxInFlight < 1) throw new RangeError(`http client maxInFlight must be at least 1; got ${o.maxInFlight}`);
    this.rng = new Rng(o.seed);
    this.secrets = Object.values(o.headers ?? {}).flatMap((v) => [v, v.replace(/^Bearer\s+/i, '')]);
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** True while the breaker refuses calls. */
  get open(): boolean {
    return this.now() < this.openUntil;
  }

  /**
   * POSTs `body` as JSON and returns `parse(reply JSON)`. `parse` throws to say the reply breaks the contract; such a
   * reply is retried like a failure and, after the retries, becomes a MalformedReplyError quoting it. Outages end as a
   * ScorerUnavailableError, a refused request (4xx) as an HttpRequestRejectedError. No error carries a header value.
   */
  async postJson<T>(url: string, body: unknown, parse: (json: unknown) => T): Promise<T> {
    this.admitThroughBreaker(url);
    await this.acquire();
    try {
      let last: Attempt<T> | undefined;
      for (let attempt = 0; attempt <= this.o.maxRetries; attempt++) {
        if (attempt > 0) {
          this.stats.retries++;
          const cap = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** (attempt - 1));
          const wait = last && !last.ok && last.retryAfterMs !== undefined ? last.retryAfterMs : this.rng.next() * cap;
          await this.sleep(wait);
        }
        last = await this.attempt(url, body, parse);
        if (last.ok) {
          this.onSuccess();
          return last.value;
        }
        if (last.kind === 'rejected') break;
      }
      const failed = last as Exclude<Attempt<T>, { ok: true }>;
      const msg = redact(failed.message, this.secrets);
      if (failed.kind === 'rejected') {
        this.onSuccess();
        throw new HttpRequestRejectedError(msg, failed.status ?? 400);
      }
      if (failed.kind === 'malformed') {
        // The service is up; it answered wrongly for this input, which is no reason to stop calling it.
        this.onSuccess();
        throw new MalformedReplyError(`${msg} (after ${this.o.maxRetries + 1} attempts)`);
      }
      this.onFailure();
      throw new ScorerUnavailableError(`${msg} (after ${this.o.maxRetries + 1} attempts)`);
    } finally {
      this.release();
    }
  }

  private admitThroughBreaker(url: string): void {
    if (this.now() < this.openUntil) {
      throw new ScorerUnavailableError(`circuit open for ${safeUrl(url)} after ${this.o.breakerFailures} failed requests; next trial in ${this.openUntil - this.now()} ms`);
    }
    if (this.openUntil > 0) {
      // Half-open: one trial call at a time decides whether the circuit closes.
      if (this.trialInFlight) throw new ScorerUnavailableError(`circuit half-open for ${safeUrl(url)}; a trial request is in flight`);
      this.trialInFlight = true;
    }
  }

  private onSuccess(): void {
    this.consecutiveFailures = 0;
    this.openUntil = 0;
    this.trialInFlight = false;
  }

  private onFailure(): void {
    this.stats.failures++;
    this.consecutiveFailures++;
    const trialFailed = this.trialInFlight;
    this.trialInFlight = false;
    if (trialFailed || this.consecutiveFailures >= this.o.breakerFailures) {
      if (this.o.breakerFailures > 0 || trialFailed) {
        this.openUntil = this.now() + this.o.breakerCooldownMs;
        this.stats.breakerOpens++;
      }
    }
  }

  private async attempt<T>(url: string, body: unknown, parse: (json: unknown) => T): Promise<Attempt<T>> {
    this.stats.requests++;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), this.o.timeoutMs);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...this.o.headers },
        body: JSON.stringify(body),
        signal: ctrl.signal,
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      if (ctrl.signal.aborted) this.stats.timeouts++;
      const why = ctrl.signal.aborted ? `timed out after ${this.o.timeoutMs} ms` : `failed: ${causeOf(err)}`;
      return { ok: false, kind: 'transient', message: `POST ${safeUrl(url)} ${why}` };
    } finally {
      clearTimeout(timer);
    }
    const head = `POST ${safeUrl(url)} answered ${status}`;
    if (status === 429) {
      this.stats.rateLimited++;
      return { ok: false, kind: 'transient', message: `${head} (rate limited)`, retryAfterMs: parseRetryAfter(retryAfter, this.now()) };
    }
    if (status >= 500 || status === 408) return { ok: false, kind: 'transient', message: `${head}: ${excerpt(text)}`, retryAfterMs: parseRetryAfter(retryAfter, this.now()) };
    if (status < 200 || status >= 300) return { ok: false, kind: 'rejected', message: `${head}: ${excerpt(text)}`, status };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, kind: 'malformed', message: `${head} with a reply that is not JSON: ${JSON.stringify(excerpt(text))}` };
    }
    try {
      return { ok: true, value: parse(json) };
    } catch (err) {
      return { ok: false, kind: 'malformed', message: `${head} with a reply that breaks the contract (${(err as Error).message}): ${JSON.stringify(excerpt(text))}` };
    }
  }

  private async acquire(): Promise<void> {
    if (this.inFlight < this.o.maxInFlight) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter, so the count never drops below the limit while work waits.
    if (next) next();
    else this.inFlight--;
  }
}

/** The URL without credentials or query string (either may hold a secret). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
