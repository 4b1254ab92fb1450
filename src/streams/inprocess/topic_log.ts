// One in-process topic: an append-only log plus the durable consumers reading it.
import { Subject } from 'rxjs';
import type { TopicName } from '../topics.js';
import type { Consumer } from './consumer.js';

export class TopicLog {
  readonly messages = new Map<number, Uint8Array>();
  /** Who appended a message, where the bus knows (dead letters: the consumer group that gave up); Delivery.sender. */
  readonly senders = new Map<number, string>();
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
      this.senders.delete(this.firstSeq);
      this.firstSeq++;
    }
  }
}
