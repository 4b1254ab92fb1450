// NATS edge cases a hostile or misconfigured peer can cause: near-limit garbage on work topics, and joining processes
// whose stream settings differ from the run's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, RetentionPolicy, StorageType } from 'nats';
import { NatsBus, natsNames } from '../../src/streams/nats_bus.js';
import type { DeadLetterMsg } from '../../src/streams/topics.js';
import { config, pair } from '../actors/fakes.js';
import { natsServerAvailable, sharedNatsServer } from '../helpers/nats_server.js';

const LIMIT = 16 * 1024;

if (!natsServerAvailable()) {
  describe('NATS hardening', () => {
    it('needs the nats-server binary on PATH; skipped', { skip: 'nats-server not found' }, () => {});
  });
} else {
  describe('NATS hardening', { timeout: 120_000 }, () => {
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
  });
}
