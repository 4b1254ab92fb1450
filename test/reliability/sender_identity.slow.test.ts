// Who sent it, as the server vouches: dead letters under their sender's own subject, and msgIds on the streams every
// role writes (metrics, dead) that no other participant can take first, against a real nats-server with the users
// `nats-config` generates.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { NatsRunControl } from '../../src/run/run_control.js';
import { ensureRunConsumers } from '../../src/run/run_consumers.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import { authorizationBlock, inboxPrefixOf, runUsers, type PermissionUser } from '../../src/streams/nats/permissions.js';
import { SCHEMA_VERSION, type DeadLetterMsg, type MetricsMsg } from '../../src/streams/topics.js';
import { natsSkip, startNatsServer, type NatsServerHandle } from '../helpers/nats_server.js';
import { config } from '../actors/fakes.js';
import { pack, validMetrics } from './hostile.js';

const RUN = 'senders';
const users: PermissionUser[] = runUsers(2, 2).map((u) => ({ ...u, password: randomBytes(12).toString('hex') }));
const names = natsNames('rlhf', RUN);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A dead letter as its bytes would read: nothing in it names a sender. */
const letter = (reason: string): DeadLetterMsg => ({ type: 'dead_letter', v: SCHEMA_VERSION, runId: RUN, topic: 'pairs', reason, deliveries: 1, payload: Buffer.from([1, 2, 3]), ts: Date.now() });

describe('sender identity on the streams every role writes', { skip: natsSkip(), timeout: 120_000 }, () => {
  let server: NatsServerHandle;
  let admin: NatsBus;
  const lines: string[] = [];
  const buses: NatsBus[] = [];
  const conns: NatsConnection[] = [];
  const cfg = config({ bus: { kind: 'nats', servers: ['nats://127.0.0.1:1'], ackWaitMs: 3000 } });
  const password = (id: string): string => users.find((u) => u.actorId === id)!.password!;
  const busAs = async (id: string, actorId?: string): Promise<NatsBus> => {
    const bus = await NatsBus.connect({ ...cfg.bus, servers: [server.url], user: id, pass: password(id) }, RUN, { log: (l) => lines.push(`${id}: ${l}`), ...(actorId ? { actorId } : {}) });
    buses.push(bus);
    return bus;
  };
  const raw = async (id: string): Promise<NatsConnection> => {
    const nc = await connect({ servers: server.url, user: id, pass: password(id), inboxPrefix: inboxPrefixOf(id) });
    conns.push(nc);
    return nc;
  };
  const lastSeq = async (topic: 'metrics' | 'dead'): Promise<number> => (await admin.jsm.streams.info(names.stream(topic))).state.last_seq;

  before(async () => {
    server = await startNatsServer({ extraConfig: authorizationBlock('rlhf', RUN, users) });
    admin = await NatsBus.connect({ ...cfg.bus, servers: [server.url], user: 'admin', pass: password('admin') }, RUN, { log: (l) => lines.push(`admin: ${l}`) });
    await NatsRunControl.open(admin);
    await ensureRunConsumers(admin, cfg);
  });

  after(async () => {
    for (const nc of conns) await nc.close().catch(() => undefined);
    for (const b of buses) await b.close();
    await admin?.destroy();
    await admin?.close();
    await server?.stop();
  });

  it("a generator's credentials cannot publish a dead letter as the judge; readers name each letter's sender from its subject", async () => {
    const gen = await raw('generator-0');
    const js = gen.jetstream();
    await assert.rejects(js.publish(names.deadSubject('judge-0'), pack(letter('forged as the judge'))), /permissions violation/i, 'on the judge\'s dead subject');
    // The bus of a generator told it is the judge: its letters go out under that id, and the server refuses them.
    const posing = await busAs('generator-0', 'judge-0');
    await assert.rejects(posing.sendDeadLetter('samples', 'posing as the judge', 1, new Uint8Array([9])), /permissions violation/i);
    for (const old of [`rlhf.${RUN}.dead`, `rlhf.${RUN}.dead.judge-0.x`, `rlhf.${RUN}.dead.*`]) {
      await assert.rejects(js.publish(old, pack(letter('elsewhere'))), /permissions violation|no responders/i, old);
    }

    // Each role's own letters are stored under its own id, whatever the letter's bytes say.
    const judge = await busAs('judge-0');
    const generator = await busAs('generator-0');
    await judge.sendDeadLetter('samples', 'the judge gave up', 1, new Uint8Array([1]));
    await generator.sendDeadLetter('prompts', 'the generator gave up', 1, new Uint8Array([2]));
    await js.publish(names.deadSubject('generator-0'), pack(letter('judge-0 sent this')));
    const seen: Array<{ sender: string | undefined; reason: string }> = [];
    const sub = admin.consume('dead', { durable: 'audit' });
    for await (const d of sub) {
      seen.push({ sender: d.sender, reason: d.data.reason });
      await d.ack();
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, [
      { sender: 'judge-0', reason: 'the judge gave up' },
      { sender: 'generator-0', reason: 'the generator gave up' },
      { sender: 'generator-0', reason: 'judge-0 sent this' },
    ]);
    assert.deepEqual(await admin.deadLettersBySender(), { 'generator-0': 2, 'judge-0': 1 });
  });

  it('the monitor, which pulls metrics, may publish none, so nothing it writes can be relayed out of its pull', async () => {
    const mon = await raw('monitor');
    await assert.rejects(mon.jetstream().publish(names.metricsSubject('monitor'), pack(letter('relay me'))), /permissions violation/i);
    // What a pull can still relay is another role's own message: aimed at the judge's dead subject it is stored there,
    // but it is a metrics message, which no reader takes for a dead letter.
    const g = await busAs('generator-1');
    await g.publish('metrics', { ...validMetrics(RUN), actorId: 'generator-1', role: 'generator', ts: Date.now() });
    const before = await lastSeq('dead');
    const inbox = `${inboxPrefixOf('monitor')}.pull`;
    const got = mon.subscribe(inbox, { max: 1 });
    mon.publish(`$JS.API.CONSUMER.MSG.NEXT.${names.stream('metrics')}.monitor`, JSON.stringify({ batch: 1, no_wait: true }), { reply: names.deadSubject('judge-0') });
    mon.publish(`$JS.API.CONSUMER.MSG.NEXT.${names.stream('metrics')}.monitor-cli`, JSON.stringify({ batch: 1, no_wait: true }), { reply: inbox });
    await mon.flush();
    await sleep(300);
    got.unsubscribe();
    assert.ok((await lastSeq('dead')) > before, 'the server stored the relayed delivery on the dead stream');
    for (let seq = before + 1; seq <= (await lastSeq('dead')); seq++) {
      const m = await admin.jsm.streams.getMessage(names.stream('dead'), { seq });
      assert.equal(admin.decodeFor('dead', m.data).ok, false, `a relayed message on ${m.subject} passes for a dead letter`);
    }
  });

  it("no role takes another's next metrics or dead-letter msgId first, even knowing every id used so far", async () => {
    const learner = await busAs('learner');
    const metric = (n: number): MetricsMsg => ({ type: 'metrics', v: SCHEMA_VERSION, runId: RUN, actorId: 'learner', role: 'learner', ts: Date.now(), values: { learner_steps_total: n } });
    const start = await lastSeq('metrics');
    for (let i = 0; i < 3; i++) await learner.publish('metrics', metric(i));
    // Every id the learner used, as the monitor reads them in the stored headers.
    const used: string[] = [];
    for (let seq = start + 1; seq <= start + 3; seq++) used.push((await admin.jsm.streams.getMessage(names.stream('metrics'), { seq })).header.get('Nats-Msg-Id'));
    assert.equal(new Set(used).size, 3);
    for (const id of used) assert.match(id, /^learner-[0-9a-f-]{36}$/, 'a fresh random id per publish, not a counter');
    // The hostile generator stores messages under every id seen and under the ids a counter would give next.
    const evil = (await raw('generator-1')).jetstream();
    const guesses = used.flatMap((id) => [id, ...Array.from({ length: 20 }, (_, k) => id.replace(/-[^-]+$/, `-${k}`))]);
    for (const id of [...guesses, ...Array.from({ length: 20 }, (_, k) => `learner-${k}`)]) {
      await evil.publish(names.metricsSubject('generator-1'), pack({ ...validMetrics(RUN), actorId: 'generator-1', role: 'generator' }), { msgID: id });
      await evil.publish(names.deadSubject('generator-1'), pack(letter('pre-empting')), { msgID: id });
    }
    const mid = await lastSeq('metrics');
    const deadMid = await lastSeq('dead');
    for (let i = 0; i < 5; i++) await learner.publish('metrics', metric(10 + i));
    await learner.sendDeadLetter('pairs', 'the learner gave up', 1, new Uint8Array([3]));
    assert.equal((await lastSeq('metrics')) - mid, 5, "every one of the learner's next metrics is stored");
    assert.equal((await lastSeq('dead')) - deadMid, 1, "the learner's dead letter is stored");
    // On the work streams another role cannot publish at all, under any msgId.
    const work: Array<[string, string]> = [['generator-0', names.subject('pairs')], ['judge-0', names.subject('samples')], ['learner', names.subject('samples')], ['monitor', names.subject('prompts')], ['evaluator', names.subject('pairs')]];
    for (const [who, subject] of work) {
      await assert.rejects((await raw(who)).jetstream().publish(subject, new Uint8Array([0xc1]), { msgID: 'p:g:q0:0' }), /permissions violation/i, `${who} on ${subject}`);
    }
  });
});
