// A durable pull consumer read as an async iterable of deliveries; bad or over-delivered messages go to the dead letters.
import type { ConsumerMessages, JsMsg } from 'nats';
import { BusError, type ConsumeOptions, type Delivery, type Subscription } from '../bus.js';
import type { TopicName, Topics } from '../topics.js';
import type { NatsBus } from './bus.js';
import { ACTOR_ID, actorOfSubject, PER_ACTOR } from './names.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class NatsSubscription<K extends TopicName> implements Subscription<Topics[K]> {
  private messages: ConsumerMessages | undefined;
  private stopped = false;
  private iterating = false;
  /** Acks given since the last flush; sent together, so one socket write carries a whole pulled batch's acks. */
  private acks: JsMsg[] = [];
  private ackFlush: ReturnType<typeof setImmediate> | undefined;

  constructor(
    private readonly bus: NatsBus,
    private readonly topic: K,
    private readonly opts: ConsumeOptions,
    private readonly maxDeliver: number,
    private readonly stream: string,
  ) {}

  private async *run(): AsyncGenerator<Delivery<Topics[K]>> {
    // A consumer that cannot be made at start is an error for the actor; later (made again) it is retried below.
    await this.bus.ensureConsumer(this.topic, this.opts);
    // Pull in batches no larger than what may be unacked at once, so one slow process does not hoard messages.
    const batch = Math.max(1, Math.min(this.opts.pullBatch ?? 256, this.opts.maxAckPending ?? 256, 256));
    const key = `${this.topic}/${this.opts.durable}`;
    let backoff = 100;
    // Says why, waits, and doubles the next wait (up to 5 s); false when the subscription was stopped meanwhile.
    const again = async (why: string): Promise<boolean> => {
      if (this.stopped || this.bus.isClosed) return false;
      this.bus.logLine(`bus: ${key}: ${why}; pulling again in ${backoff} ms`);
      await sleep(backoff);
      backoff = Math.min(5000, backoff * 2);
      return true;
    };
    while (!this.stopped) {
      try {
        await this.bus.ensureConsumer(this.topic, this.opts);
        const consumer = await this.bus.js.consumers.get(this.stream, this.opts.durable);
        this.messages = await consumer.consume({ max_messages: batch, expires: 5000 });
        this.watchPull(this.messages, key);
      } catch (err) {
        // A cluster electing a new leader for the stream answers nothing for a while: try again, not end.
        if (!(await again(`consumer lookup failed (${(err as Error).message})`))) return;
        continue;
      }
      if (this.stopped) this.messages.stop();
      for await (const m of this.messages) {
        if (this.stopped) break;
        // m.info parses the reply subject on every read: once per message.
        const info = m.info;
        this.bus.setPending(key, info.pending);
        const deliveries = info.deliveryCount;
        if (deliveries > this.maxDeliver) {
          await this.deadLetter(m, `not acked within ackWaitMs after ${this.maxDeliver} deliveries (maxDeliver ${this.maxDeliver})`, this.maxDeliver);
          continue;
        }
        const decoded = this.bus.decodeFor(this.topic, m.data);
        if (!decoded.ok) {
          await this.deadLetter(m, decoded.reason, deliveries);
          continue;
        }
        if (this.topic === 'metrics') {
          // An actor speaks for itself only: the id in the message must be the one its subject (and so its user) carries.
          const actorId = (decoded.value as Topics['metrics']).actorId;
          const expected = ACTOR_ID.test(actorId) ? this.bus.subjectFor('metrics', actorId) : undefined;
          if (m.subject !== expected) {
            await this.deadLetter(m, `metrics.actorId ${JSON.stringify(actorId)} does not match the subject ${m.subject} it was published on; an actor publishes metrics only under its own id`, deliveries);
            continue;
          }
        }
        this.bus.count('delivered', this.topic);
        backoff = 100;
        yield this.delivery(m, decoded.value as Topics[K], deliveries, PER_ACTOR.has(this.topic) ? actorOfSubject(m.subject) : undefined);
      }
      // The client ends a pull on its own after a failure it cannot ride out (missed heartbeats, the consumer's leader
      // gone with its node): pull again instead of ending the subscription, which its actor would take for the end.
      if (!(await again('the pull ended'))) return;
    }
  }

  /**
   * The client's pull keeps asking for a consumer that the server no longer has (a stream replica reset after a
   * partition can lose it) without ever ending, so the actor would wait silently forever. After two such answers in a
   * row the pull is stopped: the loop above makes the consumer again (same settings, idempotent) and pulls anew.
   */
  private watchPull(messages: ConsumerMessages, key: string): void {
    void (async () => {
      let missing = 0;
      for await (const s of await messages.status()) {
        if (s.type === 'consumer_not_found' || s.type === 'stream_not_found' || s.type === 'consumer_deleted') {
          if (++missing < 2 || this.stopped) continue;
          this.bus.logLine(`bus: ${key}: the server answers ${s.type.replace(/_/g, ' ')}; making the consumer again`);
          this.bus.consumerGone(this.topic, this.opts.durable);
          messages.stop();
          return;
        }
        if (s.type !== 'heartbeats_missed') missing = 0;
      }
    })().catch(() => undefined);
  }

  private async deadLetter(m: JsMsg, reason: string, deliveries: number): Promise<void> {
    // The letter is stored before the original is terminated: a crash in between redelivers, never loses.
    await this.bus.sendDeadLetter(this.topic, reason, deliveries, m.data);
    // No reason on +TERM: nats-server 2.9 ignores a term that carries one (reasons came in 2.10).
    m.term();
  }

  private delivery(m: JsMsg, data: Topics[K], deliveries: number, sender: string | undefined): Delivery<Topics[K]> {
    let settled = false;
    return {
      data,
      topic: this.topic,
      seq: m.seq,
      deliveries,
      ...(sender !== undefined ? { sender } : {}),
      ack: async () => {
        if (settled) return;
        settled = true;
        this.queueAck(m);
        this.bus.count('acked', this.topic);
      },
      nak: (delayMs?: number) => {
        if (settled) return;
        settled = true;
        if (deliveries >= this.maxDeliver) {
          this.deadLetter(m, `nak'ed on delivery ${deliveries} of maxDeliver ${this.maxDeliver}`, deliveries).catch((err) =>
            this.bus.isClosed ? undefined : console.error(`bus: dead-lettering ${this.topic} seq ${m.seq} failed: ${(err as Error).message}`),
          );
          return;
        }
        m.nak(delayMs && delayMs > 0 ? delayMs : undefined);
      },
      deadLetter: async (reason: string) => {
        if (settled) return;
        settled = true;
        await this.deadLetter(m, reason, deliveries);
      },
      working: () => {
        if (!settled) m.working();
      },
    };
  }

  /**
   * An ack is sent once the current run of callbacks is over (setImmediate) instead of at once: the client writes
   * everything queued before its next flush in one socket write, so the acks of a batch handled together cost one
   * write instead of one each. An ack was never confirmed by the server (JetStream acks are fire-and-forget unless
   * double-acked), so the guarantee is the same: a lost ack means a redelivery, which consumers already handle.
   */
  private queueAck(m: JsMsg): void {
    this.acks.push(m);
    this.ackFlush ??= setImmediate(() => this.flushAcks());
  }

  private flushAcks(): void {
    if (this.ackFlush) clearImmediate(this.ackFlush);
    this.ackFlush = undefined;
    const acks = this.acks;
    this.acks = [];
    for (const m of acks) m.ack();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.flushAcks();
    this.messages?.stop();
    this.bus.forget(this as unknown as NatsSubscription<TopicName>);
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery<Topics[K]>> {
    if (this.iterating) throw new BusError(`a ${this.topic} subscription is iterated once; call consume() again for another reader`);
    this.iterating = true;
    const gen = this.run();
    return {
      next: () => gen.next(),
      return: async () => {
        await this.stop();
        return gen.return(undefined);
      },
    };
  }
}
