// The end-of-run report: replays <run dir>/metrics.jsonl into report.md plus SVG plots, so it can be rebuilt any time.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetricsAggregator } from './aggregator.js';
import type { MonitorSnapshot, SeriesColumns, SeriesKey } from './views.js';
import { METRICS_LOG, readRunLog, RunLogError, type ParsedRunLog } from './run_log.js';
import { responsesSection } from './report_responses.js';
import { barChartSvg, lineChartSvg } from './svg_chart.js';

/** Chart points kept per curve: long runs are sampled more coarsely instead of growing the SVGs. */
const MAX_POINTS = 2000;

export interface ReplayResult {
  aggregator: MetricsAggregator;
  final: MonitorSnapshot;
  series: SeriesColumns;
  messages: number;
  snapshots: number;
}

/** Feeds a log through a fresh aggregator on the log's own clock, sampling the series on a regular grid. */
export function replay(log: ParsedRunLog, intervalMsFallback = 1000): ReplayResult {
  const intervalMs = log.header?.intervalMs ?? intervalMsFallback;
  // A loop, not Math.min(...times): a long run's log has more lines than a call may take arguments.
  let t0 = Number.POSITIVE_INFINITY;
  let t1 = Number.NEGATIVE_INFINITY;
  for (const l of log.lines) {
    const t = l.kind === 'metrics' ? l.msg.ts : l.ts;
    if (t < t0) t0 = t;
    if (t > t1) t1 = t;
  }
  if (!Number.isFinite(t0)) t0 = t1 = 0;
  const step = Math.max(intervalMs, Math.ceil((t1 - t0) / MAX_POINTS));
  let clock = t0;
  const agg = new MetricsAggregator({ runId: log.header?.runId ?? '', intervalMs, historyLength: MAX_POINTS + 2, now: () => clock });
  let nextTick = t0 + step;
  let messages = 0;
  let snapshots = 0;
  const advance = (t: number): void => {
    // Grid points are sampled before the message at `t` is taken: each point sees exactly what had arrived by then.
    while (nextTick <= t) {
      clock = nextTick;
      agg.tick();
      nextTick += step;
    }
    clock = Math.max(clock, t);
  };
  for (const line of log.lines) {
    if (line.kind === 'metrics') {
      advance(line.msg.ts);
      if (agg.ingest(line.msg)) messages++;
    } else if (line.kind === 'snapshot') {
      advance(line.ts);
      snapshots++;
      if (line.bus) agg.observeBus(line.bus);
    }
  }
  clock = t1;
  agg.tick();
  return { aggregator: agg, final: agg.snapshot(), series: agg.seriesColumns(), messages, snapshots };
}

const fmt = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : String(Number(v.toPrecision(digits))));

interface Plot {
  file: string;
  title: string;
  yLabel: string;
  keys: [SeriesKey, string][];
}

const PLOTS: Plot[] = [
  { file: 'throughput.svg', title: 'Throughput', yLabel: 'per second', keys: [['samplesPerSec', 'samples/s'], ['pairsPerSec', 'pairs/s']] },
  { file: 'tokens.svg', title: 'Generated tokens', yLabel: 'tokens/s', keys: [['tokensPerSec', 'tokens/s']] },
  { file: 'learner_steps.svg', title: 'Learner steps', yLabel: 'per second', keys: [['stepsPerSec', 'steps/s'], ['pairsPerStep', 'pairs per step']] },
  { file: 'policy_lag.svg', title: 'Policy lag of trained pairs', yLabel: 'versions', keys: [['policyLagMean', 'mean (window)'], ['policyLagP90', 'p90 (run)'], ['policyVersion', 'policy version']] },
  { file: 'weight_sync.svg', title: 'Weight sync (publish + load)', yLabel: 'ms', keys: [['weightSyncMs', 'sync ms']] },
  { file: 'reward.svg', title: 'Reward', yLabel: 'reward', keys: [['goldReward', 'gold reward (eval)'], ['proxyReward', 'proxy reward (eval)'], ['judgeScore', 'judge score (online)'], ['margin', 'DPO reward margin']] },
  { file: 'kl.svg', title: 'KL to reference', yLabel: 'nats', keys: [['kl', 'KL']] },
  { file: 'loss.svg', title: 'Learner loss and accuracy', yLabel: 'value', keys: [['loss', 'loss'], ['accuracy', 'reward accuracy']] },
  { file: 'queues.svg', title: 'Queues', yLabel: 'messages', keys: [['pendingTotal', 'pending (all consumers)'], ['deadLetters', 'dead letters']] },
];

export interface ReportResult {
  reportPath: string;
  /** SVG files written (paths). */
  plots: string[];
  replay: ReplayResult;
}

/** Reads <runDir>/metrics.jsonl and writes <runDir>/report.md and its SVG plots next to it. */
export function writeReport(runDir: string): ReportResult {
  const log = readRunLog(join(runDir, METRICS_LOG));
  if (!log.lines.some((l) => l.kind === 'metrics')) throw new RunLogError(`metrics log in ${runDir} holds no metrics messages; nothing to report`);
  const r = replay(log);
  const s = r.final;
  const t0 = s.startedAt ?? r.series.t[0] ?? 0;
  const xs = r.series.t.map((t) => (t - t0) / 1000);
  const plots: string[] = [];
  const md: string[] = [];
  const runId = log.header?.runId || s.actors[0]?.actorId || 'run';
  const durationS = (s.now - t0) / 1000;
  md.push(`# Run report: ${runId}`, '');
  md.push(`Built from \`${METRICS_LOG}\`: ${r.messages} metrics messages from ${s.actors.length} actors, ${r.snapshots} snapshots${log.unreadable ? `, ${log.unreadable} unreadable lines skipped` : ''}; ${fmt(durationS, 4)} s of run time.`, '');

  md.push('## Summary', '', '| quantity | value |', '|---|---|');
  const avg = (n: number): string => (durationS > 0 ? fmt(n / durationS) : '-');
  const rows: [string, string][] = [
    ['samples (total, mean/s)', `${s.totals.samples} (${avg(s.totals.samples)}/s)`],
    ['tokens (total, mean/s)', `${s.totals.tokens} (${avg(s.totals.tokens)}/s)`],
    ['pairs (total, mean/s)', `${s.totals.pairs} (${avg(s.totals.pairs)}/s)`],
    ['learner steps (total, mean/s)', `${s.totals.steps} (${avg(s.totals.steps)}/s)`],
    ['pairs per step (run)', s.totals.steps > 0 ? fmt(s.totals.pairs / s.totals.steps) : '-'],
    ['final policy version', fmt(s.policy.version, 6)],
    ['policy lag mean / p50 / p90 / max', s.policy.lag ? `${fmt(s.policy.lag.mean)} / ${fmt(s.policy.lag.p50)} / ${fmt(s.policy.lag.p90)} / ${fmt(s.policy.lag.max)}` : '-'],
    ['weight sync ms (publish + load)', `${fmt(s.policy.weightSyncMs)} (${fmt(s.policy.weightPublishMs)} + ${fmt(s.policy.weightLoadMs)})`],
    ['final loss', fmt(s.quality.loss)],
    ['final reward accuracy', fmt(s.quality.accuracy)],
    ['final DPO reward margin', fmt(s.quality.margin)],
    ['final judge score (online)', fmt(s.quality.judgeScore)],
    ['final proxy reward (eval)', fmt(s.quality.proxyReward)],
    ['final gold reward', fmt(s.quality.goldReward)],
    ['final KL', fmt(s.quality.kl)],
    ['final win rate', fmt(s.quality.winRate)],
    ['dead letters', s.streams.observedAt === null ? '-' : String(s.streams.deadLetters)],
    // Senders as the server bound them to users (the letter's subject), never as a letter says.
    ['dead letters by sender', (s.streams.deadBySender ?? []).map((d) => `${d.sender} ${d.letters}`).join(', ') || '-'],
  ];
  for (const [k, v] of rows) md.push(`| ${k} | ${v} |`);
  md.push('');

  md.push('## Curves', '');
  for (const p of PLOTS) {
    const series = p.keys.map(([key, name]) => ({ name, points: xs.map((x, i): [number, number | null] => [x, r.series[key][i] ?? null]) }));
    if (!series.some((x) => x.points.some((pt) => pt[1] !== null))) {
      md.push(`- ${p.title}: no data in this run`);
      continue;
    }
    const path = join(runDir, p.file);
    writeFileSync(path, lineChartSvg({ title: p.title, xLabel: 'seconds since start', yLabel: p.yLabel, series }));
    plots.push(path);
    md.push(`![${p.title}](${p.file})`, '');
  }
  if (s.policy.lag && s.policy.lag.count > 0) {
    const lag = s.policy.lag;
    // Cumulative buckets to per-bucket counts, plus the overflow bucket.
    const per = lag.cumulative.map((c, i) => c - (i > 0 ? lag.cumulative[i - 1]! : 0));
    const labels = lag.bounds.map((b, i) => (i === 0 ? `<=${b}` : `(${lag.bounds[i - 1]}, ${b}]`));
    per.push(lag.count - (lag.cumulative.at(-1) ?? 0));
    labels.push(`>${lag.bounds.at(-1)}`);
    const path = join(runDir, 'policy_lag_hist.svg');
    writeFileSync(path, barChartSvg({ title: 'Policy lag histogram (whole run)', xLabel: 'versions behind', yLabel: 'pairs', labels, values: per }));
    plots.push(path);
    md.push('![Policy lag histogram](policy_lag_hist.svg)', '');
  }
  md.push('');
  const ev = responsesSection(runDir);
  md.push(...ev.md);
  plots.push(...ev.plots);

  md.push('## Actors', '', '| actor | role | final state | liveness at end | messages | last report (s) | counters |', '|---|---|---|---|---|---|---|');
  for (const a of s.actors) {
    const counters = Object.entries(a.values)
      .filter(([k]) => k.endsWith('_total'))
      .map(([k, v]) => `${k}=${fmt(v, 6)}`)
      .join(', ');
    md.push(`| ${a.actorId} | ${a.role} | ${a.state ?? '-'} | ${a.liveness} | ${a.messages} | ${fmt((a.lastTs - t0) / 1000, 4)} | ${counters || '-'} |`);
  }
  md.push('');
  if (s.streams.observedAt !== null) {
    md.push('## Streams', '', '| topic | published | delivered | acked | dead-lettered |', '|---|---|---|---|---|');
    for (const t of s.streams.topics) md.push(`| ${t.topic} | ${t.published} | ${t.delivered} | ${t.acked} | ${t.deadLettered} |`);
    if (s.streams.consumers.length > 0) {
      md.push('', '| consumer | pending at end |', '|---|---|');
      for (const c of s.streams.consumers) md.push(`| ${c.topic}/${c.durable} | ${c.pending} |`);
    }
    md.push('');
  }
  const reportPath = join(runDir, 'report.md');
  writeFileSync(reportPath, `${md.join('\n')}\n`);
  return { reportPath, plots, replay: r };
}
