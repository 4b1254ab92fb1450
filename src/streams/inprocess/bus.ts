// The embedded bus: JetStream's semantics (append-only logs, durable pull consumers, ack/nak/redelivery) in one process.
import type { BusConfig } from '../../config/index.js';
import { BusError, type Bus, type BusCounters, type ConsumeOptions, type PublishOptions, type Subscription, type WeightStore } from '../bus.js';
import { systemClock, type Clock } from '../../clock.js';
import type { BusOptions } from '../bus_options.js';
import { encodeDeadLetter } from '../dead_letter.js';
import { TOPIC_RETENTION } from '../policy.js';
import type { TopicName, Topics } from '../topics.js';
import { WireBus } from '../wire_bus.js';
import { Consumer } from './consumer.js';
import { InProcessSubscription } from './subscription.js';
import { TopicLog } from './topic_log.js';
import { MemoryWeightStore } from './weight_store.js';

export class InProcessBus extends WireBus implements Bus {
  readonly kind = 'inprocess' as const;
  readonly weights: WeightStore;
  readonly clock: Clock;
  closed = false;
  private readonly topics = new Map<TopicName, TopicLog>();
  private readonly log: (line: string) => void;

  constructor(
    private readonly cfg: BusConfig,
    readonly runId: string,
    opts: BusOptions = {},
  ) {
    super(cfg.maxPayloadBytes, opts.schema);
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? ((line) => console.error(line));
    this.weights = new MemoryWeightStore(this, cfg.weightsKept);
  }

  private topic(name: TopicName): TopicLog {
    let t = this.topics.get(name);
    if (!t) {
      t = new TopicLog(name);
      this.topics.set(name, t);
    }
    return t;
  }

  /** Appends bytes as they are, unvalidated: how a foreign or faulty producer's message arrives. */
  override async publishRaw(topic: TopicName, bytes: Uint8Array, opts: PublishOptions = {}): Promise<void> {
    if (this.closed) throw new BusError(`bus is closed; cannot publish to ${topic}`);
    if (bytes.length > this.cfg.maxPayloadBytes) throw new BusError(`message for ${topic} is ${bytes.length} bytes, over bus.maxPayloadBytes ${this.cfg.maxPayloadBytes}`);
    const log = this.topic(topic);
    if (TOPIC_RETENTION[topic] === 'work' && (log.roomQueue.length > 0 || log.held() >= this.cfg.maxPending)) {
      // Queued with its bytes and appended by afterSettle, in call order, the moment there is room.
      await new Promise<void>((resolve) => log.roomQueue.push({ bytes, msgId: opts.msgId, resolve }));
      if (this.closed) throw new BusError(`bus closed while a publish to ${topic} waited for room`);
      return;
    }
    this.append(log, bytes, opts.msgId);
  }

  private append(log: TopicLog, bytes: Uint8Array, msgId: string | undefined): void {
    const now = this.clock.now();
    if (msgId !== undefined) {
      for (const [id, expiry] of log.msgIds) {
        if (expiry > now) break;
        log.msgIds.delete(id);
      }
      if (log.msgIds.has(msgId)) return;
      log.msgIds.set(msgId, now + this.cfg.duplicateWindowMs);
    }
    log.lastSeq++;
    log.messages.set(log.lastSeq, bytes);
    this.count('published', log.name);
    log.trim(this.cfg.retainMessages, TOPIC_RETENTION[log.name] === 'work');
    log.appended$.next();
  }

  /** Lets waiting publishes in, in order, while the topic has room. */
  afterSettle(log: TopicLog): void {
    log.trim(this.cfg.retainMessages, TOPIC_RETENTION[log.name] === 'work');
    while (log.roomQueue.length > 0 && log.held() < this.cfg.maxPending && !this.closed) {
      const w = log.roomQueue.shift()!;
      this.append(log, w.bytes, w.msgId);
      w.resolve();
    }
  }

  /**
   * `sender`: the consumer group that gave up. Every actor of the process shares this bus, so the group is the finest
   * identity it can vouch for; readers see it as Delivery.sender, never a name the letter's bytes carry.
   */
  async sendDeadLetter(topic: TopicName, reason: string, deliveries: number, payload: Uint8Array, sender?: string): Promise<void> {
    this.count('deadLettered', topic);
    this.log(`bus: dead letter on ${topic} after ${deliveries} deliveries: ${reason}`);
    const letter = encodeDeadLetter(this.codec, { runId: this.runId, topic, reason, deliveries, payload, ts: this.clock.now() });
    // Dead letters bypass backpressure: the consumer producing them must never block on them.
    if (this.closed) return;
    const log = this.topic('dead');
    // Set before the append, which may hand the letter to a waiting reader at once (no msgId: it always appends).
    if (sender !== undefined) log.senders.set(log.lastSeq + 1, sender);
    this.append(log, letter, undefined);
  }

  /** The dead letters the dead topic holds now, by the consumer group that sent them (`_` for raw appends). */
  async deadLettersBySender(): Promise<Record<string, number>> {
    const log = this.topic('dead');
    const out: Record<string, number> = {};
    for (const seq of log.messages.keys()) {
      const who = log.senders.get(seq) ?? '_';
      out[who] = (out[who] ?? 0) + 1;
    }
    return out;
  }

  consume<K extends TopicName>(topic: K, opts: ConsumeOptions): Subscription<Topics[K]> {
    if (this.closed) throw new BusError(`bus is closed; cannot consume ${topic}`);
    if (!/^[A-Za-z0-9_-]+$/.test(opts.durable)) throw new BusError(`durable name must match [A-Za-z0-9_-]+; got ${JSON.stringify(opts.durable)}`);
    const log = this.topic(topic);
    let c = log.consumers.get(opts.durable);
    const maxAckPending = opts.maxAckPending ?? this.cfg.maxAckPending;
    const ackWaitMs = opts.ackWaitMs ?? this.cfg.ackWaitMs;
    const maxDeliver = opts.maxDeliver ?? this.cfg.maxDeliver;
    if (!c) {
      c = new Consumer(this, log, opts.durable, maxAckPending, ackWaitMs, maxDeliver, opts.deliverNew ?? false);
      log.consumers.set(opts.durable, c);
    } else {
      // Like a JetStream consumer update: the newest settings win.
      c.maxAckPending = maxAckPending;
      c.ackWaitMs = ackWaitMs;
      c.maxDeliver = maxDeliver;
    }
    return new InProcessSubscription<K>(c);
  }

  /** The counters, with each consumer's queue depth measured now. */
  override counters(): BusCounters {
    const pending: Record<string, number> = {};
    for (const log of this.topics.values()) for (const c of log.consumers.values()) pending[c.key] = c.waiting();
    return super.counters(pending);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const log of this.topics.values()) {
      for (const c of log.consumers.values()) c.close();
      for (const w of log.roomQueue.splice(0)) w.resolve();
      log.appended$.complete();
    }
    (this.weights as MemoryWeightStore).close();
  }
}
