// Options a bus takes beyond its config slice: schema limits, fast paths, logging, a clock for tests.
import type { SchemaLimits } from './schemas.js';

/** Timers the in-process bus uses; a test can pass a fake one. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface BusOptions {
  /** Validation bounds (vocabSize, longest token array, ...); defaults in schemas.ts. */
  schema?: Partial<SchemaLimits>;
  /** NATS: also write weights to files here (same-host fast path); announcements carry the path. */
  weightsDir?: string;
  /** One line per notable event (connection status, dead letters); defaults to stderr. */
  log?: (line: string) => void;
  /** In-process bus timers (ack wait, nak delay). */
  clock?: Clock;
}

/** Implemented by both buses: appends bytes unvalidated, as a foreign or faulty producer would. */
export interface RawPublisher {
  publishRaw(topic: import('./topics.js').TopicName, bytes: Uint8Array, opts?: { msgId?: string }): Promise<void>;
}
