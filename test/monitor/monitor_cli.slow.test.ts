// `rlhf-stream monitor` against a real nats-server: attaches to a run's metrics, serves the dashboard, writes a report on Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/index.js';
import { createBus } from '../../src/streams/index.js';
import { natsSkip, startNatsServer } from '../helpers/nats_server.js';
import type { MonitorSnapshot } from '../../src/monitor/views.js';
import { syntheticRun } from './synthetic.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('monitor command attaches to a NATS run and serves its state', { skip: natsSkip(), timeout: 60_000 }, async () => {
  const server = await startNatsServer();
  const cfg = parseConfig({ bus: { kind: 'nats', servers: [server.url] } });
  const bus = await createBus(cfg.bus, 'cli-run', { log: () => {} });
  const run = syntheticRun(bus);
  const dir = mkdtempSync(join(tmpdir(), 'monitor-cli-'));
  const child = spawn(process.execPath, [MAIN, 'monitor', '--nats', server.url, '--run', 'cli-run', '--port', '0', '--dir', dir, '--set', 'monitor.intervalMs=200'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    // Metrics published before the monitor attached are replayed from the stream; later ones arrive live.
    await run.round();
    run.start(200);
    const deadline = Date.now() + 20_000;
    let url: string | undefined;
    while (!url && Date.now() < deadline) {
      url = /dashboard: (http:\/\/\S+\/)/.exec(out)?.[1];
      if (!url) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(url, `no dashboard url printed; stdout ${out}; stderr ${err}`);
    let state: MonitorSnapshot | undefined;
    while (Date.now() < deadline) {
      state = (await (await fetch(`${url}api/state`)).json()) as MonitorSnapshot;
      if (state.actors.length === 5 && state.rates.samplesPerSec > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state!.runId, 'cli-run');
    assert.equal(state!.actors.length, 5);
    assert.ok(state!.rates.samplesPerSec > 0);
    const prom = await (await fetch(`${url}metrics`)).text();
    assert.match(prom, /^generator_samples_total\{actor="gen-0",role="generator"\} \d+$/m);
    await run.stop();
    child.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running 15 s after SIGINT'), 15_000)))]);
    clearTimeout(timer);
    assert.equal(code, 0, `monitor exit: ${code}; stderr: ${err}`);
    const log = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    // Every round, including the one published before the monitor started, reached the log.
    assert.ok(log.split('\n').filter((l) => l.includes('"kind":"metrics"')).length >= 5 * run.rounds() - 5);
    assert.ok(existsSync(join(dir, 'report.md')));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await run.stop();
    await bus.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
