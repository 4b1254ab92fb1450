// A NATS server with its default max_payload (1 MiB, `nats-server -js` as a user starts it): a config whose limit it
// cannot carry is refused at connect, and a bus that meets it after a reconnect sizes every publish, dead letters
// holding a whole poison message included, to the server's limit, so one message cannot stop a consumer.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connect } from 'nats';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import type { DeadLetterMsg } from '../../src/streams/topics.js';
import { config, pair, until } from '../actors/fakes.js';
import { freePort, natsSkip, startNatsServer } from '../helpers/nats_server.js';

const STOCK_MAX_PAYLOAD = 1024 * 1024;

/** `nats-server -js` with no config file: every limit at the server's default. */
async function startStockServer(port: number, storeDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const proc: ChildProcess = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  proc.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  await until(() => /Server is ready/.test(output) || proc.exitCode !== null, 10_000, 'the stock nats-server to start');
  assert.equal(proc.exitCode, null, output);
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

describe('a NATS server with its default max_payload', { skip: natsSkip(), timeout: 120_000 }, () => {
  it('refuses at connect a bus.maxPayloadBytes the server cannot carry, saying what to set', async () => {
    const server = await startStockServer(await freePort(), mkdtempSync(join(tmpdir(), 'rlhf-stock-')));
    try {
      const cfg = config({ bus: { kind: 'nats', servers: [server.url] } }).bus;
      assert.equal(cfg.maxPayloadBytes, 8 * 1024 * 1024, 'the default config');
      await assert.rejects(
        NatsBus.connect(cfg, `stock-${Date.now()}`, { log: () => {} }),
        /accepts messages of at most 1048576 bytes \(its max_payload\), less than bus.maxPayloadBytes 8388608: start the server with `max_payload: 8388608` in its config file \(nats-server -c FILE\), or set bus.maxPayloadBytes=1048576/,
      );
      // At the server's limit the bus connects.
      const fits = await NatsBus.connect({ ...cfg, maxPayloadBytes: STOCK_MAX_PAYLOAD }, `stock-fits-${Date.now()}`, { log: () => {} });
      await fits.destroy();
      await fits.close();
    } finally {
      await server.stop();
    }
  });

  it('after a reconnect to such a server, garbage of the server\'s limit is dead-lettered to fit it and the consumers go on', async () => {
    const port = await freePort();
    const storeDir = mkdtempSync(join(tmpdir(), 'rlhf-stock-'));
    const runId = `limit-${Date.now()}`;
    // The run starts on a server that carries 8 MiB; that server is then replaced by a stock one on the same storage.
    const big = await startNatsServer({ port, storeDir });
    const lines: string[] = [];
    const bus = await NatsBus.connect(config({ bus: { kind: 'nats', servers: [big.url], ackWaitMs: 5000 } }).bus, runId, { log: (l) => lines.push(l) });
    await big.stop();
    const stock = await startStockServer(port, storeDir);
    const nc = await connect({ servers: stock.url });
    try {
      await until(() => (bus.connectionEvents.reconnect ?? 0) >= 1, 30_000, 'the bus to reconnect');
      assert.deepEqual(bus.publishLimit(), { bytes: STOCK_MAX_PAYLOAD, name: `the NATS server's max_payload` });
      const js = nc.jetstream();
      const names = natsNames('rlhf', runId);
      // A plain NATS publish without headers can be exactly max_payload; its letter (payload + reason) cannot.
      const sizes = [STOCK_MAX_PAYLOAD, STOCK_MAX_PAYLOAD - 200];
      for (const topic of ['pairs', 'samples'] as const) for (const n of sizes) await js.publish(names.subject(topic), new Uint8Array(n).fill(0xc1));
      await bus.publish('pairs', pair('after-the-garbage', 0, 0, runId));

      const letters: DeadLetterMsg[] = [];
      const dead = bus.consume('dead', { durable: 'audit' });
      const reading = (async () => {
        for await (const d of dead) {
          letters.push(d.data);
          await d.ack();
        }
      })();
      const delivered: string[] = [];
      const pairs = bus.consume('pairs', { durable: 'learner' });
      const samples = bus.consume('samples', { durable: 'judges' });
      const consuming = [pairs, samples].map(async (sub) => {
        for await (const d of sub) {
          delivered.push((d.data as { pairId?: string }).pairId ?? '');
          await d.ack();
        }
      });
      await until(() => letters.length === 4 && delivered.length === 1, 60_000, `4 dead letters and the valid pair (log: ${lines.join(' | ')})`);
      await pairs.stop();
      await samples.stop();
      await dead.stop();
      await Promise.all([...consuming, reading]);
      assert.deepEqual(delivered, ['after-the-garbage']);
      assert.deepEqual(letters.map((l) => l.topic).sort(), ['pairs', 'pairs', 'samples', 'samples']);
      for (const l of letters) {
        assert.match(l.reason, /payload cut to its first \d+ of (1048576|1048376) bytes to fit the NATS server's max_payload 1048576 with headers/);
        assert.ok(l.payload.length < STOCK_MAX_PAYLOAD - 512, `kept ${l.payload.length} bytes`);
      }
      assert.ok(!lines.some((l) => /MAX_PAYLOAD|failed/.test(l)), lines.join('\n'));
      // A publish over the server's limit is refused by the bus with both limits in mind, not sent to fail there.
      await assert.rejects(bus.publishRaw('pairs', new Uint8Array(STOCK_MAX_PAYLOAD + 1)), /message for pairs is 1048577 bytes, over the NATS server's max_payload 1048576/);
    } finally {
      await nc.close();
      await bus.destroy();
      await bus.close();
      await stock.stop();
    }
  });
});
