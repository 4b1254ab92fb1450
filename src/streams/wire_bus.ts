// What both buses share: the wire (validate and encode going out, decode and validate coming in) and their counters.
import type { BusCounters, PublishOptions } from './bus.js';
import type { Codec } from './codec.js';
import type { SchemaLimits, Validation } from './schemas.js';
import type { TopicName, Topics } from './topics.js';
import { Wire } from './wire.js';

export abstract class WireBus {
  protected readonly wire: Wire;
  protected readonly codec: Codec;
  private readonly stats: BusCounters = { published: {}, delivered: {}, acked: {}, deadLettered: {}, pending: {} };

  constructor(maxPayloadBytes: number, schema?: Partial<SchemaLimits>) {
    this.wire = new Wire(maxPayloadBytes, schema);
    this.codec = this.wire.codec;
  }

  /** Appends bytes to a topic as they are: a validated publish, or (in tests) a foreign or faulty producer's message. */
  abstract publishRaw(topic: TopicName, bytes: Uint8Array, opts?: PublishOptions): Promise<void>;

  async publish<K extends TopicName>(topic: K, msg: Topics[K], opts: PublishOptions = {}): Promise<void> {
    await this.publishRaw(topic, this.wire.encodeChecked(topic, msg), opts);
  }

  /** Encodes without validation (announcements already checked, dead letters); codec limits still apply. */
  encode(msg: unknown): Uint8Array {
    return this.wire.encode(msg);
  }

  /** Decodes and validates as a consumer on another host would; failures become dead letters. */
  decodeFor(topic: TopicName, bytes: Uint8Array): Validation<unknown> {
    return this.wire.decodeFor(topic, bytes);
  }

  count(kind: 'published' | 'delivered' | 'acked' | 'deadLettered', topic: string): void {
    this.stats[kind][topic] = (this.stats[kind][topic] ?? 0) + 1;
  }

  /** Records a consumer's queue depth, as the server last reported it. */
  setPending(key: string, n: number): void {
    this.stats.pending[key] = n;
  }

  /** A copy of the counters; `pending` replaces the recorded queue depths when the bus measures them itself. */
  counters(pending?: Record<string, number>): BusCounters {
    const copy = (r: Record<string, number>): Record<string, number> => ({ ...r });
    return {
      published: copy(this.stats.published),
      delivered: copy(this.stats.delivered),
      acked: copy(this.stats.acked),
      deadLettered: copy(this.stats.deadLettered),
      pending: copy(pending ?? this.stats.pending),
    };
  }
}
