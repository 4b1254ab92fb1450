// Per-core busy fractions from /proc/stat, sampled while an arm runs, beside this process's own CPU time.
import { readFileSync } from 'node:fs';

export class CpuSamplerError extends Error {
  override name = 'CpuSamplerError';
}

/** Cumulative jiffies of one core: busy = everything but idle and iowait. */
export interface CoreTimes {
  busy: number;
  total: number;
}

/** The per-core lines (`cpu0 ...`, `cpu1 ...`) of a /proc/stat text, in core order; the aggregate `cpu` line is skipped. */
export function parseProcStat(text: string): CoreTimes[] {
  const cores: CoreTimes[] = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    if (f.length < 4 || !f.every(Number.isFinite)) throw new CpuSamplerError(`/proc/stat line ${JSON.stringify(line)} must hold at least 4 numeric fields`);
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already inside user/nice.
    const total = f.slice(0, 8).reduce((s, x) => s + x, 0);
    const idle = f[3]! + (f[4] ?? 0);
    cores[Number(m[1])] = { busy: total - idle, total };
  }
  return cores.filter(Boolean);
}

/** Busy fraction of each core between two readings (0 where no time passed). */
export function busyFractions(a: readonly CoreTimes[], b: readonly CoreTimes[]): number[] {
  if (a.length !== b.length) throw new CpuSamplerError(`core count changed between readings: ${a.length} then ${b.length}`);
  return b.map((t, i) => {
    const dt = t.total - a[i]!.total;
    return dt > 0 ? Math.min(1, Math.max(0, (t.busy - a[i]!.busy) / dt)) : 0;
  });
}

export interface CpuUsage {
  /** Whole-machine busy fraction of each core over the arm (other processes on the machine count too). */
  coreBusy: number[];
  /** This process's CPU seconds (all threads, user + system) over the arm, divided by wall seconds and core count. */
  processShare: number;
  processCpuSeconds: number;
  wallSeconds: number;
  /** [seconds since start, busy fraction per core] for each sampling interval. */
  timeline: [number, number[]][];
}

export type StatReader = () => string;
const readProcStat: StatReader = () => readFileSync('/proc/stat', 'utf8');

/** Samples /proc/stat every `periodMs` from start() to stop(); works (with empty figures) where /proc/stat is missing. */
export class CpuSampler {
  private first: CoreTimes[] | undefined;
  private last: CoreTimes[] | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private t0 = 0;
  private cpu0: NodeJS.CpuUsage | undefined;
  private readonly timeline: [number, number[]][] = [];

  constructor(
    private readonly periodMs: number,
    private readonly read: StatReader = readProcStat,
  ) {}

  private reading(): CoreTimes[] | undefined {
    try {
      return parseProcStat(this.read());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private sample(): void {
    const now = this.reading();
    if (now && this.last && now.length === this.last.length) this.timeline.push([(performance.now() - this.t0) / 1000, busyFractions(this.last, now)]);
    if (now) this.last = now;
  }

  start(): void {
    if (this.timer) throw new CpuSamplerError('the sampler is already running');
    this.t0 = performance.now();
    this.cpu0 = process.cpuUsage();
    this.first = this.reading();
    this.last = this.first;
    this.timer = setInterval(() => this.sample(), this.periodMs);
    // Sampling must never keep the process alive on its own.
    this.timer.unref();
  }

  stop(): CpuUsage {
    if (!this.timer) throw new CpuSamplerError('stop() before start()');
    clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    const wallSeconds = (performance.now() - this.t0) / 1000;
    const cpu = process.cpuUsage(this.cpu0);
    const processCpuSeconds = (cpu.user + cpu.system) / 1e6;
    const coreBusy = this.first && this.last && this.first.length === this.last.length ? busyFractions(this.first, this.last) : [];
    const cores = Math.max(1, coreBusy.length);
    return { coreBusy, processShare: wallSeconds > 0 ? processCpuSeconds / wallSeconds / cores : 0, processCpuSeconds, wallSeconds, timeline: [...this.timeline] };
  }
}
