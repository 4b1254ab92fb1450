// One behavioural contract every Bus implementation must pass; each bus's test file runs it with its own factory.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { parseConfig, type BusConfig } from '../../src/config/index.js';
import type { Bus, Delivery, Subscription } from '../../src/streams/bus.js';
import type { RawPublisher } from '../../src/streams/bus_options.js';
import type { PairMsg, PromptMsg, SampleGroupMsg } from '../../src/streams/topics.js';

export type TestBus = Bus & RawPublisher;
/** Builds a bus for a fresh run id; `bus` settings override the defaults. */
export type BusFactory = (bus: Partial<BusConfig>, runId: string) => Promise<TestBus>;

let runCounter = 0;
export const freshRunId = (): string => `t${process.pid}x${Date.now().toString(36)}x${runCounter++}`;

export function busConfig(overrides: Partial<BusConfig> = {}): BusConfig {
  return { ...parseConfig({}).bus, ...overrides };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function prompt(runId: string, i: number): PromptMsg {
  return { type: 'prompt', v: 1, runId, promptId: `p${i}`, epoch: 0, text: `prompt number ${i}`, tokens: [1, 2 + (i % 50), 3], createdAt: 1_700_000_000_000 + i };
}

export function pair(runId: string, i: number, score = 0.5): PairMsg {
  const side = (id: string, s: number) => ({ sampleId: id, responseTokens: [5, 6, 7], text: 'a response', score: s, policyVersion: 0 });
  return {
    type: 'pair', v: 1, runId, pairId: `pair${i}`, promptId: `p${i}`, groupId: `g${i}`, promptTokens: [1, 2],
    chosen: side(`s${i}a`, score), rejected: side(`s${i}b`, -score), judgeId: 'j0', judgeModel: 'rm-v1', margin: 2 * score, createdAt: 1,
  };
}

export function sampleGroup(runId: string, i: number): SampleGroupMsg {
  const s = (k: number) => ({
    runId, sampleId: `s${i}_${k}`, promptId: `p${i}`, policyVersion: 0, generatorId: 'g0', startedAt: 1, createdAt: 2,
    promptTokens: [1, 2], responseTokens: [3, 4, k], text: 'text', finished: true,
  });
  return { type: 'samples', v: 1, runId, groupId: `g${i}`, promptId: `p${i}`, policyVersion: 0, generatorId: 'g0', samples: [s(0), s(1)] };
}

const outstanding = new WeakMap<object, Promise<IteratorResult<unknown>>>();

/**
 * The next delivery, or undefined when none arrives within `ms`. A pull that timed out stays outstanding and is
 * reused by the next call, so a message handed to it is not lost to the test.
 */
export async function nextWithin<T>(it: AsyncIterator<Delivery<T>>, ms: number): Promise<Delivery<T> | undefined> {
  let pull = outstanding.get(it) as Promise<IteratorResult<Delivery<T>>> | undefined;
  if (!pull) {
    pull = it.next();
    outstanding.set(it, pull);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const r = await Promise.race([pull, timeout]);
  clearTimeout(timer);
  if (r === 'timeout') return undefined;
  outstanding.delete(it);
  return r.done ? undefined : r.value;
}

/** Pulls deliveries until `n` arrived (acking each when `ack`), failing after `ms`. */
export async function take<T>(sub: Subscription<T>, n: number, ms: number, ack = true): Promise<Delivery<T>[]> {
  const out: Delivery<T>[] = [];
  const deadline = Date.now() + ms;
  for await (const d of sub) {
    out.push(d);
    if (ack) await d.ack();
    if (out.length >= n) break;
    if (Date.now() > deadline) break;
  }
  assert.equal(out.length, n, `expected ${n} deliveries within ${ms} ms, got ${out.length}`);
  return out;
}

export function busContract(name: string, factory: BusFactory): void {
  describe(`Bus contract: ${name}`, () => {
    const open: TestBus[] = [];
    const make = async (overrides: Partial<BusConfig> = {}): Promise<TestBus> => {
      const bus = await factory(overrides, freshRunId());
      open.push(bus);
      return bus;
    };
    after(async () => {
      for (const b of open) await b.close();
    });

    it('round-trips messages with increasing sequence numbers and counts them', async () => {
      const bus = await make();
      for (let i = 0; i < 5; i++) await bus.publish('prompts', prompt(bus.runId, i));
      const sub = bus.consume('prompts', { durable: 'gen' });
      const got = await take(sub, 5, 5000);
      await sub.stop();
      assert.deepEqual(got.map((d) => d.data), [0, 1, 2, 3, 4].map((i) => prompt(bus.runId, i)));
      assert.ok(got.every((d, i) => i === 0 || d.seq > got[i - 1]!.seq), 'sequence numbers increase');
      assert.ok(got.every((d) => d.deliveries === 1 && d.topic === 'prompts'));
      const c = bus.counters();
      assert.equal(c.published.prompts, 5);
      assert.equal(c.delivered.prompts, 5);
      assert.equal(c.acked.prompts, 5);
    });

    it('redelivers a nak\'ed message, after the requested delay', async () => {
      const bus = await make();
      await bus.publish('pairs', pair(bus.runId, 1));
      const it = bus.consume('pairs', { durable: 'learner', ackWaitMs: 10_000 })[Symbol.asyncIterator]();
      const first = await nextWithin(it, 5000);
      assert.ok(first);
      assert.equal(first.deliveries, 1);
      first.nak();
      const second = await nextWithin(it, 5000);
      assert.ok(second, 'redelivered after nak');
      assert.equal(second.seq, first.seq);
      assert.equal(second.deliveries, 2);
      const t0 = Date.now();
      second.nak(400);
      const third = await nextWithin(it, 5000);
      assert.ok(third);
      assert.ok(Date.now() - t0 >= 300, `nak delay honoured (${Date.now() - t0} ms)`);
      assert.equal(third.deliveries, 3);
      await third.ack();
      assert.equal(await nextWithin(it, 300), undefined, 'nothing left once acked');
      await it.return!();
    });

    it('redelivers a message not acked within ackWaitMs; working() extends the deadline', async () => {
      const bus = await make();
      await bus.publish('pairs', pair(bus.runId, 1));
      await bus.publish('pairs', pair(bus.runId, 2));
      const it = bus.consume('pairs', { durable: 'learner', ackWaitMs: 600, maxAckPending: 10 })[Symbol.asyncIterator]();
      const a = await nextWithin(it, 5000);
      const b = await nextWithin(it, 5000);
      assert.ok(a && b);
      const t0 = Date.now();
      // Keep `b` alive past its ack wait; `a` is left to time out.
      const keepAlive = setInterval(() => b.working(), 200);
      const again = await nextWithin(it, 5000);
      clearInterval(keepAlive);
      assert.ok(again, 'redelivered after the ack wait');
      assert.equal(again.seq, a.seq, 'only the message nobody worked on comes back');
      assert.equal(again.deliveries, 2);
      assert.ok(Date.now() - t0 >= 400, `not before the ack wait (${Date.now() - t0} ms)`);
      await again.ack();
      await b.ack();
      await it.return!();
    });

    it('makes publish wait when a work topic is full, and bounds unacked deliveries by maxAckPending', async () => {
      const bus = await make({ maxPending: 8 });
      let stored = 0;
      const pubs = Array.from({ length: 20 }, (_, i) => bus.publish('samples', sampleGroup(bus.runId, i)).then(() => stored++));
      await sleep(700);
      assert.equal(stored, 8, 'publishes beyond maxPending wait for room');
      const sub = bus.consume('samples', { durable: 'judge', maxAckPending: 3 });
      const it = sub[Symbol.asyncIterator]();
      const held: Delivery<SampleGroupMsg>[] = [];
      for (let i = 0; i < 3; i++) held.push((await nextWithin(it, 5000))!);
      assert.ok(held.every(Boolean));
      assert.equal(await nextWithin(it, 700), undefined, 'no fourth delivery while three are unacked');
      for (const d of held) await d.ack();
      const seen = new Set(held.map((d) => d.data.groupId));
      while (seen.size < 20) {
        const d = await nextWithin(it, 5000);
        assert.ok(d, `delivery ${seen.size + 1} of 20 arrives`);
        seen.add(d.data.groupId);
        await d.ack();
      }
      await Promise.all(pubs);
      assert.equal(stored, 20);
      await it.return!();
    });

    it('dead-letters invalid payloads with a reason and keeps consuming', async () => {
      const bus = await make();
      const raw = new Packr({ useRecords: false, moreTypes: true });
      await bus.publishRaw('pairs', new Uint8Array([0xc1, 0xff, 0x00]));
      await bus.publishRaw('pairs', raw.pack(pair(bus.runId, 7, Number.NaN)));
      await bus.publishRaw('pairs', raw.pack({ ...pair(bus.runId, 8), v: 99 }));
      await bus.publish('pairs', pair(bus.runId, 9));
      const sub = bus.consume('pairs', { durable: 'learner' });
      const [ok] = await take(sub, 1, 5000);
      assert.equal(ok!.data.pairId, 'pair9');
      const dead = bus.consume('dead', { durable: 'monitor' });
      const letters = await take(dead, 3, 5000);
      await sub.stop();
      await dead.stop();
      const reasons = letters.map((d) => d.data.reason);
      assert.ok(letters.every((d) => d.data.topic === 'pairs' && d.data.type === 'dead_letter'));
      assert.match(reasons[0]!, /msgpack/);
      assert.match(reasons[1]!, /pairs\.chosen\.score must be a finite number; got NaN/);
      assert.match(reasons[2]!, /pairs\.v must be 1 .*got 99/);
      assert.deepEqual([...letters[0]!.data.payload], [0xc1, 0xff, 0x00], 'the original bytes travel with the letter');
      assert.equal(bus.counters().deadLettered.pairs, 3);
      // The sender as the bus vouches for it (in-process: the consumer group; NATS: this process's id in the subject).
      const sender = letters[0]!.sender;
      assert.equal(sender, bus.kind === 'inprocess' ? 'learner' : '_');
      assert.ok(letters.every((d) => d.sender === sender));
      assert.deepEqual(await bus.deadLettersBySender!(), { [sender!]: 3 });
    });

    it('dead-letters a message nak\'ed maxDeliver times and moves on', async () => {
      const bus = await make();
      await bus.publish('pairs', pair(bus.runId, 1));
      await bus.publish('pairs', pair(bus.runId, 2));
      const it = bus.consume('pairs', { durable: 'learner', maxDeliver: 3, maxAckPending: 1 })[Symbol.asyncIterator]();
      const deliveries: number[] = [];
      for (;;) {
        const d = await nextWithin(it, 5000);
        assert.ok(d, 'deliveries keep coming');
        if (d.data.pairId === 'pair2') {
          await d.ack();
          break;
        }
        deliveries.push(d.deliveries);
        d.nak();
      }
      assert.deepEqual(deliveries, [1, 2, 3]);
      const [letter] = await take(bus.consume('dead', { durable: 'monitor' }), 1, 5000);
      assert.match(letter!.data.reason, /maxDeliver 3/);
      assert.equal(letter!.data.deliveries, 3);
      assert.equal(bus.counters().deadLettered.pairs, 1);
      await it.return!();
    });

    it('shares one durable between two consumers: every message once', async () => {
      const bus = await make();
      const n = 40;
      for (let i = 0; i < n; i++) await bus.publish('prompts', prompt(bus.runId, i));
      const seen: string[][] = [[], []];
      let total = 0;
      const done = new AbortController();
      const work = async (k: number) => {
        const sub = bus.consume('prompts', { durable: 'gen', maxAckPending: 4 });
        const it = sub[Symbol.asyncIterator]();
        while (total < n && !done.signal.aborted) {
          const d = await nextWithin(it, 300);
          if (!d) continue;
          seen[k]!.push(d.data.promptId);
          total++;
          await sleep(5);
          await d.ack();
        }
        await sub.stop();
      };
      const timer = setTimeout(() => done.abort(), 10_000);
      await Promise.all([work(0), work(1)]);
      clearTimeout(timer);
      const all = [...seen[0]!, ...seen[1]!].sort();
      assert.deepEqual(all, Array.from({ length: n }, (_, i) => `p${i}`).sort(), 'each message exactly once');
      assert.ok(seen[0]!.length > 0 && seen[1]!.length > 0, `both consumers got work (${seen[0]!.length} / ${seen[1]!.length})`);
    });

    it('keeps one producer\'s order, also with many publishes in flight', async () => {
      const bus = await make();
      await Promise.all(Array.from({ length: 200 }, (_, i) => bus.publish('samples', sampleGroup(bus.runId, i))));
      const got = await take(bus.consume('samples', { durable: 'judge', maxAckPending: 1000 }), 200, 10_000);
      assert.deepEqual(got.map((d) => d.data.groupId), Array.from({ length: 200 }, (_, i) => `g${i}`));
    });

    it('stores a retried publish with the same msgId once', async () => {
      const bus = await make();
      await bus.publish('prompts', prompt(bus.runId, 1), { msgId: 'prompt-1' });
      await bus.publish('prompts', prompt(bus.runId, 1), { msgId: 'prompt-1' });
      await bus.publish('prompts', prompt(bus.runId, 2), { msgId: 'prompt-2' });
      const it = bus.consume('prompts', { durable: 'gen' })[Symbol.asyncIterator]();
      const a = await nextWithin(it, 5000);
      const b = await nextWithin(it, 5000);
      await a?.ack();
      await b?.ack();
      assert.deepEqual([a?.data.promptId, b?.data.promptId], ['p1', 'p2']);
      assert.equal(await nextWithin(it, 300), undefined, 'the duplicate was not stored');
      await it.return!();
    });

    it('puts, gets (sha256 checked) and watches weights', async () => {
      const bus = await make();
      assert.equal(await bus.weights.latest(), undefined);
      assert.equal(await bus.weights.get(), undefined);
      const bytes1 = new Uint8Array(300_000).map((_, i) => (i * 7) & 255);
      const meta1 = await bus.weights.put(1, 10, bytes1);
      assert.equal(meta1.sha256, createHash('sha256').update(bytes1).digest('hex'));
      assert.equal(meta1.size, bytes1.length);
      const abort = new AbortController();
      const seen: number[] = [];
      const watching = (async () => {
        for await (const m of bus.weights.watch(abort.signal)) {
          seen.push(m.version);
          if (m.version === 2) break;
        }
      })();
      await sleep(200);
      const bytes2 = new Uint8Array(1000).fill(9);
      await bus.weights.put(2, 20, bytes2);
      await Promise.race([watching, sleep(5000)]);
      abort.abort();
      assert.deepEqual(seen, [1, 2], 'the current version, then the new one');
      assert.equal((await bus.weights.latest())?.version, 2);
      const got1 = await bus.weights.get(1);
      assert.deepEqual(got1?.bytes, bytes1);
      assert.equal(got1?.meta.step, 10);
      const latest = await bus.weights.get();
      assert.deepEqual(latest?.bytes, bytes2);
      assert.equal(await bus.weights.get(99), undefined);
    });

    it('keeps the newest bus.weightsKept versions; an older one reads as undefined, a kept one as stored', async () => {
      const bus = await make({ weightsKept: 2 });
      const bytes = (v: number): Uint8Array => new Uint8Array(200_000 + v).map((_, i) => (i * v) & 255);
      for (let v = 1; v <= 5; v++) await bus.weights.put(v, v * 10, bytes(v));
      for (const v of [1, 2, 3]) assert.equal(await bus.weights.get(v), undefined, `v${v} was dropped`);
      for (const v of [4, 5]) {
        const got = await bus.weights.get(v);
        assert.deepEqual(got?.bytes, bytes(v), `v${v} is kept`);
        assert.equal(got?.meta.step, v * 10);
      }
      assert.equal((await bus.weights.get())?.meta.version, 5);
      assert.equal((await bus.weights.latest())?.version, 5);
    });
  });
}
