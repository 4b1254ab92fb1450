// A Bus that counts the time its callers spend inside bus calls (publish, ack, nak, dead-letter, weight store), so a
// run can report the share of its wall-clock the bus costs. Waiting for a message to arrive is idle time, not counted.
import type { Bus, BusCounters, ConsumeOptions, Delivery, PublishOptions, Subscription, WeightStore } from './bus.js';
import type { TopicName, Topics } from './topics.js';

export class TimedBus implements Bus {
  /** Seconds spent in bus calls, summed over callers (concurrent calls each count: the sum may exceed wall-clock). */
  callSeconds = 0;
  /** Bus calls timed. */
  calls = 0;
  /** Calls in flight now, and since when at least one has been. */
  private open = 0;
  private openSince = 0;
  private busyClosed = 0;
  readonly weights: WeightStore;
  /** The inner bus's count by sender, where it has one (not timed: a monitor's poll, not an actor's bus call). */
  readonly deadLettersBySender?: () => Promise<Record<string, number>>;

  constructor(private readonly inner: Bus) {
    if (inner.deadLettersBySender) this.deadLettersBySender = () => inner.deadLettersBySender!();
    const w = inner.weights;
    this.weights = {
      put: (version, step, bytes) => this.timed(() => w.put(version, step, bytes)),
      get: (version) => this.timed(() => w.get(version)),
      latest: () => this.timed(() => w.latest()),
      watch: (signal) => w.watch(signal),
    };
  }

  get kind(): Bus['kind'] {
    return this.inner.kind;
  }

  get runId(): string {
    return this.inner.runId;
  }

  /** Wall-clock seconds during which at least one bus call was in flight (concurrent calls count once). */
  get busySeconds(): number {
    return (this.busyClosed + (this.open > 0 ? performance.now() - this.openSince : 0)) / 1000;
  }

  private begin(): number {
    const t0 = performance.now();
    if (this.open++ === 0) this.openSince = t0;
    return t0;
  }

  private add(t0: number): void {
    const now = performance.now();
    this.callSeconds += (now - t0) / 1000;
    this.calls++;
    if (--this.open === 0) this.busyClosed += now - this.openSince;
  }

  private async timed<T>(f: () => Promise<T>): Promise<T> {
    const t0 = this.begin();
    try {
      return await f();
    } finally {
      this.add(t0);
    }
  }

  private timedSync(f: () => void): void {
    const t0 = this.begin();
    try {
      f();
    } finally {
      this.add(t0);
    }
  }

  publish<K extends TopicName>(topic: K, msg: Topics[K], opts?: PublishOptions): Promise<void> {
    return this.timed(() => this.inner.publish(topic, msg, opts));
  }

  consume<K extends TopicName>(topic: K, opts: ConsumeOptions): Subscription<Topics[K]> {
    const sub = this.inner.consume(topic, opts);
    const wrap = (d: Delivery<Topics[K]>): Delivery<Topics[K]> => ({
      data: d.data,
      topic: d.topic,
      seq: d.seq,
      deliveries: d.deliveries,
      ...(d.sender !== undefined ? { sender: d.sender } : {}),
      ack: () => this.timed(() => d.ack()),
      nak: (delayMs) => this.timedSync(() => d.nak(delayMs)),
      deadLetter: (reason) => this.timed(() => d.deadLetter(reason)),
      working: () => this.timedSync(() => d.working()),
    });
    return {
      stop: () => sub.stop(),
      [Symbol.asyncIterator]: () => {
        const it = sub[Symbol.asyncIterator]();
        return {
          next: async () => {
            const r = await it.next();
            return r.done ? r : { done: false, value: wrap(r.value) };
          },
          return: async () => (it.return ? it.return() : { done: true, value: undefined }),
        };
      },
    };
  }

  counters(): BusCounters {
    return this.inner.counters();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
