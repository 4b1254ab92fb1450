// An in-process consumer read as an async iterable: each next() waits in the consumer's queue for a delivery.
import type { Delivery, Subscription } from '../bus.js';
import type { TopicName, Topics } from '../topics.js';
import type { Consumer } from './consumer.js';

export class InProcessSubscription<K extends TopicName> implements Subscription<Topics[K]> {
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
