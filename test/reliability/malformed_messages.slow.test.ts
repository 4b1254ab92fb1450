// Malformed and hostile messages injected into every topic while a cluster runs, on the in-process bus and on NATS:
// each is dead-lettered with its reason and counted, nothing else is, and the run still completes its totalSteps.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startLocalCluster } from '../../src/run/local_cluster.js';
import type { Config } from '../../src/config/index.js';
import { attachMonitor } from '../../src/monitor/index.js';
import type { Bus } from '../../src/streams/bus.js';
import type { RawPublisher } from '../../src/streams/bus_options.js';
import { InProcessBus } from '../../src/streams/inprocess/bus.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import { TOPIC_RETENTION } from '../../src/streams/policy.js';
import type { DeadLetterMsg } from '../../src/streams/topics.js';
import { natsSkip, sharedNatsServer } from '../helpers/nats_server.js';
import { config, decode, FakeLearnerPort, FakePolicy, FakeScorer, prompts, until, VOCAB } from '../actors/fakes.js';
import { hostileMessages, pack, prototypeFingerprint, semanticallyBad, validPair, type Hostile } from './hostile.js';

const MAX_PAYLOAD = 64 * 1024;
const TOTAL_STEPS = 16;

function clusterConfig(bus: Record<string, unknown>): Config {
  return config({
    // maxPending bounds every work topic, so injected messages queue behind a few real ones, not the whole budget.
    bus: { maxPayloadBytes: MAX_PAYLOAD, ackWaitMs: 5000, maxPending: 24, ...bus },
    run: { mode: 'streaming', prompts: 400 },
    generator: { count: 1, samplesPerPrompt: 4, promptsPerBatch: 2, maxNewTokens: 6, maxBacklog: 8 },
    learner: { batchSize: 4, publishEvery: 2, checkpointEvery: 2, totalSteps: TOTAL_STEPS, maxPolicyLag: 1000 },
    monitor: { intervalMs: 100 },
  });
}

/** Near the limit: garbage that fits bus.maxPayloadBytes, so its dead letter (payload + reason) would not. */
function nearLimit(): Hostile[] {
  // Published with a msgId header like every bus publish, which the stream's max_msg_size counts: 128 bytes spare.
  const bytes = new Uint8Array(MAX_PAYLOAD - 128).fill(0xc1);
  return [{ topic: 'pairs', name: 'pairs: near-limit garbage', bytes, reason: new RegExp(`not valid msgpack.*payload cut to its first \\d+ of ${MAX_PAYLOAD - 128} bytes`) }];
}

const total = (r: Record<string, number>): number => Object.values(r).reduce((s, x) => s + x, 0);
const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

interface Scenario {
  bus: Bus;
  injector: RawPublisher;
  /** Extra faults the scenario adds mid-run (e.g. a corrupt weights KV entry); returns their expected letters. */
  extra?: () => Promise<Hostile[]>;
}

/** Runs a streaming cluster with fake ports, injects every fault after the second step, and checks the outcome. */
async function injectDuringRun(cfg: Config, s: Scenario, faults: Hostile[]): Promise<void> {
  const proto0 = prototypeFingerprint();
  const { bus } = s;
  const letters: DeadLetterMsg[] = [];
  const deadSub = bus.consume('dead', { durable: 'audit' });
  const deadLoop = (async () => {
    for await (const d of deadSub) {
      letters.push(d.data);
      await d.ack();
    }
  })();
  // Nothing in the cluster reads the weights topic (actors follow the weight store); an auditor does, as an operator's tool would.
  const weightsSub = bus.consume('weights', { durable: 'audit' });
  let weightsSeen = 0;
  const weightsLoop = (async () => {
    for await (const d of weightsSub) {
      weightsSeen++;
      await d.ack();
    }
  })();
  const monitor = await attachMonitor(bus, cfg, { log: () => {}, drainMs: 200 });
  // Work-topic faults go in as the run starts: queued behind the source's prompts mid-run, a fault could wait for room
  // until the learner reached totalSteps and the run ended. Broadcast-topic faults never wait; they go in mid-run.
  const work = faults.filter((f) => TOPIC_RETENTION[f.topic] === 'work');
  for (const f of work) await s.injector.publishRaw(f.topic, f.bytes);
  const policy = new FakePolicy(1);
  const port = new FakeLearnerPort(25);
  const cluster = await startLocalCluster(cfg, bus, { policy: () => policy, scorer: () => new FakeScorer(), learner: port, decode }, {
    prompts: prompts(400),
    checkpointDir: `reliability-${bus.runId}`,
  });
  let expected = faults;
  try {
    await until(() => cluster.learner.step >= 2, 10_000, 'the second learner step');
    for (const f of faults.filter((x) => TOPIC_RETENTION[x.topic] === 'broadcast')) await s.injector.publishRaw(f.topic, f.bytes);
    if (s.extra) expected = [...faults, ...(await s.extra())];
    const wanted = expected.length;
    let finished = false;
    cluster.done.then(() => (finished = true), () => (finished = true));
    await until(() => letters.length >= wanted || finished, 20_000, 'the dead letters');
    // The run goes on; if it ended first, the letters still missing are reported by the checks below.
    await until(() => letters.length >= wanted, 5_000, `${wanted} dead letters (got ${letters.length}: ${letters.map((l) => l.reason.slice(0, 60)).join(' | ')})`);
    const summary = await cluster.done;
    assert.equal(summary.steps, TOTAL_STEPS, 'the run completed its totalSteps');
    assert.ok(summary.version >= TOTAL_STEPS / 2, `versions kept being published (version ${summary.version})`);
    assert.ok(policy.loads.length > 0, 'the generator kept loading new versions');
    assert.ok(weightsSeen > 0, 'the weights auditor kept reading');
  } finally {
    await cluster.stop().catch(() => undefined);
    await monitor.stop();
    await deadSub.stop();
    await weightsSub.stop();
    await Promise.all([deadLoop, weightsLoop]);
  }

  // Every fault became exactly one letter naming its reason and carrying its bytes (or their prefix); nothing else did.
  assert.equal(letters.length, expected.length, letters.map((l) => `${l.topic}: ${l.reason}`).join('\n'));
  const unmatched = [...letters];
  for (const f of expected) {
    const i = unmatched.findIndex((l) => l.topic === f.topic && f.reason.test(l.reason) && (same(l.payload, f.bytes) || same(l.payload, f.bytes.subarray(0, l.payload.length))));
    assert.ok(i >= 0, `no dead letter for ${f.name} (want ${f.reason}); letters on ${f.topic}: ${unmatched.filter((l) => l.topic === f.topic).map((l) => l.reason).join(' | ')}`);
    assert.equal(unmatched[i]!.runId, bus.runId);
    unmatched.splice(i, 1);
  }
  const byTopic: Record<string, number> = {};
  for (const f of expected) byTopic[f.topic] = (byTopic[f.topic] ?? 0) + 1;
  assert.deepEqual(bus.counters().deadLettered, byTopic, 'bus.counters().deadLettered counts each fault on its topic');
  // The run's own traffic was never dead-lettered, and the learner trained only real pairs.
  const trained = port.trained.flatMap((t) => t.pairIds);
  assert.ok(trained.every((id) => id.startsWith('p:g:q')), `only real pairs were trained; got ${trained.filter((id) => !id.startsWith('p:g:q')).join(', ')}`);
  assert.equal(new Set(trained).size, trained.length, 'no pair was trained twice');
  assert.equal(prototypeFingerprint(), proto0, 'Object.prototype is unchanged');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
}

describe('malformed messages on the in-process bus', () => {
  it('every malformed or hostile message on every topic is dead-lettered with its reason; the run completes', async () => {
    const cfg = clusterConfig({});
    const bus = new InProcessBus(cfg.bus, 'malformed-inproc', { log: () => {}, schema: { vocabSize: VOCAB } });
    try {
      const faults = [...hostileMessages(bus.runId, VOCAB), ...semanticallyBad(bus.runId), ...nearLimit()];
      await injectDuringRun(cfg, { bus, injector: bus }, faults);
    } finally {
      await bus.close();
    }
  });

  it('an oversized message is refused at publish with the limit named, before any consumer decodes it', async () => {
    const cfg = clusterConfig({});
    const bus = new InProcessBus(cfg.bus, 'oversized-inproc', { log: () => {} });
    try {
      for (const topic of ['prompts', 'samples', 'pairs', 'weights', 'metrics'] as const) {
        await assert.rejects(bus.publishRaw(topic, new Uint8Array(MAX_PAYLOAD + 1)), new RegExp(`message for ${topic} is ${MAX_PAYLOAD + 1} bytes, over bus.maxPayloadBytes ${MAX_PAYLOAD}`));
      }
      const huge = validPair(bus.runId, 'huge');
      huge.chosen.text = 'x'.repeat(MAX_PAYLOAD);
      await assert.rejects(bus.publish('pairs', huge), /over bus.maxPayloadBytes 65536/);
      assert.equal(total(bus.counters().published), 0);
    } finally {
      await bus.close();
    }
  });
});

describe('malformed messages over NATS', { skip: natsSkip() }, () => {
  const server = sharedNatsServer();

  it('faults from a second connection on every topic, an oversized message and a corrupt weights KV entry are dead-lettered; the run completes', async () => {
    const runId = `malformed-nats-${Date.now()}`;
    const cfg = clusterConfig({ kind: 'nats', servers: [server.url] });
    const bus = await NatsBus.connect(cfg.bus, runId, { log: () => {}, schema: { vocabSize: VOCAB } });
    // A foreign producer with a larger limit, on a samples stream whose max_msg_size was raised: its oversized message
    // is stored and reaches the run's consumers, whose decoder must refuse it on size alone.
    const bigCfg = clusterConfig({ kind: 'nats', servers: [server.url], maxPayloadBytes: 4 * MAX_PAYLOAD });
    const injector = await NatsBus.connect(bigCfg.bus, runId, { log: () => {} });
    // Joining processes never change an existing stream, so the operator's hand raises the samples stream's limit.
    const samplesStream = natsNames(cfg.bus.prefix, runId).stream('samples');
    const info = await injector.jsm.streams.info(samplesStream);
    await injector.jsm.streams.update(samplesStream, { ...info.config, max_msg_size: 4 * MAX_PAYLOAD });
    const oversized: Hostile = { topic: 'samples', name: 'samples: oversized', bytes: pack({ junk: 'x'.repeat(MAX_PAYLOAD + 100) }), reason: new RegExp(`message is \\d+ bytes, over bus.maxPayloadBytes ${MAX_PAYLOAD}.*payload cut`) };
    const badKv = new Uint8Array([0xc1, 0xc1, 0xc1]);
    try {
      const faults = [...hostileMessages(runId, VOCAB), ...semanticallyBad(runId), ...nearLimit(), oversized];
      await injectDuringRun(cfg, {
        bus,
        injector,
        extra: async () => {
          const kv = await injector.js.views.kv(natsNames(cfg.bus.prefix, runId).weightsBucket);
          await kv.put('latest', badKv);
          return [{ topic: 'weights', name: 'weights KV: garbage under latest', bytes: badKv, reason: /weights announcement in KV key latest \(revision \d+\) is invalid: message is not valid msgpack/ }];
        },
      }, faults);
    } finally {
      await injector.destroy();
      await injector.close();
      await bus.close();
    }
  });
});
