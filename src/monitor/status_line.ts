// A compact live status line for runs: rewritten in place on a terminal, printed as plain periodic lines otherwise.
import type { MonitorSnapshot } from './views.js';

export interface StatusOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const n = (v: number | null, digits = 3): string => (v === null || !Number.isFinite(v) ? '-' : String(Number(v.toPrecision(digits))));

/** One line: elapsed, samples/s, pairs/s, steps, policy version, lag, reward, loss, actors up. */
export function formatStatus(s: MonitorSnapshot): string {
  const elapsed = s.startedAt === null ? 0 : Math.max(0, (s.now - s.startedAt) / 1000);
  const lag = s.policy.lag ? (s.policy.lag.recentMean ?? s.policy.lag.mean) : null;
  const reward = s.quality.goldReward ?? s.quality.proxyReward ?? s.quality.judgeScore;
  const parts = [
    `samples ${n(s.rates.samplesPerSec)}/s`,
    `pairs ${n(s.rates.pairsPerSec)}/s`,
    `step ${s.totals.steps}`,
    `v${s.policy.version ?? '-'}`,
    `lag ${n(lag, 2)}`,
    `${s.quality.goldReward !== null ? 'gold' : s.quality.proxyReward !== null ? 'proxy' : 'score'} ${n(reward)}`,
    `loss ${n(s.quality.loss)}`,
    `up ${s.counts.alive}/${s.actors.length}`,
  ];
  if (s.counts.dead > 0) parts.push(`DEAD ${s.counts.dead}`);
  if (s.streams.deadLetters > 0) parts.push(`dlq ${s.streams.deadLetters}`);
  return `[${elapsed.toFixed(0)}s] ${parts.join(' | ')}`;
}

export interface StatusLineOptions {
  /** Off a terminal, a line at most this often (default 10 s). */
  plainEveryMs?: number;
  now?: () => number;
}

export class StatusLine {
  private lastPlain = Number.NEGATIVE_INFINITY;
  private drawn = false;
  private readonly plainEveryMs: number;
  private readonly now: () => number;

  constructor(
    private readonly out: StatusOutput,
    opts: StatusLineOptions = {},
  ) {
    this.plainEveryMs = opts.plainEveryMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  update(s: MonitorSnapshot): void {
    const line = formatStatus(s);
    if (this.out.isTTY) {
      // Clipped to the terminal width: a wrapped line could not be overwritten by \r.
      const width = this.out.columns && this.out.columns > 1 ? this.out.columns - 1 : line.length;
      this.out.write(`\r${line.slice(0, width)}\x1b[K`);
      this.drawn = true;
    } else if (this.now() - this.lastPlain >= this.plainEveryMs) {
      this.out.write(`${line}\n`);
      this.lastPlain = this.now();
    }
  }

  /** Ends the live line so later output starts on a fresh one. */
  stop(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
