// Time as a dependency: actors and the in-process bus read the clock, sleep and set timers through it, so tests control all three.

export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or at once (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` once after `ms`; the handle goes to clearTimeout. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Runs `fn` every `ms` until the returned stop() is called. The timer does not keep the process alive on its own
 * (a heartbeat outliving its actor must not hold the process open).
 */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let stopped = false;
  let handle: unknown;
  const arm = (): void => {
    handle = clock.setTimeout(() => {
      if (stopped) return;
      fn();
      arm();
    }, ms);
    (handle as { unref?: () => void } | undefined)?.unref?.();
  };
  arm();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
