// Options a bus takes beyond its config slice: schema limits, fast paths, logging, a clock for tests.
import type { Clock } from '../clock.js';
import type { SchemaLimits } from './schemas.js';

export interface BusOptions {
  /** Validation bounds (vocabSize, longest token array, ...); defaults in schemas.ts. */
  schema?: Partial<SchemaLimits>;
  /** NATS: also write weights to files here (same-host fast path); announcements carry the path. */
  weightsDir?: string;
  /** One line per notable event (connection status, dead letters); defaults to stderr. */
  log?: (line: string) => void;
  /**
   * NATS: the actor id this process's dead letters go out under (`<prefix>.<runId>.dead.<id>`). Defaults to bus.user, else
   * the id in bus.inboxPrefix (`_INBOX_<id>`), else `_`; under per-role users it must be the user's own id.
   */
  actorId?: string;
  /** In-process bus timers (ack wait, nak delay); tests pass a fake one. */
  clock?: Clock;
  /** NATS: how often the node is checked and how long a 503-only node is kept before moving away (node_watch.ts). */
  nodeWatch?: { everyMs?: number; switchAfterMs?: number };
}

/** Implemented by both buses: appends bytes unvalidated, as a foreign or faulty producer would. */
export interface RawPublisher {
  publishRaw(topic: import('./topics.js').TopicName, bytes: Uint8Array, opts?: { msgId?: string }): Promise<void>;
}
