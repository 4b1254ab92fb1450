// PromptSource: streams the prompt set onto the 'prompts' topic in seeded shuffled epochs, up to a budget, optionally rate-limited.
import { deriveSeed, Rng } from '../kernels/rng.js';
import type { Bus } from '../streams/bus.js';
import type { PromptMsg } from '../streams/topics.js';
import type { Clock } from '../clock.js';
import type { MetricsRegistry } from './metrics.js';

export class PromptSourceError extends Error {
  override name = 'PromptSourceError';
}

export interface PromptItem {
  promptId: string;
  text: string;
  /** Formatted prompt token ids (template applied, bos included). */
  tokens: number[];
}

export interface PromptSourceOptions {
  prompts: readonly PromptItem[];
  /** Prompts to publish in all (epochs repeat the set in a fresh order). */
  budget: number;
  seed: number;
  /** 0 = no limit. */
  promptsPerSecond: number;
  /** Position to resume from (prompts already published by an earlier process). */
  startAt?: number;
}

export interface PromptSourceDeps {
  bus: Bus;
  clock: Clock;
  metrics: MetricsRegistry;
  /** Flow control: awaited before each publish; resolves when downstream has room (e.g. a bounded backlog). */
  admit?: (signal: AbortSignal) => Promise<void>;
}

/** The position-th prompt of the stream: epoch = position / N, order within an epoch a seeded shuffle. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  return new Rng(deriveSeed(seed, 'prompts', epoch)).shuffle(Array.from({ length: n }, (_, i) => i));
}

export class PromptSource {
  private position: number;
  private order: number[] = [];
  private orderEpoch = -1;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private startedAt = 0;
  private startedPosition = 0;

  constructor(
    private readonly deps: PromptSourceDeps,
    private readonly opts: PromptSourceOptions,
  ) {
    if (opts.prompts.length === 0) throw new PromptSourceError('the prompt set is empty');
    const ids = new Set(opts.prompts.map((p) => p.promptId));
    if (ids.size !== opts.prompts.length) throw new PromptSourceError('prompt ids must be unique');
    this.position = opts.startAt ?? 0;
  }

  get published(): number {
    return this.position;
  }
  get exhausted(): boolean {
    return this.position >= this.opts.budget;
  }

  private promptAt(position: number): { item: PromptItem; epoch: number } {
    const n = this.opts.prompts.length;
    const epoch = Math.floor(position / n);
    if (epoch !== this.orderEpoch) {
      this.order = epochOrder(n, this.opts.seed, epoch);
      this.orderEpoch = epoch;
    }
    return { item: this.opts.prompts[this.order[position % n]!]!, epoch };
  }

  private async publishOne(): Promise<void> {
    const { item, epoch } = this.promptAt(this.position);
    const msg: PromptMsg = {
      type: 'prompt',
      v: 1,
      runId: this.deps.bus.runId,
      promptId: item.promptId,
      epoch,
      text: item.text,
      tokens: item.tokens,
      createdAt: this.deps.clock.now(),
    };
    // The id makes a re-publication after a restart idempotent.
    await this.deps.bus.publish('prompts', msg, { msgId: `${item.promptId}:${epoch}` });
    this.position++;
    this.deps.metrics.counter('source_prompts_total').inc();
    this.deps.metrics.gauge('source_epoch_index').set(epoch);
  }

  private async pace(signal: AbortSignal): Promise<void> {
    const rate = this.opts.promptsPerSecond;
    if (rate > 0) {
      const due = this.startedAt + ((this.position - this.startedPosition) * 1000) / rate;
      await this.deps.clock.sleep(due - this.deps.clock.now(), signal);
    }
    if (this.deps.admit && !signal.aborted) await this.deps.admit(signal);
  }

  /** Publishes the next `n` prompts (fewer when the budget runs out); returns how many. Used by phase-driven modes. */
  async publishNext(n: number): Promise<number> {
    let done = 0;
    while (done < n && !this.exhausted && !this.abort.signal.aborted) {
      await this.publishOne();
      done++;
    }
    return done;
  }

  /** Streams until the budget is spent or stop() is called; `finished` resolves then. */
  start(): void {
    if (this.running) return;
    this.startedAt = this.deps.clock.now();
    this.startedPosition = this.position;
    this.running = (async () => {
      const signal = this.abort.signal;
      const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      while (!this.exhausted && !signal.aborted) {
        await this.pace(signal);
        if (signal.aborted) break;
        // A publish can wait for room on a full prompts topic indefinitely (its consumers may be stopping too): stop()
        // abandons it. It still lands or fails with the closing bus; either way the prompt is one the run no longer needs.
        const publishing = this.publishOne();
        publishing.catch(() => undefined);
        await Promise.race([publishing, stopped]);
      }
    })();
  }

  get finished(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}
