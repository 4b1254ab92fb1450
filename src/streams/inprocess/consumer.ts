// A durable consumer of an in-process topic: JetStream's delivery, ack wait, nak delay, redelivery and dead letters.
import type { Subscription as RxSubscription } from 'rxjs';
import type { Delivery } from '../bus.js';
import type { TopicName } from '../topics.js';
import type { InProcessBus } from './bus.js';
import type { InProcessSubscription } from './subscription.js';
import type { TopicLog } from './topic_log.js';

export interface Pending {
  seq: number;
  /** Deliveries so far; the Delivery handed out last carries this number. */
  deliveries: number;
  state: 'inflight' | 'delayed' | 'ready';
  timer?: unknown;
}

export interface Waiter {
  sub: InProcessSubscription<TopicName>;
  resolve(d: Delivery<unknown> | undefined): void;
}

export class Consumer {
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
      ...(this.log.senders.has(entry.seq) ? { sender: this.log.senders.get(entry.seq)! } : {}),
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
    const sent = this.bus.sendDeadLetter(this.log.name, reason, e.deliveries, bytes, this.durable);
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
