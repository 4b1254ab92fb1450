// startMonitor against the in-process bus: the HTTP routes, Server-Sent Events, /metrics, and the metrics log on stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { InProcessBus } from '../../src/streams/inprocess/bus.js';
import { attachMonitor, startMonitor } from '../../src/monitor/index.js';
import { createServer } from 'node:net';
import type { MonitorSnapshot } from '../../src/monitor/views.js';
import { parsePrometheus } from './prom_text.js';
import { syntheticRun } from './synthetic.js';

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** Reads Server-Sent Events from `url` until `count` data events arrived. */
function readEvents(url: string, count: number): Promise<(MonitorSnapshot & { full: boolean })[]> {
  return new Promise((resolve, reject) => {
    const events: (MonitorSnapshot & { full: boolean })[] = [];
    const req = request(url, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream');
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) events.push(JSON.parse(data));
          if (events.length === count) {
            req.destroy();
            resolve(events);
            return;
          }
        }
      });
    });
    req.on('error', (err) => (events.length === count ? undefined : reject(err)));
    req.end();
  });
}

test('dashboard serves the page, uPlot, state, an SSE stream and /metrics while metrics flow; stop writes the log and report', async () => {
  const cfg = parseConfig({ monitor: { intervalMs: 100, port: 0 } });
  const bus = new InProcessBus(cfg.bus, 'dash-test', { log: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'monitor-dash-'));
  const logs: string[] = [];
  const mon = await startMonitor(bus, cfg, { runDir: dir, log: (l) => logs.push(l) });
  const run = syntheticRun(bus);
  try {
    assert.match(mon.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.notEqual(new URL(mon.url).port, '0');
    run.start(100);

    const page = await get(mon.url);
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.body, /<script src="\/assets\/uPlot\.iife\.min\.js"><\/script>/);
    assert.match(page.body, /id="actors"/);
    const js = await get(`${mon.url}assets/uPlot.iife.min.js`);
    assert.equal(js.status, 200);
    assert.match(js.body, /uPlot/);
    assert.equal((await get(`${mon.url}assets/uPlot.min.css`)).status, 200);
    assert.equal((await get(`${mon.url}nope`)).status, 404);

    const events = await readEvents(`${mon.url}api/stream`, 4);
    assert.equal(events[0]!.full, true);
    assert.ok(events.slice(1).every((e) => !e.full));
    // Later events carry only new series points (so the joined times increase strictly), and the totals grow.
    const times = events.flatMap((e) => e.series!.t);
    assert.ok(times.length >= 2 && times.every((t, i) => i === 0 || t > times[i - 1]!), `series times ${times}`);
    assert.ok(events[3]!.totals.samples > events[0]!.totals.samples, `samples ${events[0]!.totals.samples} -> ${events[3]!.totals.samples}`);

    const state = JSON.parse((await get(`${mon.url}api/state`)).body) as MonitorSnapshot;
    assert.equal(state.runId, 'dash-test');
    assert.deepEqual(state.actors.map((a) => a.actorId), ['eval-0', 'gen-0', 'gen-1', 'judge-0', 'learner-0']);
    assert.ok(state.actors.every((a) => a.liveness === 'alive'));
    // 24 samples per round every 100 ms is 240/s; timers jitter, so a loose band.
    assert.ok(state.rates.samplesPerSec > 120 && state.rates.samplesPerSec < 360, `samples/s ${state.rates.samplesPerSec}`);
    assert.ok(state.series!.t.length >= 2);
    assert.ok(state.streams.consumers.some((c) => c.topic === 'metrics' && c.durable === 'monitor'));

    const prom = await get(`${mon.url}metrics`);
    assert.equal(prom.status, 200);
    const p = parsePrometheus(prom.body);
    assert.equal(p.type.get('generator_samples_total'), 'counter');
    assert.ok(p.samples.some((s) => s.name === 'monitor_samples_per_second' && s.value > 0));
    assert.ok(p.samples.some((s) => s.name === 'learner_policy_lag_bucket' && s.labels['le'] === '+Inf'));
  } finally {
    await run.stop();
    await mon.stop();
    await bus.close();
  }
  try {
    // Every round published before stop reached the log (stop drains the consumer first).
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string });
    assert.equal(lines.filter((l) => l.kind === 'metrics').length, 5 * run.rounds());
    assert.ok(lines.some((l) => l.kind === 'snapshot'));
    assert.ok(existsSync(join(dir, 'report.md')) && existsSync(join(dir, 'throughput.svg')));
    assert.ok(logs.some((l) => l.includes('report written')));
    await assert.rejects(fetch(mon.url), 'the server is closed after stop');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

test('attachMonitor without the dashboard: status lines, and /metrics alone on monitor.metricsPort', async () => {
  const port = await freePort();
  const cfg = parseConfig({ monitor: { intervalMs: 50, metricsPort: port, statusEveryMs: 100 } });
  const bus = new InProcessBus(cfg.bus, 'attach-test', { log: () => {} });
  const lines: string[] = [];
  const mon = await attachMonitor(bus, cfg, { statusLine: { write: (t) => lines.push(t) } });
  const run = syntheticRun(bus);
  try {
    assert.equal(mon.url, undefined);
    assert.equal(mon.metricsUrl, `http://127.0.0.1:${port}/metrics`);
    run.start(50);
    await new Promise((r) => setTimeout(r, 600));
    const prom = await get(mon.metricsUrl!);
    assert.equal(prom.status, 200);
    assert.ok(parsePrometheus(prom.body).samples.some((x) => x.name === 'judge_pairs_total' && x.value > 0));
    assert.equal((await get(`http://127.0.0.1:${port}/`)).status, 404);
  } finally {
    await run.stop();
    await mon.stop();
    await bus.close();
  }
  // Plain lines (no TTY), at most one per statusEveryMs, and the last ones show the run moving.
  assert.ok(lines.length >= 3 && lines.length <= 9, `${lines.length} lines`);
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.includes('\r')));
  assert.match(lines.at(-1)!, /^\[\d+s\] samples [\d.]+\/s \| pairs [\d.]+\/s \| step [1-9]\d* \| v\d+ /);
});
