// Live monitoring of a run: consume the 'metrics' topic, aggregate, log to metrics.jsonl, print a status line, serve the dashboard.
import type { Config } from '../config/index.js';
import type { Bus, Subscription } from '../streams/bus.js';
import type { MetricsMsg } from '../streams/topics.js';
import { MetricsAggregator } from './aggregator.js';
import { metricsProblem } from './metric_names.js';
import { serveDashboard, serveMetricsOnly, type DashboardServer } from './dashboard.js';
import type { LabelHandler } from './label_routes.js';
import { PrometheusExporter } from './prometheus.js';
import { writeReport } from './report.js';
import { latestExamplesReader, responsesFile } from './responses_log.js';
import { RunLog } from './run_log.js';
import { StatusLine, type StatusOutput } from './status_line.js';

export { MetricsAggregator } from './aggregator.js';
export { SERIES_KEYS } from './views.js';
export type { MonitorSnapshot, SeriesColumns, ActorView, Liveness } from './views.js';
export { PrometheusExporter } from './prometheus.js';
export { serveDashboard, serveMetricsOnly } from './dashboard.js';
export { RunLog, readRunLog, METRICS_LOG } from './run_log.js';
export { writeReport, replay } from './report.js';
export { StatusLine, formatStatus } from './status_line.js';

/** Held-out prompts the dashboard shows answered by SFT and by the latest evaluated version. */
const DASHBOARD_EXAMPLES = 6;

export interface MonitorOptions {
  /** Override cfg.monitor.host / cfg.monitor.port. */
  host?: string;
  port?: number;
  /** Durable consumer name on the metrics topic (default 'monitor'). */
  durable?: string;
  /** Folder of the run: metrics.jsonl is written there, and report.md on stop. */
  runDir?: string;
  /** Write report.md and plots on stop (default: true when runDir is set). */
  report?: boolean;
  /** Where the live status line goes; false (default) for none. */
  statusLine?: StatusOutput | false;
  /** Period of aggregated snapshots in metrics.jsonl (default 10 intervals). */
  snapshotEveryMs?: number;
  /** How long stop() waits for metrics already published to arrive (default 2 s). */
  drainMs?: number;
  log?: (line: string) => void;
  /** Serve the labelling page (judge.human): see label_routes.ts. */
  labels?: LabelHandler;
}

export interface MonitorSession {
  aggregator: MetricsAggregator;
  exporter: PrometheusExporter;
  /** Set when the dashboard is served. */
  url: string | undefined;
  /** Set when monitor.metricsPort serves /metrics on its own port. */
  metricsUrl: string | undefined;
  /** Stops consuming, writes the last snapshot, closes the log (fsync), writes the report, closes the server. */
  stop(): Promise<void>;
}

/** The subset of the config the monitor reads. */
export type MonitorConfig = Pick<Config, 'monitor'>;

async function consumeLoop(sub: Subscription<MetricsMsg>, agg: MetricsAggregator, log: RunLog | undefined): Promise<void> {
  for await (const d of sub) {
    const problem = metricsProblem(d.data);
    if (problem !== undefined) {
      // Counted, and kept out of the aggregate and the run log: the dead letter holds it with the reason.
      agg.refused++;
      await d.deadLetter(`metrics from ${d.data.actorId} refused: ${problem}`);
      continue;
    }
    agg.ingest(d.data);
    log?.appendMetrics(d.data);
    await d.ack();
  }
}

/** Aggregation, log and status line without the web server (what `run` uses when the dashboard is off). */
export async function attachMonitor(bus: Bus, cfg: MonitorConfig, opts: MonitorOptions & { serve?: boolean } = {}): Promise<MonitorSession> {
  const intervalMs = cfg.monitor.intervalMs;
  const say = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const aggregator = new MetricsAggregator({ runId: bus.runId, intervalMs, windowMs: Math.max(cfg.monitor.windowMs, 2 * intervalMs), historyLength: cfg.monitor.historyPoints });
  const exporter = new PrometheusExporter(aggregator);
  const runLog = opts.runDir ? await RunLog.open(opts.runDir, { runId: bus.runId, intervalMs, ts: Date.now() }) : undefined;
  const durable = opts.durable ?? 'monitor';
  const sub = bus.consume('metrics', { durable });
  let failure: Error | undefined;
  const loop = consumeLoop(sub, aggregator, runLog).catch((err: unknown) => {
    failure = err as Error;
    say(`monitor: the metrics consumer stopped: ${failure.message}`);
  });

  const status = opts.statusLine ? new StatusLine(opts.statusLine, { plainEveryMs: cfg.monitor.statusEveryMs }) : undefined;
  const snapshotEveryMs = opts.snapshotEveryMs ?? 10 * intervalMs;
  let lastSnapshot = Number.NEGATIVE_INFINITY;
  const sample = (forceLog: boolean): void => {
    const counters = { ...bus.counters(), ...(deadStored === undefined ? {} : { deadStored }), ...(deadBySender === undefined ? {} : { deadBySender }) };
    aggregator.observeBus(counters);
    aggregator.tick();
    const snap = aggregator.snapshot();
    status?.update(snap);
    if (runLog && (forceLog || snap.now - lastSnapshot >= snapshotEveryMs)) {
      runLog.appendSnapshot(snap, counters);
      lastSnapshot = snap.now;
    }
  };
  // Dead letters of every process, read from the server (NATS): the bus's own counters see only this process's.
  let deadStored: number | undefined;
  // By sender: the publisher's id the server binds to its user (the letter's subject), so no role can pass for another.
  let deadBySender: Record<string, number> | undefined;
  let deadPollError = '';
  const pollDead = async (): Promise<void> => {
    try {
      if (bus.deadLettersBySender) deadBySender = await bus.deadLettersBySender();
      if (!bus.deadLettersStored) return;
      deadStored = await bus.deadLettersStored();
      deadPollError = '';
    } catch (err) {
      const m = (err as Error).message;
      if (m !== deadPollError) say(`monitor: cannot read the dead-letter count from the server: ${m}`);
      deadPollError = m;
    }
  };
  await pollDead();
  const timer = setInterval(() => {
    void pollDead();
    sample(false);
  }, intervalMs);
  timer.unref();

  let server: DashboardServer | undefined;
  let metricsServer: DashboardServer | undefined;
  const host = opts.host ?? cfg.monitor.host;
  try {
    if (opts.serve) {
      const responses = opts.runDir ? latestExamplesReader(responsesFile(opts.runDir), DASHBOARD_EXAMPLES) : undefined;
      server = await serveDashboard(aggregator, { host, port: opts.port ?? cfg.monitor.port, exporter, pushMs: Math.min(1000, intervalMs), ...(responses ? { responses } : {}), ...(opts.labels ? { labels: opts.labels } : {}) });
    }
    if (cfg.monitor.metricsPort > 0) metricsServer = await serveMetricsOnly(exporter, host, cfg.monitor.metricsPort);
  } catch (err) {
    clearInterval(timer);
    await server?.close();
    await sub.stop();
    await loop;
    await runLog?.close();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    // Metrics published just before stop (actors' final reports) are still waiting for this consumer: let them in.
    const deadline = Date.now() + (opts.drainMs ?? 2000);
    while (!failure && (bus.counters().pending[`metrics/${durable}`] ?? 0) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await sub.stop();
    await loop;
    await pollDead();
    sample(true);
    status?.stop();
    const errors: Error[] = failure ? [failure] : [];
    try {
      await runLog?.close();
      if (runLog && opts.runDir && (opts.report ?? true) && aggregator.snapshot().actors.length === 0) {
        say(`monitor: no metrics arrived; no report written`);
      } else if (runLog && opts.runDir && (opts.report ?? true)) {
        const r = writeReport(opts.runDir);
        say(`monitor: report written to ${r.reportPath} (${r.plots.length} plots)`);
      }
    } catch (err) {
      errors.push(err as Error);
    }
    await server?.close();
    await metricsServer?.close();
    if (errors.length > 0) throw errors[0];
  };
  return {
    aggregator,
    exporter,
    url: server?.url,
    metricsUrl: metricsServer?.url,
    stop: () => (stopped ??= stop()),
  };
}

/** The monitor with its dashboard: `rlhf-stream monitor`, or `run --dashboard` in-process. */
export async function startMonitor(bus: Bus, cfg: MonitorConfig, opts: MonitorOptions = {}): Promise<{ url: string; stop(): Promise<void>; aggregator: MetricsAggregator }> {
  const s = await attachMonitor(bus, cfg, { ...opts, serve: true });
  return { url: s.url!, stop: s.stop, aggregator: s.aggregator };
}
