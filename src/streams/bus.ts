// The one interface actors use to talk: typed publish, durable pull consumption with explicit ack, a weight store.
import type { TopicName, Topics, WeightsMsg } from './topics.js';

export class BusError extends Error {
  override name = 'BusError';
}

export interface PublishOptions {
  /** Idempotency key: a retried publish with the same id is stored once (JetStream Nats-Msg-Id). */
  msgId?: string;
  /**
   * For work that several producers may publish under one msgId: whether a message the server already holds under it
   * (decoded and valid) does this publish's work, or, called with undefined, whether one that is no longer stored
   * (consumed already) may be taken for it. When the server answers "duplicate" and the answer is no, the NATS bus
   * publishes again under a fresh msgId instead of taking the answer for a stored message. Without it, a duplicate
   * answer is trusted (a topic only one user may publish on).
   */
  sameWork?: (stored: unknown | undefined) => boolean;
}

export interface ConsumeOptions {
  /** Durable consumer name; consumers with the same name share the work. */
  durable: string;
  /** Unacked messages in flight before delivery pauses (backpressure). */
  maxAckPending?: number;
  /**
   * Messages one reader asks for at a time (NATS pull batch; default min(maxAckPending, 256)). Readers sharing a durable
   * consumer split its maxAckPending: a pull no bigger than what a reader works on at once leaves the rest to the others.
   */
  pullBatch?: number;
  /** Redelivery after this long without ack. */
  ackWaitMs?: number;
  /** Deliveries before the message is dead-lettered as poison. */
  maxDeliver?: number;
  /** Deliver only messages published after the consumer was first created (default: all retained). */
  deliverNew?: boolean;
}

/** One delivered message. Exactly one of ack / nak / deadLetter settles it. */
export interface Delivery<T> {
  readonly data: T;
  readonly topic: TopicName;
  /** Stream sequence (monotonic per topic). */
  readonly seq: number;
  /** 1 on first delivery, 2 on the first redelivery, ... */
  readonly deliveries: number;
  /**
   * Who published it, as the transport vouches (never the payload's word): on NATS the actor id in a per-actor subject
   * (dead letters, metrics), which the server binds to a user; in-process, the consumer group that dead-lettered it.
   * Absent where the transport cannot say (work topics; letters appended as raw bytes in process).
   */
  readonly sender?: string;
  /** Call only after the message's effect is durable. */
  ack(): Promise<void>;
  /** Ask for redelivery, after `delayMs` (backoff). */
  nak(delayMs?: number): void;
  /** Give up on the message: it goes to the dead-letter topic with the reason, and is counted. */
  deadLetter(reason: string): Promise<void>;
  /** Extend the ack deadline while a long computation runs. */
  working(): void;
}

export interface Subscription<T> extends AsyncIterable<Delivery<T>> {
  /** Stops fetching; resolves once no more deliveries will be yielded. Unsettled ones are redelivered later. */
  stop(): Promise<void>;
}

export interface WeightBlob {
  meta: WeightsMsg;
  bytes: Uint8Array;
}

/** Policy versions: bytes in an object store, announcements in a watched key-value entry. */
export interface WeightStore {
  /** Stores the bytes, then announces them; returns the announcement. */
  put(version: number, step: number, bytes: Uint8Array): Promise<WeightsMsg>;
  /** The bytes of a version (the latest when omitted); checks size and sha256. */
  get(version?: number): Promise<WeightBlob | undefined>;
  latest(): Promise<WeightsMsg | undefined>;
  /** Yields the current announcement (if any), then each new one, until the signal aborts. */
  watch(signal?: AbortSignal): AsyncIterable<WeightsMsg>;
}

/**
 * The bytes of `version`, or of the latest when the store has since dropped it (it keeps only bus.weightsKept
 * versions); undefined when it holds neither that version nor a newer one.
 */
export async function weightsAtLeast(store: WeightStore, version: number): Promise<WeightBlob | undefined> {
  const blob = await store.get(version);
  if (blob) return blob;
  const latest = await store.get();
  return latest && latest.meta.version >= version ? latest : undefined;
}

export interface BusCounters {
  published: Record<string, number>;
  delivered: Record<string, number>;
  acked: Record<string, number>;
  deadLettered: Record<string, number>;
  /** Messages waiting to be delivered to each durable (`topic/durable`). */
  pending: Record<string, number>;
  /** Dead letters the run's dead topic received from every process (NATS: read from the server); absent when unknown. */
  deadStored?: number;
  /** The dead letters it holds now by sender, the publisher's id the server vouches for (NATS); absent when unknown. */
  deadBySender?: Record<string, number>;
}

export interface Bus {
  readonly kind: 'inprocess' | 'nats';
  readonly runId: string;
  /** Resolves when the message is durably stored (JetStream: the PubAck). May wait under backpressure. */
  publish<K extends TopicName>(topic: K, msg: Topics[K], opts?: PublishOptions): Promise<void>;
  /** Pull consumer; payloads that fail validation are dead-lettered and never yielded. */
  consume<K extends TopicName>(topic: K, opts: ConsumeOptions): Subscription<Topics[K]>;
  readonly weights: WeightStore;
  counters(): BusCounters;
  /** Dead letters stored on the dead topic by every process of the run, where the bus can see others' (NATS). */
  deadLettersStored?(): Promise<number>;
  /** The dead letters the dead topic holds now, by sender (Delivery.sender), where the bus can see others' (NATS). */
  deadLettersBySender?(): Promise<Record<string, number>>;
  close(): Promise<void>;
}
