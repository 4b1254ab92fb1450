// Terminal progress bar for training loops: one \r-updated line on a TTY, periodic plain lines otherwise.

/** Lets signal handlers (Ctrl-C) and timers run between synchronous training steps. */
export const yieldToEvents = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface ProgressOptions {
  /** Where the bar goes; stderr so stdout stays clean for results. */
  stream?: NodeJS.WriteStream;
  /** Width of the bar in characters. */
  width?: number;
  /** Without a TTY, print one line every this many milliseconds (and at the end). */
  lineIntervalMs?: number;
  /** Clock in milliseconds; tests pass a fake one. */
  now?: () => number;
  /** Unit name for the rate, e.g. "step". */
  unit?: string;
}

function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--:--';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** A progress bar over `total` units; `tick(n, info)` advances it and shows `info` (e.g. "loss 3.21") after the bar. */
export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly width: number;
  private readonly lineIntervalMs: number;
  private readonly now: () => number;
  private readonly unit: string;
  private readonly started: number;
  private done = 0;
  private lastDraw = -Infinity;
  private lastLine = -Infinity;
  private printedDone = -1;
  private printedInfo = '';
  private lastInfo = '';
  private closed = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    opts: ProgressOptions = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.width = opts.width ?? 24;
    this.lineIntervalMs = opts.lineIntervalMs ?? 10_000;
    this.now = opts.now ?? (() => performance.now());
    this.unit = opts.unit ?? 'step';
    this.started = this.now();
  }

  private get isTty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  /** The current line, without control characters: label, bar, count, rate, elapsed and ETA, extra info. */
  render(info = ''): string {
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const filled = Math.round(frac * this.width);
    const bar = '#'.repeat(filled) + '-'.repeat(this.width - filled);
    const elapsed = this.now() - this.started;
    const rate = elapsed > 0 ? (this.done * 1000) / elapsed : 0;
    const eta = rate > 0 ? ((this.total - this.done) / rate) * 1000 : NaN;
    const rateText = rate >= 1 || rate === 0 ? `${rate.toFixed(1)} ${this.unit}/s` : `${(1 / rate).toFixed(2)} s/${this.unit}`;
    return `${this.label} [${bar}] ${this.done}/${this.total} ${rateText} ${formatDuration(elapsed)}<${formatDuration(eta)}${info ? ` ${info}` : ''}`;
  }

  tick(n = 1, info = ''): void {
    if (this.closed) return;
    this.done += n;
    this.lastInfo = info;
    const t = this.now();
    const last = this.done >= this.total;
    if (this.isTty) {
      // Redrawing more than ~10 times a second costs time and shows nothing new.
      if (t - this.lastDraw < 100 && !last) return;
      this.lastDraw = t;
      this.stream.write(`\r${this.render(info)}\x1b[K`);
    } else if (t - this.lastLine >= this.lineIntervalMs || last) {
      this.lastLine = t;
      this.printedDone = this.done;
      this.printedInfo = info;
      this.stream.write(`${this.render(info)}\n`);
    }
  }

  /** Prints a line above the bar (e.g. a validation result) without garbling it. */
  log(line: string): void {
    if (this.isTty && !this.closed) this.stream.write(`\r\x1b[K${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  /** Ends the bar's line (with the last tick's info unless given); further ticks are ignored. */
  close(info = this.lastInfo): void {
    if (this.closed) return;
    if (this.isTty) this.stream.write(`\r${this.render(info)}\x1b[K\n`);
    else if (this.printedDone !== this.done || info !== this.printedInfo) this.stream.write(`${this.render(info)}\n`);
    this.closed = true;
  }
}
