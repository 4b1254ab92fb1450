// Config slice for the HTTP client network scorers share (http-reward, llm-judge): timeouts, retries, concurrency, circuit breaker.
import { int } from '../fields.js';

export const scorerHttp = {
  timeoutMs: int(30_000, 1, 3_600_000, 'one request, sent to last byte read; slower is a failure and retried'),
  maxRetries: int(3, 0, 100, 'retries after the first attempt (timeouts, network errors, 5xx, 429, malformed replies)'),
  backoffMs: int(200, 0, 600_000, 'backoff before retry n is uniform in [0, min(maxBackoffMs, backoffMs * 2^n)] (seeded jitter)'),
  maxBackoffMs: int(10_000, 0, 3_600_000, 'cap on one backoff; a 429 Retry-After (capped at 60 s) replaces it'),
  maxInFlight: int(8, 1, 4096, 'requests in flight at once per judge; more wait their turn'),
  breakerFailures: int(5, 0, 10_000, 'consecutive failed requests that open the circuit breaker; 0 disables it'),
  breakerCooldownMs: int(5_000, 0, 3_600_000, 'how long an open circuit refuses calls before one trial request'),
};
