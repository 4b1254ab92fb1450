// Bus throughput (publish, consume msgs/s for ~1 KiB messages) and weight-broadcast latency, on both buses.
import { mkdtempSync, rmSync } from 'node:fs';
import { AckPolicy, connect } from 'nats';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type BusConfig } from '../src/config/index.js';
import type { Bus } from '../src/streams/bus.js';
import { createCodec } from '../src/streams/codec.js';
import { InProcessBus } from '../src/streams/inprocess/bus.js';
import { NatsBus } from '../src/streams/nats/bus.js';
import { natsServerAvailable, startNatsServer } from '../src/streams/nats/server.js';
import type { SampleGroupMsg } from '../src/streams/topics.js';

const RUNS = 3;
const SIDE_BY_SIDE_RUNS = 5;
const MESSAGES = 20_000;
const WINDOWS = [64, 512];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A sample group of about 1 KiB encoded: two samples of 40 tokens and a short text each. */
function message(runId: string, i: number): SampleGroupMsg {
  const sample = (k: number) => ({
    runId, sampleId: `s${i}_${k}`, promptId: `p${i}`, policyVersion: 1, generatorId: 'g0', startedAt: 1, createdAt: 2,
    promptTokens: Array.from({ length: 24 }, (_, t) => (t * 31 + i) % 5000),
    responseTokens: Array.from({ length: 40 }, (_, t) => (t * 17 + k) % 5000),
    text: 'the quick brown fox jumps over the lazy dog and keeps running '.repeat(2), finished: true,
  });
  return { type: 'samples', v: 1, runId, groupId: `g${i}`, promptId: `p${i}`, policyVersion: 1, generatorId: 'g0', samples: [sample(0), sample(1)] };
}

/** Publishes `n` messages keeping `window` publishes in flight; returns msgs/s. */
async function publishRate(bus: Bus, n: number, window: number): Promise<number> {
  const msgs = Array.from({ length: n }, (_, i) => message(bus.runId, i));
  const t0 = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) await bus.publish('samples', msgs[next++]!);
  };
  await Promise.all(Array.from({ length: window }, lane));
  return n / ((performance.now() - t0) / 1000);
}

/** Consumes and acks `n` messages; returns msgs/s. */
async function consumeRate(bus: Bus, n: number): Promise<number> {
  const t0 = performance.now();
  let got = 0;
  const sub = bus.consume('samples', { durable: 'bench', maxAckPending: 2048 });
  for await (const d of sub) {
    await d.ack();
    if (++got >= n) break;
  }
  await sub.stop();
  return n / ((performance.now() - t0) / 1000);
}

async function throughput(label: string, make: (cfg: Partial<BusConfig>, runId: string) => Promise<Bus>): Promise<void> {
  for (const window of WINDOWS) {
    const pub: number[] = [];
    const con: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const bus = await make({ maxPending: MESSAGES * 2, publishInFlight: window }, `bench${Date.now().toString(36)}${r}w${window}`);
      pub.push(await publishRate(bus, MESSAGES, window));
      con.push(await consumeRate(bus, MESSAGES));
      await bus.close();
    }
    console.log(`${label.padEnd(10)} ${String(window).padStart(4)} in flight  publish ${median(pub).toFixed(0).padStart(7)} msgs/s  consume ${median(con).toFixed(0).padStart(7)} msgs/s  (median of ${RUNS}, ${MESSAGES} msgs)`);
  }
}

/**
 * The bare `nats` client on the same messages: publish them to a fresh stream, then consume and ack them with a pull
 * consumer (the batch size NatsBus uses), no decoding. Returns consumed msgs/s: the ceiling NatsBus's consume path is
 * measured against.
 */
async function bareConsumeRate(url: string, n: number): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    const name = `BARE${Date.now().toString(36)}`;
    await jsm.streams.add({ name, subjects: [`${name}.x`] });
    const payload = createCodec({ maxPayloadBytes: 1 << 20 }).encode(message('bench', 0));
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      acks.push(js.publish(`${name}.x`, payload));
      if (acks.length >= 512) await Promise.all(acks.splice(0));
    }
    await Promise.all(acks);
    await jsm.consumers.add(name, { durable_name: 'bench', ack_policy: AckPolicy.Explicit, max_ack_pending: 2048 });
    const consumer = await js.consumers.get(name, 'bench');
    const t0 = performance.now();
    const msgs = await consumer.consume({ max_messages: 256, expires: 5000 });
    let got = 0;
    for await (const m of msgs) {
      m.ack();
      if (++got >= n) break;
    }
    msgs.stop();
    const rate = n / ((performance.now() - t0) / 1000);
    await jsm.streams.delete(name);
    return rate;
  } finally {
    await nc.close();
  }
}

/** Time from put() on the learner's bus to get() of verified bytes on a second connection. */
async function weightLatency(label: string, make: () => Promise<[Bus, Bus]>): Promise<void> {
  for (const mib of [4, 40]) {
    const bytes = new Uint8Array(mib * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
    const times: number[] = [];
    const [learner, reader] = await make();
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      const meta = await learner.weights.put(r + 1, r, bytes);
      const blob = await reader.weights.get(meta.version);
      if (!blob || blob.bytes.length !== bytes.length) throw new Error(`weights v${meta.version} did not arrive`);
      times.push(performance.now() - t0);
    }
    await learner.close();
    if (reader !== learner) await reader.close();
    console.log(`${label.padEnd(24)} ${String(mib).padStart(2)} MiB  put+get ${median(times).toFixed(0).padStart(5)} ms  (median of ${RUNS})`);
  }
}

async function main(): Promise<void> {
  const base = parseConfig({}).bus;
  const size = createCodec({ maxPayloadBytes: base.maxPayloadBytes }).encode(message('bench', 0)).length;
  console.log(`streams bench: ${MESSAGES} sample groups of ${size} bytes encoded`);
  await throughput('inprocess', async (o, runId) => new InProcessBus({ ...base, ...o }, runId, { log: () => {} }));
  await weightLatency('inprocess', async () => {
    const b = new InProcessBus(base, `w${Date.now()}`, { log: () => {} });
    return [b, b];
  });
  if (!natsServerAvailable()) {
    console.log('nats: skipped (nats-server not on PATH)');
    return;
  }
  const server = await startNatsServer({ maxPayloadBytes: 8 * 1024 * 1024 });
  const files = mkdtempSync(join(tmpdir(), 'rlhf-weights-'));
  try {
    const nats = (o: Partial<BusConfig>, runId: string): Promise<Bus> =>
      NatsBus.connect({ ...base, ...o, kind: 'nats', servers: [server.url] }, runId, { log: () => {} });
    await throughput('nats', nats);
    // The bus's consume path against the bare client, alternating run by run so both see the same machine.
    const bus: number[] = [];
    const bare: number[] = [];
    for (let r = 0; r < SIDE_BY_SIDE_RUNS; r++) {
      const b = await nats({ maxPending: MESSAGES * 2, publishInFlight: 512 }, `share${Date.now().toString(36)}${r}`);
      await publishRate(b, MESSAGES, 512);
      bus.push(await consumeRate(b, MESSAGES));
      await b.close();
      bare.push(await bareConsumeRate(server.url, MESSAGES));
    }
    const shares = bus.map((x, i) => x / bare[i]!);
    console.log(`${'bare nats'.padEnd(10)} client: consume and ack ${median(bare).toFixed(0).padStart(7)} msgs/s  (median of ${SIDE_BY_SIDE_RUNS}, ${MESSAGES} msgs; no decoding: the ceiling for the bus's consume path)`);
    console.log(`${'nats'.padEnd(10)} bus:    consume and ack ${median(bus).toFixed(0).padStart(7)} msgs/s  (same runs, alternating): ${(100 * median(shares)).toFixed(0)}% of the bare client (median of per-run shares; range ${(100 * Math.min(...shares)).toFixed(0)}-${(100 * Math.max(...shares)).toFixed(0)}%)`);
    const pair = (weightsDir?: string) => async (): Promise<[Bus, Bus]> => {
      const runId = `w${Date.now().toString(36)}`;
      const cfg = { ...base, kind: 'nats' as const, servers: [server.url] };
      const learner = await NatsBus.connect(cfg, runId, { log: () => {}, weightsDir });
      const reader = await NatsBus.connect(cfg, runId, { log: () => {} });
      return [learner, reader];
    };
    await weightLatency('nats object store', pair());
    await weightLatency('nats file fast path', pair(files));
  } finally {
    await server.stop();
    rmSync(files, { recursive: true, force: true });
  }
}

await main();
