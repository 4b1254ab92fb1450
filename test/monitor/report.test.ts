// Metrics log (JSONL, fsynced on close) and the report rebuilt from it: report.md, SVG plots, final table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsAggregator } from '../../src/monitor/aggregator.js';
import { readRunLog, RunLog, METRICS_LOG } from '../../src/monitor/run_log.js';
import { replay, writeReport } from '../../src/monitor/report.js';
import { evaluations } from '../../src/monitor/report_responses.js';
import { responsesWriter, responsesFile, readResponses, latestExamples } from '../../src/monitor/responses_log.js';
import type { EvalResponse } from '../../src/actors/evaluator.js';
import { lineChartSvg, niceTicks } from '../../src/monitor/svg_chart.js';
import { formatStatus, StatusLine } from '../../src/monitor/status_line.js';
import type { MetricsMsg } from '../../src/streams/topics.js';

const msg = (actorId: string, role: string, ts: number, values: Record<string, number>, state = 'running'): MetricsMsg => ({ type: 'metrics', v: 1, runId: 'run-a', actorId, role, ts, values, state });

/** Writes a 30-second log: 5 samples/s from the generator, 1 pair/s, a step every 2 s, with snapshots every 5 s. */
async function writeLog(dir: string): Promise<void> {
  let now = 1_700_000_000_000;
  const agg = new MetricsAggregator({ runId: 'run-a', intervalMs: 1000, now: () => now });
  const log = await RunLog.open(dir, { runId: 'run-a', intervalMs: 1000, ts: now }, { flushBytes: 512 });
  const t0 = now;
  for (let s = 0; s <= 30; s++) {
    now = t0 + s * 1000;
    const ms = [
      msg('gen-0', 'generator', now, { generator_samples_total: 5 * s, generator_tokens_total: 40 * s }),
      msg('judge-0', 'judge', now, { judge_pairs_total: s, judge_score_mean: 0.2 + 0.01 * s }),
      msg('learner-0', 'learner', now, {
        learner_steps_total: Math.floor(s / 2),
        learner_loss: 0.7 - 0.01 * s,
        learner_policy_version: Math.floor(s / 6),
        learner_policy_lag_count: s,
        learner_policy_lag_sum: s,
        learner_policy_lag_bucket_le_0: 0,
        learner_policy_lag_bucket_le_1: s,
      }, s === 30 ? 'stopped' : 'running'),
    ];
    for (const m of ms) {
      agg.ingest(m);
      log.appendMetrics(m);
    }
    if (s % 5 === 0) {
      const bus = { published: { pairs: s }, delivered: { pairs: s }, acked: { pairs: s }, deadLettered: {}, pending: { 'pairs/learner': s % 3 } };
      agg.observeBus(bus);
      log.appendSnapshot(agg.snapshot(), bus);
    }
  }
  await log.close();
}

test('the metrics log round-trips and tolerates a line cut by a crash', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'monitor-log-'));
  try {
    await writeLog(dir);
    const path = join(dir, METRICS_LOG);
    let parsed = readRunLog(path);
    assert.equal(parsed.header?.runId, 'run-a');
    assert.equal(parsed.lines.filter((l) => l.kind === 'metrics').length, 93);
    assert.equal(parsed.lines.filter((l) => l.kind === 'snapshot').length, 7);
    const lastSnap = parsed.lines.filter((l) => l.kind === 'snapshot').at(-1)!;
    assert.equal(lastSnap.kind === 'snapshot' && lastSnap.summary.totals.samples, 150);
    appendFileSync(path, '{"kind":"metrics","msg":{"ty');
    parsed = readRunLog(path);
    assert.equal(parsed.unreadable, 1);
    assert.equal(parsed.lines.length, 101);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('replay rebuilds rates and totals on the log\'s own clock; writeReport writes report.md and SVG plots', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'monitor-report-'));
  try {
    await writeLog(dir);
    const r = replay(readRunLog(join(dir, METRICS_LOG)));
    assert.equal(r.final.totals.samples, 150);
    assert.equal(r.final.totals.steps, 15);
    // Mid-run points see the steady rates: 5 samples/s and 1 pair/s.
    const mid = r.series.t.findIndex((t) => t - r.series.t[0]! >= 15_000);
    assert.equal(r.series.samplesPerSec[mid], 5);
    assert.equal(r.series.pairsPerSec[mid], 1);
    assert.ok(r.series.t.length >= 29 && r.series.t.length <= 32, `points ${r.series.t.length}`);

    const out = writeReport(dir);
    const md = readFileSync(out.reportPath, 'utf8');
    assert.match(md, /^# Run report: run-a/);
    assert.match(md, /\| samples \(total, mean\/s\) \| 150 \(5\/s\) \|/);
    assert.match(md, /\| learner steps \(total, mean\/s\) \| 15 \(0\.5\/s\) \|/);
    assert.match(md, /\| learner-0 \| learner \| stopped \| stopped \|/);
    assert.match(md, /!\[Throughput\]\(throughput\.svg\)/);
    assert.match(md, /KL to reference: no data in this run/);
    assert.match(md, /\| pairs\/learner \| 0 \|/);
    const names = out.plots.map((p) => p.slice(dir.length + 1)).sort();
    assert.deepEqual(names, ['learner_steps.svg', 'loss.svg', 'policy_lag.svg', 'policy_lag_hist.svg', 'queues.svg', 'reward.svg', 'throughput.svg', 'tokens.svg']);
    const svg = readFileSync(join(dir, 'throughput.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(!existsSync(join(dir, 'kl.svg')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SVG line charts break lines at gaps and pick round ticks', () => {
  assert.deepEqual(niceTicks(0, 9.3), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0.12, 0.31, 4), [0.1, 0.15, 0.2, 0.25, 0.3, 0.35]);
  // Ranges below float resolution once looped forever; they are flat and get padded.
  const flat = niceTicks(239.99999999999997, 240);
  assert.ok(flat.length >= 2 && flat.length <= 22 && flat[0]! <= 240 && flat.at(-1)! >= 240, `ticks ${flat}`);
  assert.ok(niceTicks(1e9, 1e9 + 1e-7).length <= 22);
  assert.deepEqual(niceTicks(5, 5), [4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]);
  const svg = lineChartSvg({ title: 'a<b', xLabel: 's', series: [{ name: 'x', points: [[0, 1], [1, 2], [2, null], [3, 1], [4, 3]] }] });
  assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
  assert.match(svg, /a&lt;b/);
  assert.match(lineChartSvg({ title: 't', xLabel: 's', series: [] }), /no data/);
});

test('status line: rewritten in place on a TTY, periodic plain lines otherwise', () => {
  let now = 0;
  const agg = new MetricsAggregator({ intervalMs: 1000, now: () => now });
  for (let s = 0; s <= 4; s++) {
    now = s * 1000;
    agg.ingest(msg('gen-0', 'generator', now, { generator_samples_total: 10 * s }));
    agg.ingest(msg('learner-0', 'learner', now, { learner_steps_total: s, learner_policy_version: 2, learner_loss: 0.5 }));
  }
  const line = formatStatus(agg.snapshot());
  assert.equal(line, '[4s] samples 10/s | pairs 0/s | step 4 | v2 | lag - | score - | loss 0.5 | up 2/2');

  const tty: string[] = [];
  const t = new StatusLine({ isTTY: true, columns: 30, write: (s) => tty.push(s) });
  t.update(agg.snapshot());
  t.update(agg.snapshot());
  t.stop();
  assert.equal(tty.length, 3);
  assert.equal(tty[0], `\r${line.slice(0, 29)}\x1b[K`);
  assert.equal(tty[2], '\n');

  const plain: string[] = [];
  let clock = 0;
  const p = new StatusLine({ write: (s) => plain.push(s) }, { plainEveryMs: 5000, now: () => clock });
  for (clock = 0; clock <= 12_000; clock += 1000) p.update(agg.snapshot());
  p.stop();
  assert.deepEqual(plain, [`${line}\n`, `${line}\n`, `${line}\n`]);
});

test('responses.jsonl: whole evaluations appended; the report tables gold, proxy, win rate and KL per version and shows SFT beside the final answers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'monitor-responses-'));
  try {
    await writeLog(dir);
    const write = responsesWriter(responsesFile(dir));
    const row = (version: number, ts: number, i: number, gold: number, logRatio: number): EvalResponse => ({
      version, step: version * 10, ts, promptId: `p${i}`, prompt: `Prompt ${i} | with a pipe`, response: `answer ${i} of v${version}`, responseTokens: 3 + version,
      gold, proxy: gold * 2, sftResponse: `sft answer ${i}`, sftGold: 0.2, win: gold > 0.2 ? 1 : gold === 0.2 ? 0.5 : 0, logRatio, k3: logRatio / 2,
    });
    await write([0, 1].map((i) => row(0, 1000, i, 0.2, 0)));
    await write([0, 1].map((i) => row(2, 2000, i, 0.3 + 0.2 * i, 1 + i)));
    const rows = readResponses(responsesFile(dir));
    assert.equal(rows.length, 4);
    const ev = evaluations(rows);
    assert.deepEqual(ev.map((e) => [e.version, e.prompts, e.win, e.kl]), [[0, 2, 0.5, 0], [2, 2, 1, 1.5]]);
    assert.ok(Math.abs(ev[1]!.gold - 0.4) < 1e-12 && Math.abs(ev[1]!.proxy - 0.8) < 1e-12);
    const ex = latestExamples(rows, 1)!;
    assert.equal(ex.version, 2);
    assert.deepEqual(ex.examples[0]!.sft, { response: 'sft answer 0', gold: 0.2 });

    const md = readFileSync(writeReport(dir).reportPath, 'utf8');
    assert.match(md, /\| 2 \| 20 \| 2 \| 0\.400 \| 0\.800 \| 1\.000 \| 1\.500 \| 0\.750 \| 5\.0 \|/);
    assert.match(md, /## Responses: SFT and the final policy \(version 2\)/);
    assert.match(md, /\| Prompt 1 \\\| with a pipe \| sft answer 1 \[0\.200\] \| answer 1 of v2 \[0\.500\] \|/);
    assert.match(md, /!\[Gold and proxy reward against KL\]\(gold_vs_kl\.svg\)/);
    assert.ok(existsSync(join(dir, 'gold_vs_kl.svg')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
