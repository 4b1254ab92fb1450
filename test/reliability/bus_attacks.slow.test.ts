// Hostile participants holding a role's own `nats-config` credentials, against a real nats-server: the reply-subject
// trick from every role into every stream and control key, reading others' replies, rewriting a durable, pre-empting
// another producer's msgIds. Each is refused or has no effect: the run finishes and every pair is trained once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { connect, nanos, type NatsConnection } from 'nats';
import { Generator } from '../../src/actors/generator.js';
import { Judge } from '../../src/actors/judge.js';
import { Learner } from '../../src/actors/learner.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { attachMonitor } from '../../src/monitor/index.js';
import type { ScorerPort } from '../../src/actors/ports.js';
import { PromptSource } from '../../src/actors/prompt_source.js';
import { systemClock } from '../../src/clock.js';
import { generatorOptions, judgeOptions, learnerOptions, sourceOptions } from '../../src/run/actor_options.js';
import { NatsRunControl } from '../../src/run/run_control.js';
import { ensureRunConsumers } from '../../src/run/run_consumers.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import { authorizationBlock, controlBucketOf, inboxPrefixOf, rolePermissions, runUsers, type PermissionUser } from '../../src/streams/nats/permissions.js';
import { TOPIC_NAMES, type MetricsMsg, type TopicName } from '../../src/streams/topics.js';
import { natsSkip, startNatsServer, type NatsServerHandle } from '../helpers/nats_server.js';
import { config, decode, FakeLearnerPort, FakePolicy, prompts } from '../actors/fakes.js';

const RUN = 'attacks';
const PROMPTS = 12;
const users: PermissionUser[] = runUsers(2, 2).map((u) => ({ ...u, password: randomBytes(12).toString('hex') }));
const names = natsNames('rlhf', RUN);
const CONTROL = controlBucketOf('rlhf', RUN);
const WEIGHTS = names.weightsBucket;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Every subject a reply could be aimed at: each topic's subject, each control key, the weights keys and objects. */
const TARGETS = [
  ...TOPIC_NAMES.filter((t) => t !== 'metrics' && t !== 'dead').map((t) => names.subject(t)),
  names.deadSubject('learner'),
  names.deadSubject('judge-0'),
  names.metricsSubject('learner'),
  names.metricsSubject('generator-0'),
  ...['end', 'phase', 'source', 'info', 'tokenizer'].map((k) => `$KV.${CONTROL}.${k}`),
  `$KV.${WEIGHTS}.latest`,
  `$KV.${WEIGHTS}.v1`,
  `$O.${WEIGHTS}.M.djE=`,
];

/** Distinct scores for every response: no ties, so every group makes exactly one pair. */
class RankScorer implements ScorerPort {
  readonly modelId = 'rank';
  async score(_prompt: number[], responses: number[][]): Promise<number[]> {
    return responses.map((_, i) => i);
  }
  async close(): Promise<void> {}
}

describe('hostile participants with their own role credentials', { skip: natsSkip(), timeout: 180_000 }, () => {
  let server: NatsServerHandle;
  let admin: NatsBus;
  const lines: string[] = [];
  const buses: NatsBus[] = [];
  const conns: NatsConnection[] = [];
  const cfg = config({
    bus: { kind: 'nats', servers: ['nats://127.0.0.1:1'], ackWaitMs: 3000 },
    run: { mode: 'streaming', prompts: PROMPTS },
    generator: { count: 1, samplesPerPrompt: 2, promptsPerBatch: 2, maxNewTokens: 4 },
    judge: { count: 1, batchSize: 4 },
    learner: { batchSize: 2, publishEvery: 1, checkpointEvery: 1, totalSteps: 1000, maxPolicyLag: 1000 },
  });
  const user = (id: string): PermissionUser => users.find((u) => u.actorId === id)!;
  const busAs = async (id: string): Promise<NatsBus> => {
    const bus = await NatsBus.connect({ ...cfg.bus, servers: [server.url], user: id, pass: user(id).password! }, RUN, { log: (l) => lines.push(`${id}: ${l}`) });
    buses.push(bus);
    return bus;
  };
  const raw = async (id: string): Promise<NatsConnection> => {
    const nc = await connect({ servers: server.url, user: id, pass: user(id).password!, inboxPrefix: inboxPrefixOf(id) });
    conns.push(nc);
    return nc;
  };
  /** Every message a stream holds now, with its subject. */
  const stored = async (topic: TopicName): Promise<{ subject: string; data: Uint8Array }[]> => {
    const st = (await admin.jsm.streams.info(names.stream(topic))).state;
    const out: { subject: string; data: Uint8Array }[] = [];
    for (let seq = st.first_seq; seq <= st.last_seq && st.messages > 0; seq++) {
      const m = await admin.jsm.streams.getMessage(names.stream(topic), { seq }).catch(() => undefined);
      if (m) out.push({ subject: m.subject, data: m.data });
    }
    return out;
  };

  it('the server starts with the generated users; the admin creates the run and its durables', async () => {
    server = await startNatsServer({ extraConfig: authorizationBlock('rlhf', RUN, users) });
    admin = await NatsBus.connect({ ...cfg.bus, servers: [server.url], user: 'admin', pass: user('admin').password! }, RUN, { log: (l) => lines.push(`admin: ${l}`) });
    await NatsRunControl.open(admin);
    await ensureRunConsumers(admin, cfg);
  });

  it('no role reads replies meant for another user', async () => {
    for (const u of users.filter((x) => x.role !== 'admin')) {
      const nc = await raw(u.actorId);
      const sub = nc.subscribe('_INBOX.>');
      await assert.rejects((async () => {
        for await (const _ of sub) break;
      })(), /permissions violation/i, `${u.actorId} subscribes to _INBOX.>`);
      const other = u.actorId === 'learner' ? 'judge-0' : 'learner';
      await assert.rejects((async () => {
        for await (const _ of nc.subscribe(`${inboxPrefixOf(other)}.>`)) break;
      })(), /permissions violation/i, `${u.actorId} subscribes to ${other}'s inbox`);
    }
  });

  it('no role creates, changes or deletes a consumer', async () => {
    for (const u of users.filter((x) => x.role !== 'admin')) {
      const jsm = await (await raw(u.actorId)).jetstreamManager({ checkAPI: false });
      await assert.rejects(jsm.consumers.update(names.stream('prompts'), 'generators', { ack_wait: nanos(1000), max_ack_pending: 1, max_deliver: 1 }), /permissions violation/i, `${u.actorId} rewrites the generators durable`);
      await assert.rejects(jsm.consumers.add(`KV_${WEIGHTS}`, { deliver_subject: `$KV.${CONTROL}.end`, ack_policy: 'none' as never }), /permissions violation/i, `${u.actorId} creates a push consumer on the weights`);
      await assert.rejects(jsm.consumers.delete(names.stream('pairs'), 'learner'), /permissions violation/i, `${u.actorId} deletes the learner's durable`);
    }
    const info = await admin.jsm.consumers.info(names.stream('prompts'), 'generators');
    assert.equal(info.config.ack_wait, nanos(cfg.bus.ackWaitMs));
    assert.notEqual(info.config.max_ack_pending, 1);
  });

  it('a run with pre-empted msgIds and the reply trick aimed at its end finishes, every pair trained once', async () => {
    const port = new FakeLearnerPort();
    const lb = await busAs('learner');
    const learner = new Learner({ bus: lb, port, clock: systemClock, metrics: new MetricsRegistry() }, learnerOptions(cfg, 'learner', `ck-attacks-${Date.now()}`));
    const gb = await busAs('generator-0');
    const generator = new Generator({ bus: gb, policy: new FakePolicy(), decode, clock: systemClock, metrics: new MetricsRegistry() }, generatorOptions(cfg, 'generator-0'));
    const jb = await busAs('judge-0');
    const judge = new Judge({ bus: jb, scorer: new RankScorer(), clock: systemClock, metrics: new MetricsRegistry() }, judgeOptions(cfg, 'judge-0'));
    const sb = await busAs('source');
    const source = new PromptSource({ bus: sb, clock: systemClock, metrics: new MetricsRegistry() }, sourceOptions(cfg, prompts(PROMPTS)));

    // A hostile generator and judge publish garbage under every group's and pair's msgId before the real ones exist.
    const evilGen = (await raw('generator-1')).jetstream();
    const evilJudge = (await raw('judge-1')).jetstream();
    for (let i = 0; i < PROMPTS; i++) {
      const ack = await evilGen.publish(names.subject('samples'), new Uint8Array([0xc1]), { msgID: `g:q${i}:0` });
      assert.equal(ack.duplicate, false);
      await evilJudge.publish(names.subject('pairs'), new Uint8Array([0xc1]), { msgID: `p:g:q${i}:0` });
    }
    // While the run goes, the hostile generator keeps aiming server replies at the run's end.
    const evil = await raw('generator-1');
    let attacking = true;
    const attack = (async () => {
      while (attacking) {
        evil.publish(`$JS.API.STREAM.MSG.GET.KV_${CONTROL}`, JSON.stringify({ last_by_subj: `$KV.${CONTROL}.source` }), { reply: `$KV.${CONTROL}.end` });
        evil.publish(`$JS.API.STREAM.INFO.KV_${CONTROL}`, '', { reply: `$KV.${CONTROL}.end` });
        await sleep(20);
      }
    })();

    const control = await NatsRunControl.open(lb);
    await learner.init();
    learner.start();
    generator.start();
    judge.start();
    source.start();
    const want = Array.from({ length: PROMPTS }, (_, i) => `p:g:q${i}:0`).sort();
    const trained = (): string[] => port.trained.flatMap((t) => t.pairIds);
    const t0 = Date.now();
    while (new Set(trained()).size < PROMPTS) {
      assert.equal(await control.end(), undefined, 'the run is not ended by a relayed reply');
      assert.ok(Date.now() - t0 < 60_000, `the run stalled: ${new Set(trained()).size} of ${PROMPTS} pairs trained\n${lines.filter((l) => !/refused control key/.test(l)).slice(-30).join('\n')}`);
      await sleep(100);
    }
    // A moment more: nothing is trained twice.
    await sleep(1500);
    attacking = false;
    await attack;
    await control.markEnd({ state: 'done', reason: 'drained', steps: port.steps, version: learner.version, learnerId: 'learner', ts: Date.now() });
    assert.equal((await control.end())?.learnerId, 'learner', "the learner's own end record is read");
    assert.deepEqual([...trained()].sort(), want, 'every prompt made one pair, trained once');
    assert.equal(gb.republished.samples, PROMPTS, 'each pre-empted group was stored again under a fresh msgId');
    assert.equal(jb.republished.pairs, PROMPTS, 'each pre-empted pair was stored again under a fresh msgId');
    assert.ok(lines.some((l) => /answered "duplicate", but the stored message/.test(l)));
    await Promise.all([source.stop(), generator.stop(), judge.stop(), learner.stop()]);
  });

  it("no role's metrics pass for another's: other roles' names, a role its id does not name and out-of-range values are refused and counted", async () => {
    const mb = await busAs('monitor');
    const session = await attachMonitor(mb, cfg, { durable: 'monitor-cli', log: (l) => lines.push(`monitor: ${l}`) });
    const g = await busAs('generator-1');
    const m = (role: string, values: Record<string, number>): MetricsMsg => ({ type: 'metrics', v: 1, runId: RUN, actorId: 'generator-1', role, ts: Date.now(), values });
    await assert.rejects(g.publish('metrics', { ...m('learner', { learner_steps_total: 1 }), actorId: 'learner' }), /permissions violation/i, 'under the learner\'s id');
    await g.publish('metrics', m('generator', { learner_pairs_trained_total: 1e12 }));
    await g.publish('metrics', m('learner', { learner_pairs_trained_total: 1 }));
    await g.publish('metrics', m('generator', { generator_samples_total: -5 }));
    await g.publish('metrics', m('generator', { generator_samples_total: 3 }));
    const t0 = Date.now();
    while (session.aggregator.refused + session.aggregator.snapshot().actors.length < 4 && Date.now() - t0 < 10_000) await sleep(50);
    const snap = session.aggregator.snapshot();
    assert.equal(session.aggregator.refused, 3);
    assert.deepEqual(snap.actors.map((a) => a.actorId), ['generator-1'], 'only the honest message reached the aggregate');
    const reasons = (await stored('dead')).map((x) => admin.decodeFor('dead', x.data)).filter((d) => d.ok).map((d) => (d.value as { reason: string }).reason);
    for (const why of [/learner_pairs_trained_total is not a generator metric/, /reports as role learner; its id makes it a generator/, /generator_samples_total = -5 is outside \[0, 1000000000000\]/]) {
      assert.ok(reasons.some((r) => why.test(r)), `a dead letter says ${why}`);
    }
    await session.stop();
  });

  it('the reply trick, from every role through every call it may make into every stream and key, writes nothing that passes for a record', async () => {
    // A run in progress: weights v1, a phase and a source record, prompts, samples and pairs waiting.
    const learner = await busAs('learner');
    await learner.weights.put(1, 1, new Uint8Array([7, 7, 7]));
    const lc = await NatsRunControl.open(learner);
    const phase = { completed: 1, iterations: 3, version: 1, ts: Date.now() };
    await lc.setPhase(phase);
    const legit = new Set<string>();
    const source = await busAs('source');
    const gen = await busAs('generator-0');
    for (let i = 0; i < 3; i++) {
      const p = { type: 'prompt' as const, v: 1 as const, runId: RUN, promptId: `r${i}`, epoch: 0, text: 'x', tokens: [1, 2], createdAt: Date.now() };
      await source.publish('prompts', p, { msgId: `r${i}:0` });
    }
    const metric: MetricsMsg = { type: 'metrics', v: 1, runId: RUN, actorId: 'generator-0', role: 'generator', ts: Date.now(), values: { generator_groups_total: 1 } };
    await gen.publish('metrics', metric);
    for (const t of TOPIC_NAMES) for (const m of await stored(t)) legit.add(hex(m.data));

    let sent = 0;
    for (const u of users.filter((x) => x.role !== 'admin')) {
      const nc = await raw(u.actorId);
      // Every subject the user may publish on; wildcards filled in with a plausible token.
      const subjects = rolePermissions('rlhf', RUN, u).publish.map((s) => s.replace(/\.>$/, '.1.1.1.1.0.0').replace(/\*/g, 'x'));
      for (const subject of subjects) {
        const body = subject.includes('.MSG.NEXT.')
          ? JSON.stringify({ batch: 1, no_wait: true })
          : subject.includes('.STREAM.MSG.GET.KV_')
            ? JSON.stringify({ last_by_subj: `$KV.${subject.endsWith(CONTROL) ? CONTROL : WEIGHTS}.${subject.endsWith(CONTROL) ? 'source' : 'latest'}` })
            : subject.includes('.STREAM.MSG.GET.')
              ? JSON.stringify({ seq: 1 })
              : '';
        for (const target of TARGETS) {
          nc.publish(subject, body, { reply: target });
          sent++;
        }
      }
      await nc.flush();
    }
    assert.ok(sent > 500, `${sent} replies aimed`);
    await sleep(500);

    // The run's end: whatever landed there is refused, and said.
    const control = await NatsRunControl.open(admin);
    assert.equal(await control.end(), undefined, 'no end record passes');
    assert.ok(lines.some((l) => /refused control key end/.test(l)), 'the refusal is said');
    // Progress records: the one written, or refused; never something else.
    const ph = await control.phase();
    if (ph !== undefined) assert.deepEqual(ph, phase);
    assert.equal(await control.source(), undefined, 'no source record was written, and none passes');
    // Weights: the announced version or none (a refused announcement), never other bytes; the next version reads whole.
    const latest = await admin.weights.latest();
    if (latest !== undefined) assert.equal(latest.version, 1);
    const v1 = await admin.weights.get(1);
    if (v1 !== undefined) assert.deepEqual([...v1.bytes], [7, 7, 7]);
    assert.ok(lines.some((l) => /weights announcement in KV key (latest|v1) .* is invalid/.test(l)), 'the refused announcement is said');
    // Every message a stream holds is one a role published itself, or one its consumers refuse.
    for (const topic of TOPIC_NAMES) {
      for (const m of await stored(topic)) {
        if (legit.has(hex(m.data))) continue;
        const d = admin.decodeFor(topic, m.data);
        // The dead letters the readers wrote themselves for the announcements they refused.
        if (topic === 'dead' && d.ok && /weights announcement in KV key .* is invalid/.test((d.value as { reason: string }).reason)) continue;
        const boundMetrics = topic === 'metrics' && d.ok && m.subject === names.metricsSubject((d.value as MetricsMsg).actorId);
        assert.ok(!d.ok || (topic === 'metrics' && !boundMetrics), `a relayed message on ${topic} (${m.subject}) would be taken: ${Buffer.from(m.data).toString().slice(0, 80)}`);
      }
    }
    // The learner's next version replaces whatever landed on its keys.
    await learner.weights.put(2, 2, new Uint8Array([8, 8]));
    assert.equal((await admin.weights.latest())?.version, 2);
    assert.deepEqual([...(await admin.weights.get())!.bytes], [8, 8]);
  });

  it('closes', async () => {
    for (const nc of conns) await nc.close().catch(() => undefined);
    for (const b of buses) await b.close();
    await admin.destroy();
    await admin.close();
    await server.stop();
  });
});
