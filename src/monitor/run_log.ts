// The durable metrics log of a run: <run dir>/metrics.jsonl, one line per MetricsMsg plus periodic aggregated snapshots.
import { mkdirSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BusCounters } from '../streams/bus.js';
import type { MetricsMsg } from '../streams/topics.js';
import type { Liveness, MonitorSnapshot } from './views.js';

export const METRICS_LOG = 'metrics.jsonl';

export class RunLogError extends Error {
  override name = 'RunLogError';
}

/** What a snapshot line keeps: the run-level numbers and the actor table, without raw values or chart history. */
export type SnapshotSummary = Pick<MonitorSnapshot, 'now' | 'startedAt' | 'counts' | 'rates' | 'totals' | 'policy' | 'quality' | 'streams'> & {
  actors: { actorId: string; role: string; state: string | null; liveness: Liveness; lastTs: number; messages: number }[];
};

export type LogLine =
  | { kind: 'header'; runId: string; intervalMs: number; ts: number }
  | { kind: 'metrics'; msg: MetricsMsg }
  | { kind: 'snapshot'; ts: number; bus?: BusCounters; summary: SnapshotSummary };

export function summarize(s: MonitorSnapshot): SnapshotSummary {
  return {
    now: s.now,
    startedAt: s.startedAt,
    counts: s.counts,
    rates: s.rates,
    totals: s.totals,
    policy: s.policy,
    quality: s.quality,
    streams: s.streams,
    actors: s.actors.map((a) => ({ actorId: a.actorId, role: a.role, state: a.state, liveness: a.liveness, lastTs: a.lastTs, messages: a.messages })),
  };
}

/** Buffered appends (a run publishes many small messages); flushed at each snapshot and fsynced on close. */
export class RunLog {
  private buffer: string[] = [];
  private bufferedBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly flushBytes: number,
  ) {}

  /** Opens (appending to) <runDir>/metrics.jsonl and writes a header line. */
  static async open(runDir: string, header: { runId: string; intervalMs: number; ts: number }, opts: { flushBytes?: number } = {}): Promise<RunLog> {
    mkdirSync(runDir, { recursive: true });
    const path = join(runDir, METRICS_LOG);
    const log = new RunLog(path, await open(path, 'a'), opts.flushBytes ?? 64 * 1024);
    log.append({ kind: 'header', ...header });
    return log;
  }

  private append(line: LogLine): void {
    if (this.closed) throw new RunLogError(`metrics log ${this.path} is closed`);
    const text = `${JSON.stringify(line)}\n`;
    this.buffer.push(text);
    this.bufferedBytes += text.length;
    if (this.bufferedBytes >= this.flushBytes) void this.flush();
  }

  appendMetrics(msg: MetricsMsg): void {
    this.append({ kind: 'metrics', msg });
  }

  appendSnapshot(snap: MonitorSnapshot, bus?: BusCounters): void {
    this.append({ kind: 'snapshot', ts: snap.now, ...(bus ? { bus } : {}), summary: summarize(snap) });
    void this.flush();
  }

  /** Hands buffered lines to the OS; writes are serialised so lines never interleave. */
  flush(): Promise<void> {
    if (this.buffer.length > 0) {
      const text = this.buffer.join('');
      this.buffer = [];
      this.bufferedBytes = 0;
      this.chain = this.chain.then(async () => {
        if (this.failure) return;
        try {
          await this.fh.write(text);
        } catch (err) {
          // Kept and thrown from close(): a failed write must not stop the run, but must not go unnoticed.
          this.failure = new RunLogError(`cannot write metrics log ${this.path}: ${(err as Error).message}`);
        }
      });
    }
    return this.chain;
  }

  /** Flushes, fsyncs and closes; throws if any write failed. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    try {
      if (!this.failure) await this.fh.sync();
    } finally {
      await this.fh.close();
    }
    if (this.failure) throw this.failure;
  }
}

export interface ParsedRunLog {
  header: Extract<LogLine, { kind: 'header' }> | undefined;
  lines: LogLine[];
  /** Lines that were not valid JSON: at most the last one, cut by a crash, in a healthy log. */
  unreadable: number;
}

export function readRunLog(path: string): ParsedRunLog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RunLogError(`cannot read metrics log ${path}: ${(err as Error).message}`);
  }
  const lines: LogLine[] = [];
  let unreadable = 0;
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      unreadable++;
      continue;
    }
    const kind = (v as { kind?: unknown }).kind;
    if (kind === 'header' || kind === 'metrics' || kind === 'snapshot') lines.push(v as LogLine);
    else unreadable++;
  }
  const header = lines.find((l): l is Extract<LogLine, { kind: 'header' }> => l.kind === 'header');
  return { header, lines, unreadable };
}
