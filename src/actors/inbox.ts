// Pulls a subscription in the background into a queue, so an actor can take batches: wait for one, then linger for more.
// openInbox is how every consuming actor opens its stream: the consumer together with its ack-deadline heartbeat.
import { every, type Clock } from '../clock.js';
import type { Bus, ConsumeOptions, Delivery, Subscription } from '../streams/bus.js';
import type { TopicName, Topics } from '../streams/topics.js';

export interface InboxHeartbeat<T> {
  ms: number;
  /** The deliveries the actor holds in work (taken, not yet acked). */
  held: () => Iterable<Delivery<T>>;
  /** True while the actor deliberately leaves fetched messages queued (a phase waiting for its labels): keep them too. */
  keepQueued?: () => boolean;
}

export class Inbox<T> {
  private readonly queue: Delivery<T>[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;
  private failure: unknown;
  private readonly pump: Promise<void>;
  private stopBeat: (() => void) | undefined;

  constructor(
    private readonly sub: Subscription<T>,
    private readonly clock: Clock,
    heartbeat?: InboxHeartbeat<T>,
  ) {
    this.pump = this.run();
    if (heartbeat) this.stopBeat = every(clock, heartbeat.ms, () => this.beat(heartbeat.held(), heartbeat.keepQueued?.() ?? false));
  }

  /**
   * While the actor holds work, extends the ack deadline of what it holds and of everything fetched but not yet taken
   * (that waits behind the work in progress). An actor holding nothing, or one that failed and let go of its work,
   * extends nothing, so its messages go back to the stream after the ack wait.
   */
  private beat(held: Iterable<Delivery<T>>, keepQueued: boolean): void {
    let holding = keepQueued;
    for (const d of held) {
      holding = true;
      d.working();
    }
    if (holding) for (const d of this.queue) d.working();
  }

  private async run(): Promise<void> {
    try {
      for await (const d of this.sub) {
        this.queue.push(d);
        this.wake();
      }
    } catch (err) {
      this.failure = err;
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private waitForChange(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      // An aborted wait takes its waiter out, so idle polling loops do not pile waiters up.
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== done);
        done();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  get size(): number {
    return this.queue.length;
  }

  /** The subscription ended and everything it delivered was taken: next() returns undefined at once from now on. */
  get exhausted(): boolean {
    return this.ended && this.queue.length === 0;
  }

  /** The next delivery; undefined when the subscription ended (or `signal` aborted) with nothing queued. */
  async next(signal?: AbortSignal): Promise<Delivery<T> | undefined> {
    for (;;) {
      if (this.queue.length > 0) return this.queue.shift();
      if (this.failure !== undefined) throw this.failure;
      if (this.ended || signal?.aborted) return undefined;
      await this.waitForChange(signal);
    }
  }

  /**
   * Up to `max` deliveries: waits for the first, then up to `lingerMs` for the batch to fill.
   * Empty only when the subscription ended or `signal` aborted.
   */
  async take(max: number, lingerMs: number, signal?: AbortSignal): Promise<Delivery<T>[]> {
    const first = await this.next(signal);
    if (!first) return [];
    const out = [first];
    const deadline = this.clock.now() + lingerMs;
    while (out.length < max) {
      if (this.queue.length > 0) {
        out.push(this.queue.shift()!);
        continue;
      }
      const left = deadline - this.clock.now();
      if (left <= 0 || this.ended || signal?.aborted) break;
      const ac = new AbortController();
      const onOuter = (): void => ac.abort();
      signal?.addEventListener('abort', onOuter, { once: true });
      await Promise.race([this.waitForChange(ac.signal), this.clock.sleep(left, ac.signal)]);
      ac.abort();
      signal?.removeEventListener('abort', onOuter);
    }
    return out;
  }

  /** Stops fetching and hands back whatever was fetched but not taken, for the caller to nak. */
  async close(): Promise<Delivery<T>[]> {
    this.stopBeat?.();
    this.stopBeat = undefined;
    await this.sub.stop();
    await this.pump;
    return this.queue.splice(0);
  }
}

/**
 * Stops a consuming actor: waits for its loop (which finishes the batch in flight), closes the inbox and hands
 * every fetched-but-untaken message back to the stream. Returns the loop's failure, if any, for the caller to rethrow.
 */
export async function drainConsumer<T>(loop: Promise<void>, inbox: Inbox<T>): Promise<unknown> {
  let failure: unknown;
  try {
    await loop;
  } catch (err) {
    failure = err;
  }
  const left = await inbox.close();
  left.forEach((d) => d.nak());
  return failure;
}

/** How often to extend the ack deadline of messages held in work: a third of the ack wait, so two beats may be late. */
export function heartbeatInterval(opts: { heartbeatMs?: number; ackWaitMs?: number }): number {
  return opts.heartbeatMs ?? (opts.ackWaitMs ? Math.max(10, Math.floor(opts.ackWaitMs / 3)) : 5000);
}

/** The consumer options every actor shares: its ack wait (default: the bus's) and heartbeat (default: a third of it). */
export interface ActorConsumeOptions {
  durable: string;
  maxAckPending: number;
  /** What one reader pulls at a time (default: up to maxAckPending), so readers of one durable share its work. */
  pullBatch?: number;
  ackWaitMs?: number;
  heartbeatMs?: number;
}

/** Opens `topic` for a consuming actor: the durable consumer, read through an Inbox that heartbeats what `held` returns. */
export function openInbox<K extends TopicName>(
  bus: Bus,
  topic: K,
  o: ActorConsumeOptions,
  clock: Clock,
  held: () => Iterable<Delivery<Topics[K]>>,
  keepQueued?: () => boolean,
): Inbox<Topics[K]> {
  const consume: ConsumeOptions = {
    durable: o.durable,
    maxAckPending: o.maxAckPending,
    ...(o.pullBatch ? { pullBatch: o.pullBatch } : {}),
    ...(o.ackWaitMs ? { ackWaitMs: o.ackWaitMs } : {}),
  };
  return new Inbox(bus.consume(topic, consume), clock, { ms: heartbeatInterval(o), held, ...(keepQueued ? { keepQueued } : {}) });
}
