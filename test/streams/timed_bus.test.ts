// The timed bus is transparent (the whole Bus contract holds through it) and counts the calls made through it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InProcessBus } from '../../src/streams/inprocess/bus.js';
import { TimedBus } from '../../src/streams/timed_bus.js';
import { busConfig, busContract, prompt } from './contract.js';

busContract('timed inprocess', async (overrides, runId) => {
  const inner = new InProcessBus(busConfig(overrides), runId, { log: () => {} });
  // publishRaw (bad payloads on the wire) is a test hook of the inner bus, not part of Bus.
  return Object.assign(new TimedBus(inner), { publishRaw: inner.publishRaw.bind(inner) });
});

test('timed bus: publish, ack and nak each count once; waiting for messages does not count', async () => {
  const bus = new TimedBus(new InProcessBus(busConfig(), 'timed', { log: () => {} }));
  try {
    for (let i = 0; i < 3; i++) await bus.publish('prompts', prompt('timed', i));
    assert.equal(bus.calls, 3);
    const sub = bus.consume('prompts', { durable: 't', maxAckPending: 8 });
    let seen = 0;
    for await (const d of sub) {
      if (seen++ === 0) d.nak();
      else await d.ack();
      if (seen === 4) break;
    }
    await sub.stop();
    assert.equal(bus.calls, 3 + 4);
    assert.ok(bus.callSeconds > 0 && bus.callSeconds < 5, `callSeconds ${bus.callSeconds}`);
    assert.ok(bus.busySeconds > 0 && bus.busySeconds <= bus.callSeconds + 1e-9, `busySeconds ${bus.busySeconds}`);
    await bus.weights.put(1, 0, new Uint8Array([1, 2, 3]));
    assert.deepEqual((await bus.weights.get(1))?.bytes, new Uint8Array([1, 2, 3]));
    assert.equal(bus.calls, 3 + 4 + 2);
  } finally {
    await bus.close();
  }
});

test('timed bus: concurrent calls add up in callSeconds but count once in busySeconds', async () => {
  const inner = new InProcessBus(busConfig(), 'timed-overlap', { log: () => {} });
  // Every publish takes 50 ms; ten run at once.
  const slow = Object.assign(Object.create(inner) as InProcessBus, {
    publish: async (...a: Parameters<InProcessBus['publish']>) => {
      await new Promise((r) => setTimeout(r, 50));
      return inner.publish(...a);
    },
  });
  const bus = new TimedBus(slow);
  try {
    await Promise.all(Array.from({ length: 10 }, (_, i) => bus.publish('prompts', prompt('timed-overlap', i))));
    assert.equal(bus.calls, 10);
    assert.ok(bus.callSeconds >= 0.45, `callSeconds ${bus.callSeconds}: ten calls of 50 ms`);
    assert.ok(bus.busySeconds >= 0.045 && bus.busySeconds < 0.3, `busySeconds ${bus.busySeconds}: one 50 ms span`);
  } finally {
    await inner.close();
  }
});
