// A bus whose weight-store calls outlive a NATS outage: transient failures are retried instead of stopping the actor.
import type { Bus, WeightBlob, WeightStore } from '../streams/bus.js';
import type { WeightsMsg } from '../streams/topics.js';
import { systemClock } from '../clock.js';

/**
 * Failures that say "the server is not answering right now" (restarting, or JetStream still recovering its streams):
 * the client reconnects by itself, so the same call succeeds later. Anything else (a corrupt blob, a missing version)
 * is a real error and is thrown at once.
 */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && ['TIMEOUT', 'DISCONNECT', '503', 'CONNECTION_TIMEOUT', 'REQUEST_ERROR'].includes(code)) return true;
  return /\b(TIMEOUT|timed out|no responders|disconnect|jetstream not (enabled|ready))\b/i.test((err as Error)?.message ?? '');
}

export interface RetryOptions {
  /** Give up (and throw the last error) after retrying this long. */
  deadlineMs: number;
  log: (line: string) => void;
  /** Stops retrying when the bus closes. */
  closed: () => boolean;
}

async function retrying<T>(what: string, call: () => Promise<T>, o: RetryOptions): Promise<T> {
  const started = Date.now();
  let wait = 250;
  let attempts = 0;
  for (;;) {
    try {
      const r = await call();
      if (attempts > 0) o.log(`bus: ${what} succeeded after ${attempts} retries`);
      return r;
    } catch (err) {
      if (!isTransient(err) || o.closed() || Date.now() - started > o.deadlineMs) throw err;
      if (attempts === 0) o.log(`bus: ${what} failed (${(err as Error).message}); retrying while the server is away`);
      attempts++;
      await systemClock.sleep(wait);
      wait = Math.min(2000, wait * 2);
    }
  }
}

/** The store's calls with retries; put is safe to repeat (same object name, same KV keys, the announcement's msgId). */
class RetryingWeightStore implements WeightStore {
  constructor(
    private readonly inner: WeightStore,
    private readonly o: RetryOptions,
  ) {}

  put(version: number, step: number, bytes: Uint8Array): Promise<WeightsMsg> {
    return retrying(`storing weights v${version}`, () => this.inner.put(version, step, bytes), this.o);
  }

  get(version?: number): Promise<WeightBlob | undefined> {
    return retrying(`fetching weights ${version === undefined ? 'latest' : `v${version}`}`, () => this.inner.get(version), this.o);
  }

  latest(): Promise<WeightsMsg | undefined> {
    return retrying('reading the latest weights announcement', () => this.inner.latest(), this.o);
  }

  watch(signal?: AbortSignal): AsyncIterable<WeightsMsg> {
    return this.inner.watch(signal);
  }
}

/** The same bus with some members replaced; everything else goes to the original (bound to it). */
export function overrideBus(bus: Bus, overrides: Partial<Pick<Bus, 'weights' | 'consume' | 'close'>>): Bus {
  return new Proxy(bus, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof typeof overrides];
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The same bus, with its weight store's calls retried through transient failures. */
export function withRetryingWeights(bus: Bus, opts: Omit<RetryOptions, 'closed'> & { closed?: () => boolean }): Bus {
  let closed = false;
  const weights = new RetryingWeightStore(bus.weights, { ...opts, closed: () => closed || (opts.closed?.() ?? false) });
  return overrideBus(bus, {
    weights,
    close: async () => {
      closed = true;
      await bus.close();
    },
  });
}
