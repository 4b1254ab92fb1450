// The embedded bus: JetStream's semantics (append-only logs, durable pull consumers, ack/nak/redelivery) in one process.
import { createHash } from 'node:crypto';
import { BehaviorSubject, Subject, type Subscription as RxSubscription } from 'rxjs';
import type { BusConfig } from '../config/index.js';
import {
  BusError,
  type Bus,
  type BusCounters,
  type ConsumeOptions,
  type Delivery,
  type PublishOptions,
  type Subscription,
  type WeightBlob,
  type WeightStore,
} from './bus.js';
import { SYSTEM_CLOCK, type BusOptions, type Clock } from './bus_options.js';
import type { Codec } from './codec.js';
import { encodeDeadLetter } from './dead_letter.js';
import { TOPIC_RETENTION } from './policy.js';
import { Wire } from './wire.js';
import { SCHEMA_VERSION, type TopicName, type Topics, type WeightsMsg } from './topics.js';


interface Pending {
  seq: number;
  /** Deliveries so far; the Delivery handed out last carries this number. */
  deliveries: number;
  state: 'inflight' | 'delayed' | 'ready';
  timer?: unknown;
}

interface Waiter {
  sub: InProcessSubscription<TopicName>;
  resolve(d: Delivery<unknown> | undefined): void;
}

/** One topic: an append-only log plus the durable consumers reading it. */
class TopicLog {
  readonly messages = new Map<number, Uint8Array>();
  firstSeq = 1;
  lastSeq = 0;
  readonly consumers = new Map<string, Consumer>();
  /** msgId -> expiry time, insertion-ordered so expired ids are dropped from the front. */
  readonly msgIds = new Map<string, number>();
  readonly appended$ = new Subject<void>();
  /** Publishes waiting for room, in call order (so concurrent publishes from one producer keep their order). */
  readonly roomQueue: Array<{ bytes: Uint8Array; msgId?: string; resolve(): void }> = [];

  constructor(readonly name: TopicName) {}

  /** Unacked messages held for consumers: the lag of the slowest durable, or all retained when none exists yet. */
  held(): number {
    if (this.consumers.size === 0) return this.lastSeq - this.firstSeq + 1;
    let floor = Infinity;
    for (const c of this.consumers.values()) floor = Math.min(floor, c.ackFloor);
    return this.lastSeq - floor;
  }

  /** Drops what no consumer needs, keeping at most `keep` of the newest such messages. */
  trim(keep: number, workTopic: boolean): void {
    let floor = this.lastSeq;
    for (const c of this.consumers.values()) floor = Math.min(floor, c.ackFloor);
    // Work topics with no consumer yet keep everything (publish backpressure bounds it).
    if (workTopic && this.consumers.size === 0) return;
    const dropBelow = Math.min(floor + 1, this.lastSeq - keep + 1);
    while (this.firstSeq < dropBelow) {
      this.messages.delete(this.firstSeq);
      this.firstSeq++;
    }
  }
}

class Consumer {
  nextSeq: number;
  ackFloor: number;
  readonly settled = new Set<number>();
  readonly pending = new Map<number, Pending>();
  readonly ready: number[] = [];
  readonly waiters: Waiter[] = [];
  private readonly rx: RxSubscription;

  constructor(
    readonly bus: InProcessBus,
    readonly log: TopicLog,
    readonly durable: string,
    public maxAckPending: number,
    public ackWaitMs: number,
    public maxDeliver: number,
    deliverNew: boolean,
  ) {
    this.nextSeq = deliverNew ? log.lastSeq + 1 : log.firstSeq;
    this.ackFloor = this.nextSeq - 1;
    this.rx = log.appended$.subscribe(() => this.dispatch());
  }

  get key(): string {
    return `${this.log.name}/${this.durable}`;
  }

  /** Hands deliverable messages to waiting pulls: redeliveries first, then new messages while under maxAckPending. */
  dispatch(): void {
    while (this.waiters.length > 0 && !this.bus.closed) {
      let entry: Pending | undefined;
      const redo = this.ready.shift();
      if (redo !== undefined) {
        entry = this.pending.get(redo);
        if (!entry || entry.state !== 'ready') continue;
      } else if (this.pending.size < this.maxAckPending && this.nextSeq <= this.log.lastSeq) {
        const seq = this.nextSeq++;
        if (!this.log.messages.has(seq)) {
          this.markSettled(seq);
          continue;
        }
        entry = { seq, deliveries: 0, state: 'ready' };
        this.pending.set(seq, entry);
      } else {
        return;
      }
      const bytes = this.log.messages.get(entry.seq);
      if (!bytes) {
        // Trimmed while waiting for redelivery (only broadcast topics trim unacked messages).
        this.settle(entry.seq);
        continue;
      }
      entry.deliveries++;
      entry.state = 'inflight';
      this.armAckTimer(entry);
      const decoded = this.bus.decodeFor(this.log.name, bytes);
      if (!decoded.ok) {
        void this.deadLetter(entry, decoded.reason);
        continue;
      }
      const waiter = this.waiters.shift()!;
      this.bus.count('delivered', this.log.name);
      waiter.resolve(this.delivery(entry, decoded.value));
    }
  }

  private delivery(entry: Pending, data: unknown): Delivery<unknown> {
    const n = entry.deliveries;
    const current = (): Pending | undefined => {
      const e = this.pending.get(entry.seq);
      return e && e.deliveries === n && e.state === 'inflight' ? e : undefined;
    };
    return {
      data,
      topic: this.log.name,
      seq: entry.seq,
      deliveries: n,
      ack: async () => {
        // An ack for a message already redelivered still counts: its effect happened.
        if (!this.pending.has(entry.seq)) return;
        this.bus.count('acked', this.log.name);
        this.settle(entry.seq);
      },
      nak: (delayMs = 0) => {
        const e = current();
        if (!e) return;
        this.bus.clock.clearTimeout(e.timer);
        if (e.deliveries >= this.maxDeliver) {
          void this.deadLetter(e, `nak'ed on delivery ${e.deliveries} of maxDeliver ${this.maxDeliver}`);
          return;
        }
        this.requeue(e, delayMs);
      },
      deadLetter: async (reason: string) => {
        const e = this.pending.get(entry.seq);
        if (!e) return;
        await this.deadLetter(e, reason);
      },
      working: () => {
        const e = current();
        if (e) this.armAckTimer(e);
      },
    };
  }

  private requeue(e: Pending, delayMs: number): void {
    if (delayMs > 0) {
      e.state = 'delayed';
      e.timer = this.bus.clock.setTimeout(() => {
        if (this.pending.get(e.seq) !== e || e.state !== 'delayed') return;
        e.state = 'ready';
        this.ready.push(e.seq);
        this.dispatch();
      }, delayMs);
    } else {
      e.state = 'ready';
      this.ready.push(e.seq);
      this.dispatch();
    }
  }

  private armAckTimer(e: Pending): void {
    this.bus.clock.clearTimeout(e.timer);
    const n = e.deliveries;
    e.timer = this.bus.clock.setTimeout(() => {
      if (this.pending.get(e.seq) !== e || e.state !== 'inflight' || e.deliveries !== n) return;
      if (e.deliveries >= this.maxDeliver) {
        void this.deadLetter(e, `not acked within ackWaitMs ${this.ackWaitMs} on delivery ${e.deliveries} of maxDeliver ${this.maxDeliver}`);
        return;
      }
      this.requeue(e, 0);
    }, this.ackWaitMs);
  }

  private async deadLetter(e: Pending, reason: string): Promise<void> {
    const bytes = this.log.messages.get(e.seq) ?? new Uint8Array(0);
    // The letter is appended before settling: settling dispatches the next message, which may be dead-lettered too,
    // and letters should appear in the order of the messages they carry.
    const sent = this.bus.sendDeadLetter(this.log.name, reason, e.deliveries, bytes);
    this.settle(e.seq);
    await sent;
  }

  settle(seq: number): void {
    const e = this.pending.get(seq);
    if (e) {
      this.bus.clock.clearTimeout(e.timer);
      this.pending.delete(seq);
    }
    this.markSettled(seq);
    this.bus.afterSettle(this.log);
    this.dispatch();
  }

  private markSettled(seq: number): void {
    this.settled.add(seq);
    while (this.settled.has(this.ackFloor + 1)) {
      this.settled.delete(this.ackFloor + 1);
      this.ackFloor++;
    }
  }

  /** Messages not yet delivered (JetStream's num_pending) plus those waiting for redelivery. */
  waiting(): number {
    return Math.max(0, this.log.lastSeq - this.nextSeq + 1) + this.ready.length;
  }

  close(): void {
    this.rx.unsubscribe();
    for (const e of this.pending.values()) this.bus.clock.clearTimeout(e.timer);
    for (const w of this.waiters.splice(0)) w.resolve(undefined);
  }
}

class InProcessSubscription<K extends TopicName> implements Subscription<Topics[K]> {
  private stopped = false;

  constructor(private readonly consumer: Consumer) {}

  private next(): Promise<IteratorResult<Delivery<Topics[K]>>> {
    if (this.stopped || this.consumer.bus.closed) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => {
      this.consumer.waiters.push({
        sub: this as unknown as InProcessSubscription<TopicName>,
        resolve: (d) => resolve(d ? { done: false, value: d as Delivery<Topics[K]> } : { done: true, value: undefined }),
      });
      this.consumer.dispatch();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const mine = this.consumer.waiters.filter((w) => w.sub === (this as unknown));
    this.consumer.waiters.splice(0, this.consumer.waiters.length, ...this.consumer.waiters.filter((w) => w.sub !== (this as unknown)));
    for (const w of mine) w.resolve(undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery<Topics[K]>> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.stop();
        return { done: true, value: undefined };
      },
    };
  }
}

class MemoryWeightStore implements WeightStore {
  private readonly blobs = new Map<number, WeightBlob>();
  private readonly latest$ = new BehaviorSubject<WeightsMsg | undefined>(undefined);

  constructor(private readonly bus: InProcessBus) {}

  async put(version: number, step: number, bytes: Uint8Array): Promise<WeightsMsg> {
    if (this.bus.closed) throw new BusError('bus is closed');
    const meta: WeightsMsg = {
      type: 'weights',
      v: SCHEMA_VERSION,
      runId: this.bus.runId,
      version,
      step,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      createdAt: this.bus.clock.now(),
    };
    // A copy, so a learner reusing its buffer cannot change published weights.
    this.blobs.set(version, { meta, bytes: new Uint8Array(bytes) });
    await this.bus.publish('weights', meta);
    this.latest$.next(meta);
    return meta;
  }

  async get(version?: number): Promise<WeightBlob | undefined> {
    const v = version ?? this.latest$.value?.version;
    if (v === undefined) return undefined;
    const blob = this.blobs.get(v);
    if (!blob) return undefined;
    const sha = createHash('sha256').update(blob.bytes).digest('hex');
    if (blob.bytes.length !== blob.meta.size || sha !== blob.meta.sha256) {
      throw new BusError(`weights v${v} are corrupt: sha256 ${sha} (${blob.bytes.length} bytes), announced ${blob.meta.sha256} (${blob.meta.size} bytes)`);
    }
    return { meta: blob.meta, bytes: new Uint8Array(blob.bytes) };
  }

  async latest(): Promise<WeightsMsg | undefined> {
    return this.latest$.value;
  }

  async *watch(signal?: AbortSignal): AsyncIterable<WeightsMsg> {
    const queue: WeightsMsg[] = [];
    let wake: (() => void) | undefined;
    const rx = this.latest$.subscribe((m) => {
      if (m) queue.push(m);
      wake?.();
    });
    const onAbort = (): void => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      while (!signal?.aborted && !this.bus.closed) {
        const m = queue.shift();
        if (m) {
          yield m;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      rx.unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  close(): void {
    this.latest$.complete();
  }
}

export class InProcessBus implements Bus {
  readonly kind = 'inprocess' as const;
  readonly weights: WeightStore;
  readonly clock: Clock;
  closed = false;
  private readonly codec: Codec;
  private readonly wire: Wire;
  private readonly topics = new Map<TopicName, TopicLog>();
  private readonly stats: BusCounters = { published: {}, delivered: {}, acked: {}, deadLettered: {}, pending: {} };
  private readonly log: (line: string) => void;

  constructor(
    private readonly cfg: BusConfig,
    readonly runId: string,
    opts: BusOptions = {},
  ) {
    this.clock = opts.clock ?? SYSTEM_CLOCK;
    this.wire = new Wire(cfg.maxPayloadBytes, opts.schema);
    this.codec = this.wire.codec;
    this.log = opts.log ?? ((line) => console.error(line));
    this.weights = new MemoryWeightStore(this);
  }

  private topic(name: TopicName): TopicLog {
    let t = this.topics.get(name);
    if (!t) {
      t = new TopicLog(name);
      this.topics.set(name, t);
    }
    return t;
  }

  count(kind: 'published' | 'delivered' | 'acked' | 'deadLettered', topic: string): void {
    this.stats[kind][topic] = (this.stats[kind][topic] ?? 0) + 1;
  }

  /** Decodes and validates as a consumer on another host would; failures become dead letters. */
  decodeFor(topic: TopicName, bytes: Uint8Array): { ok: true; value: unknown } | { ok: false; reason: string } {
    return this.wire.decodeFor(topic, bytes);
  }

  async publish<K extends TopicName>(topic: K, msg: Topics[K], opts: PublishOptions = {}): Promise<void> {
    await this.publishRaw(topic, this.wire.encodeChecked(topic, msg), opts);
  }

  private encode(msg: unknown): Uint8Array {
    return this.wire.encode(msg);
  }

  /** Appends bytes as they are, unvalidated: how a foreign or faulty producer's message arrives. */
  async publishRaw(topic: TopicName, bytes: Uint8Array, opts: PublishOptions = {}): Promise<void> {
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

  async sendDeadLetter(topic: TopicName, reason: string, deliveries: number, payload: Uint8Array): Promise<void> {
    this.count('deadLettered', topic);
    this.log(`bus: dead letter on ${topic} after ${deliveries} deliveries: ${reason}`);
    const letter = encodeDeadLetter(this.codec, { runId: this.runId, topic, reason, deliveries, payload, ts: this.clock.now() });
    // Dead letters bypass backpressure: the consumer producing them must never block on them.
    if (!this.closed) this.append(this.topic('dead'), letter, undefined);
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

  counters(): BusCounters {
    const pending: Record<string, number> = {};
    for (const log of this.topics.values()) for (const c of log.consumers.values()) pending[c.key] = c.waiting();
    const copy = (r: Record<string, number>): Record<string, number> => ({ ...r });
    return {
      published: copy(this.stats.published),
      delivered: copy(this.stats.delivered),
      acked: copy(this.stats.acked),
      deadLettered: copy(this.stats.deadLettered),
      pending,
    };
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
