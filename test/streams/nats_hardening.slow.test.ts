// NATS edge cases a hostile or misconfigured peer can cause: near-limit garbage on work topics, and joining processes
// whose stream settings differ from the run's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, RetentionPolicy, StorageType } from 'nats';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { attachMonitor } from '../../src/monitor/index.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import type { MetricsMsg } from '../../src/streams/topics.js';
import type { DeadLetterMsg } from '../../src/streams/topics.js';
import { config, pair, until } from '../actors/fakes.js';
import { natsSkip, sharedNatsServer } from '../helpers/nats_server.js';

const LIMIT = 16 * 1024;

describe('NATS hardening', { skip: natsSkip(), timeout: 120_000 }, () => {
  const server = sharedNatsServer();
  const busCfg = (over: Record<string, unknown> = {}) => config({ bus: { kind: 'nats', servers: [server.url], maxPayloadBytes: LIMIT, ackWaitMs: 2000, ...over } }).bus;

  for (const topic of ['pairs', 'samples'] as const) {
    it(`near-limit garbage on ${topic}, pulled in one batch, is dead-lettered with each message's own reason`, async () => {
      const runId = `near-${topic}-${Date.now()}`;
      const lines: string[] = [];
      const bus = await NatsBus.connect(busCfg(), runId, { log: (l) => lines.push(l) });
      // A foreign client publishing plain NATS messages (no msgId header): each fits the stream's max_msg_size exactly.
      const nc = await connect({ servers: server.url });
      try {
        const subject = natsNames('rlhf', runId).subject(topic);
        const garbage = [new Uint8Array(LIMIT - 8).fill(0xc1), new Uint8Array(LIMIT - 8).fill(0x91), new Uint8Array(LIMIT - 60).fill(0xc1)];
        const js = nc.jetstream();
        for (const g of garbage) await js.publish(subject, g);
        // A valid message after the garbage must still be delivered.
        if (topic === 'pairs') await bus.publish('pairs', pair('ok', 0, 0, runId));
        const sub = bus.consume(topic, { durable: topic === 'pairs' ? 'learner' : 'judges' });
        const dead = bus.consume('dead', { durable: 'audit' });
        const letters: DeadLetterMsg[] = [];
        const reading = (async () => {
          for await (const d of dead) {
            letters.push(d.data);
            await d.ack();
            if (letters.length === garbage.length) break;
          }
        })();
        const delivered: string[] = [];
        const consuming = (async () => {
          for await (const d of sub) {
            delivered.push((d.data as { pairId: string }).pairId);
            await d.ack();
          }
        })();
        await reading;
        if (topic === 'pairs') while (delivered.length === 0) await new Promise((r) => setTimeout(r, 20));
        await sub.stop();
        await consuming;
        assert.deepEqual(delivered, topic === 'pairs' ? ['ok'] : []);
        assert.equal(letters.length, 3);
        for (const l of letters) {
          assert.equal(l.topic, topic);
          assert.equal(l.deliveries, 1, 'dead-lettered on first delivery, not after redeliveries');
          assert.doesNotMatch(l.reason, /not acked within/);
          assert.match(l.reason, /msgpack|must be a map|got/);
        }
        assert.match(letters.map((l) => l.reason).join('\n'), /payload cut to its first \d+ of 16376 bytes/);
        assert.equal(bus.counters().deadLettered[topic], 3);
        assert.ok(!lines.some((l) => /MAX_PAYLOAD|failed/.test(l)), lines.join('\n'));
      } finally {
        await nc.close();
        await bus.destroy();
        await bus.close();
      }
    });
  }

  it('a process with other settings adopts the existing streams and never changes them', async () => {
    const runId = `adopt-${Date.now()}`;
    const first = await NatsBus.connect(busCfg({ maxPending: 100, duplicateWindowMs: 60_000 }), runId, { log: () => {} });
    const lines: string[] = [];
    const second = await NatsBus.connect(busCfg({ maxPending: 7, maxPayloadBytes: 2 * LIMIT, duplicateWindowMs: 5_000 }), runId, { log: (l) => lines.push(l) });
    try {
      const info = await first.jsm.streams.info(natsNames('rlhf', runId).stream('pairs'));
      assert.equal(info.config.max_msgs, 100);
      assert.equal(info.config.max_msg_size, LIMIT);
      assert.equal(info.config.duplicate_window, 60_000 * 1e6);
      assert.ok(lines.some((l) => /using stream RLHF_adopt-\d+_PAIRS as it exists: max_msgs 100 \(here 7\)/.test(l)), lines.join('\n'));
    } finally {
      await second.close();
      await first.destroy();
      await first.close();
    }
  });

  it('a process asking for more replicas than a stream has, or another retention, is refused with the difference named', async () => {
    const runId = `refuse-${Date.now()}`;
    const first = await NatsBus.connect(busCfg(), runId, { log: () => {} });
    try {
      await assert.rejects(NatsBus.connect(busCfg({ replicas: 3 }), runId, { log: () => {} }), /stream RLHF_refuse-\d+_PROMPTS exists with 1 replica\(s\), and bus.replicas=3 asks for more \(set bus.replicas=1/);
      // A stream made by someone else under the run's name, with limits retention where a work queue belongs.
      const other = `other-${Date.now()}`;
      const names = natsNames('rlhf', other);
      await first.jsm.streams.add({ name: names.stream('prompts'), subjects: [names.subject('prompts')], retention: RetentionPolicy.Limits, storage: StorageType.File });
      await assert.rejects(NatsBus.connect(busCfg(), other, { log: () => {} }), /stream RLHF_other-\d+_PROMPTS exists with retention limits, this process expects workqueue/);
      await first.jsm.streams.delete(names.stream('prompts'));
    } finally {
      await first.destroy();
      await first.close();
    }
  });
  it('a metrics message under another actor id, or with an absurd value, is dead-lettered and never reaches the run record', async () => {
    const runId = `ident-${Date.now()}`;
    const cfg = config({ bus: { kind: 'nats', servers: [server.url], maxPayloadBytes: LIMIT }, monitor: { intervalMs: 100 } });
    const bus = await NatsBus.connect(cfg.bus, runId, { log: () => {} });
    const intruder = await NatsBus.connect(cfg.bus, runId, { log: () => {} });
    const nc = await connect({ servers: server.url });
    const monitor = await attachMonitor(bus, cfg, { statusLine: false, log: () => {} });
    try {
      const m = (actorId: string, v: number): MetricsMsg => ({ type: 'metrics', v: 1, runId, actorId, role: 'generator', ts: Date.now(), values: { generator_samples_total: v } });
      await bus.publish('metrics', m('generator-0', 5));
      // Schema-valid, but published on generator-0's subject by a client claiming to be ghost-1.
      await nc.jetstream().publish(natsNames('rlhf', runId).metricsSubject('generator-0'), intruder.encode(m('ghost-1', 1)));
      // On the bare metrics subject (the old protocol): no stream holds it any more.
      await assert.rejects(nc.jetstream().publish(`rlhf.${runId}.metrics`, intruder.encode(m('ghost-2', 1))), /no responders|503/i);
      // Under its own id but with a value no run produces.
      await intruder.publishRaw('metrics', intruder.encode(m('ghost-3', 1e300)), { actorId: 'ghost-3' });
      await until(() => (bus.counters().deadLettered.metrics ?? 0) === 2, 5000, 'two metrics dead letters');
      const snap = monitor.aggregator.snapshot();
      assert.deepEqual(snap.actors.map((a) => a.actorId), ['generator-0']);
      await until(() => monitor.aggregator.snapshot().streams.deadLetters === 2, 5000, 'dead letters in the status');
    } finally {
      await monitor.stop();
      await nc.close();
      await intruder.close();
      await bus.destroy();
      await bus.close();
    }
  });

  it('the status counts dead letters of every process, read from the dead stream', async () => {
    const runId = `deadcount-${Date.now()}`;
    const cfg = config({ bus: { kind: 'nats', servers: [server.url], maxPayloadBytes: LIMIT }, monitor: { intervalMs: 100 } });
    const watcher = await NatsBus.connect(cfg.bus, runId, { log: () => {} });
    const worker = await NatsBus.connect(cfg.bus, runId, { log: () => {} });
    const monitor = await attachMonitor(watcher, cfg, { statusLine: false, log: () => {} });
    try {
      for (let i = 0; i < 3; i++) await worker.sendDeadLetter('samples', `bad ${i}`, 1, new Uint8Array([i]));
      assert.equal(watcher.counters().deadLettered.samples ?? 0, 0, 'the watching process wrote none itself');
      await until(() => monitor.aggregator.snapshot().streams.deadLetters === 3, 5000, 'three dead letters seen by the monitor');
    } finally {
      await monitor.stop();
      await worker.close();
      await watcher.destroy();
      await watcher.close();
    }
  });

  it('the same-host weights file is announced by absolute path; a reader without it says so and uses the object store', async () => {
    const runId = `wfile-${Date.now()}`;
    const dir = mkdtempSync(join(tmpdir(), 'rlhf-wfile-'));
    const cwd = process.cwd();
    process.chdir(dir);
    const lines: string[] = [];
    let writer: NatsBus | undefined;
    let reader: NatsBus | undefined;
    try {
      writer = await NatsBus.connect(busCfg(), runId, { log: () => {}, weightsDir: 'weights' });
      const meta = await writer.weights.put(1, 1, new Uint8Array([1, 2, 3]));
      assert.ok(meta.file && isAbsolute(meta.file), `announced file ${meta.file}`);
      assert.equal(meta.file, join(dir, 'weights', `${runId}-v1.bin`));
      process.chdir(cwd);
      reader = await NatsBus.connect(busCfg(), runId, { log: (l) => lines.push(l) });
      assert.deepEqual([...(await reader.weights.get())!.bytes], [1, 2, 3]);
      assert.deepEqual(lines, [], 'read from the file, nothing to say');
      rmSync(meta.file);
      assert.ok(!existsSync(meta.file));
      assert.deepEqual([...(await reader.weights.get())!.bytes], [1, 2, 3]);
      assert.equal(lines.filter((l) => /weights v1: file .* is not on this host; reading the object store instead/.test(l)).length, 1, lines.join('\n'));
    } finally {
      process.chdir(cwd);
      await reader?.close();
      await writer?.destroy();
      await writer?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
