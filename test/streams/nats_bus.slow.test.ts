// Runs the Bus contract against NATS JetStream on a local nats-server, plus what only a real server can show.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BusError } from '../../src/streams/bus.js';
import { createCodec } from '../../src/streams/codec.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import { isTransient } from '../../src/run/resilient_bus.js';
import { WeightPutError, weightsPutTimeoutMs } from '../../src/streams/nats/weight_store.js';
import { natsSkip, sharedNatsServer, startNatsServer } from '../helpers/nats_server.js';
import { busConfig, busContract, freshRunId, nextWithin, prompt, sampleGroup, sleep } from './contract.js';

describe('NATS bus', { skip: natsSkip() }, () => {
  const server = sharedNatsServer();

  busContract('nats', (overrides, runId) =>
    NatsBus.connect(busConfig({ ...overrides, kind: 'nats', servers: [server.url] }), runId, { log: () => {} }),
  );

  describe('NATS bus only', () => {
    it('keeps a Float32Array a Float32Array across the wire', async () => {
      const bus = await NatsBus.connect(busConfig({ kind: 'nats', servers: [server.url] }), freshRunId(), { log: () => {} });
      const codec = createCodec({ maxPayloadBytes: 1 << 20 });
      const sub = bus.nc.subscribe('codec.check', { max: 1 });
      bus.nc.publish('codec.check', codec.encode({ w: new Float32Array([0.5, -1.25, 1e-3]) }));
      for await (const m of sub) {
        const back = codec.decode(m.data) as { w: Float32Array };
        assert.ok(back.w instanceof Float32Array);
        assert.deepEqual([...back.w], [...new Float32Array([0.5, -1.25, 1e-3])]);
      }
      await bus.close();
    });

    it('weights: old versions leave the object store and the same-host folder; a reader elsewhere gets a kept one', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rlhf-weights-'));
      const runId = freshRunId();
      const writer = await NatsBus.connect(busConfig({ kind: 'nats', servers: [server.url], weightsKept: 2 }), runId, { log: () => {}, weightsDir: dir });
      const reader = await NatsBus.connect(busConfig({ kind: 'nats', servers: [server.url] }), runId, { log: () => {} });
      try {
        const bytes = (v: number): Uint8Array => new Uint8Array(300_000).fill(v);
        for (let v = 1; v <= 4; v++) await writer.weights.put(v, v, bytes(v));
        assert.deepEqual(readdirSync(dir).sort(), [`${runId}-v3.bin`, `${runId}-v4.bin`]);
        const os = await writer.js.views.os(natsNames('rlhf', runId).weightsBucket);
        assert.deepEqual((await os.list()).map((o) => o.name).sort(), ['v3', 'v4']);
        assert.deepEqual((await reader.weights.get(3))?.bytes, bytes(3), 'read from the same-host file');
        assert.equal(await reader.weights.get(2), undefined);
        // Another host: the file is not there, the object store has the bytes.
        rmSync(join(dir, `${runId}-v4.bin`));
        assert.deepEqual((await reader.weights.get())?.bytes, bytes(4), 'read from the object store');
      } finally {
        await reader.close();
        await writer.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('weights: the put timeout grows with the size; a failed put names the version, size, bucket and setting', async () => {
      assert.equal(weightsPutTimeoutMs(0, 1000), 5_000);
      assert.equal(weightsPutTimeoutMs(500 * 2 ** 20, 1000), 5_000 + 500_000);
      assert.equal(weightsPutTimeoutMs(2 ** 20 / 2, 3), 5_002);
      const runId = freshRunId();
      // An object store too small for the blob, created before the bus adopts it: the server refuses the chunks.
      const admin = await NatsBus.connect(busConfig({ kind: 'nats', servers: [server.url] }), freshRunId(), { log: () => {} });
      await admin.js.views.os(natsNames('rlhf', runId).weightsBucket, { max_bytes: 100_000 });
      await admin.close();
      const bus = await NatsBus.connect(busConfig({ kind: 'nats', servers: [server.url] }), runId, { log: () => {} });
      try {
        await assert.rejects(bus.weights.put(1, 1, new Uint8Array(300_000)), (e: unknown) => {
          assert.ok(e instanceof WeightPutError, String(e));
          assert.match(e.message, /^storing weights v1 \(0\.3 MiB\) in object store \S+ failed after [\d.]+ s \(allowed 5\.3 s = 5 s \+ bus\.weightsPutMsPerMiB 1000 ms per MiB\): 503 \(maximum bytes exceeded\)$/);
          assert.equal(e.code, undefined, 'a full store is not retried as a transient failure');
          assert.equal(isTransient(e), false);
          return true;
        });
        assert.equal(await bus.weights.latest(), undefined, 'nothing announced');
      } finally {
        await bus.close();
      }
    });

    it('refuses a client without the token with a clear error, and admits one with it', async () => {
      const secured = await startNatsServer({ auth: { token: 's3cret' } });
      try {
        await assert.rejects(
          NatsBus.connect(busConfig({ kind: 'nats', servers: [secured.url] }), freshRunId(), { log: () => {} }),
          (e: unknown) => e instanceof BusError && /refused the connection: authorization violation; set bus.token/.test(e.message),
        );
        const ok = await NatsBus.connect(busConfig({ kind: 'nats', servers: [secured.url], token: 's3cret' }), freshRunId(), { log: () => {} });
        await ok.publish('prompts', prompt(ok.runId, 1));
        await ok.close();
      } finally {
        await secured.stop();
      }
    });

    it('names a missing server clearly', async () => {
      const gone = await startNatsServer();
      const url = gone.url;
      await gone.stop();
      await assert.rejects(
        NatsBus.connect(busConfig({ kind: 'nats', servers: [url] }), freshRunId(), { log: () => {} }),
        (e: unknown) => e instanceof BusError && /cannot reach a NATS server at nats:\/\/127\.0\.0\.1:\d+/.test(e.message),
      );
    });

    it('survives a server kill -9 and restart on the same storage: clients reconnect, no stored message is lost', async () => {
      const crashy = await startNatsServer();
      const events: string[] = [];
      const bus = await NatsBus.connect(busConfig({ kind: 'nats', servers: [crashy.url], ackWaitMs: 2000 }), freshRunId(), { log: (l) => events.push(l) });
      try {
        const stored = new Set<string>();
        for (let i = 0; i < 30; i++) {
          await bus.publish('samples', sampleGroup(bus.runId, i));
          stored.add(`g${i}`);
        }
        const it = bus.consume('samples', { durable: 'judge', maxAckPending: 8 })[Symbol.asyncIterator]();
        const seen = new Set<string>();
        for (let i = 0; i < 10; i++) {
          const d = await nextWithin(it, 5000);
          assert.ok(d);
          seen.add(d.data.groupId);
          await d.ack();
        }
        crashy.kill9();
        await sleep(300);
        // Published while the server is down: resolves once the server is back and has stored it.
        const during = (async () => {
          for (let i = 30; i < 40; i++) {
            await bus.publish('samples', sampleGroup(bus.runId, i));
            stored.add(`g${i}`);
          }
        })();
        await sleep(500);
        await crashy.restart();
        await during;
        const deadline = Date.now() + 20_000;
        while (seen.size < stored.size && Date.now() < deadline) {
          const d = await nextWithin(it, 1000);
          if (!d) continue;
          seen.add(d.data.groupId);
          await d.ack();
        }
        assert.deepEqual([...seen].sort(), [...stored].sort(), 'every stored message delivered after the restart');
        assert.ok((bus.connectionEvents.disconnect ?? 0) >= 1 && (bus.connectionEvents.reconnect ?? 0) >= 1, `reconnected: ${JSON.stringify(bus.connectionEvents)}`);
        await it.return!();
      } finally {
        await bus.close();
        await crashy.stop();
      }
    });
  });
});
