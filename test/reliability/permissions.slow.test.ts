// Per-role NATS users from `rlhf-stream nats-config`: a real nats-server refuses every publish a role has no business
// making (a generator publishing pairs or weights, anyone but the learner writing weights or the run's end, an actor
// publishing metrics under another actor's id), and each role can still do its own work.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { config, pair } from '../actors/fakes.js';
import { BusError } from '../../src/streams/bus.js';
import { NatsRunControl } from '../../src/run/run_control.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import { authorizationBlock, runUsers, type PermissionUser } from '../../src/streams/nats/permissions.js';
import type { MetricsMsg, PromptMsg, SampleGroupMsg, TopicName } from '../../src/streams/topics.js';
import { natsSkip, startNatsServer, type NatsServerHandle } from '../helpers/nats_server.js';

const RUN = 'perm';
const users: PermissionUser[] = runUsers(1, 1).map((u) => ({ ...u, password: randomBytes(12).toString('hex') }));
const names = natsNames('rlhf', RUN);

const prompt = (id: string): PromptMsg => ({ type: 'prompt', v: 1, runId: RUN, promptId: id, epoch: 0, text: 'hi', tokens: [1, 2], createdAt: 0 });
const group = (id: string): SampleGroupMsg => ({
  type: 'samples',
  v: 1,
  runId: RUN,
  groupId: id,
  promptId: 'q',
  policyVersion: 0,
  generatorId: 'generator-0',
  samples: [{ runId: RUN, sampleId: `${id}:0`, promptId: 'q', policyVersion: 0, generatorId: 'generator-0', startedAt: 0, createdAt: 0, promptTokens: [1], responseTokens: [2], text: 'c', finished: true }],
});
const metrics = (actorId: string): MetricsMsg => ({ type: 'metrics', v: 1, runId: RUN, actorId, role: 'x', ts: Date.now(), values: { x_total: 1 } });

describe('per-role NATS permissions', { skip: natsSkip(), timeout: 180_000 }, () => {
  let server: NatsServerHandle;
  let admin: NatsBus;
  const buses = new Map<string, NatsBus>();
  const as = async (actorId: string): Promise<NatsBus> => {
    const u = users.find((x) => x.actorId === actorId)!;
    const cfg = config({ bus: { kind: 'nats', servers: [server.url], user: u.actorId, pass: u.password, ackWaitMs: 2000 } }).bus;
    const bus = await NatsBus.connect(cfg, RUN, { log: () => {} });
    buses.set(actorId, bus);
    return bus;
  };
  const stored = async (topic: TopicName): Promise<number> => (await admin.jsm.streams.info(names.stream(topic))).state.last_seq;
  const refused = async (what: string, p: Promise<unknown>): Promise<void> => {
    await assert.rejects(p, (err: Error) => {
      assert.ok(err instanceof BusError || /permission/i.test(err.message), `${what}: ${err.message}`);
      assert.match(err.message, /permission/i, what);
      return true;
    }, what);
  };

  after(async () => {
    for (const b of buses.values()) await b.close();
    if (admin) {
      await admin.destroy();
      await admin.close();
    }
    await server?.stop();
  });

  it('the server starts with the generated authorization block; the admin creates the run', async () => {
    server = await startNatsServer({ extraConfig: authorizationBlock('rlhf', RUN, users) });
    const a = users.find((u) => u.role === 'admin')!;
    admin = await NatsBus.connect(config({ bus: { kind: 'nats', servers: [server.url], user: 'admin', pass: a.password } }).bus, RUN, { log: () => {} });
    await admin.js.views.kv(names.weightsBucket.replace(/_WEIGHTS$/, '_CONTROL'), { history: 1 });
  });

  it('a user without the password is refused', async () => {
    await assert.rejects(NatsBus.connect(config({ bus: { kind: 'nats', servers: [server.url], user: 'generator-0', pass: 'wrong' } }).bus, RUN, { log: () => {} }), /authorization violation/);
  });

  it('a generator publishes samples, reads weights and dead-letters; it cannot publish prompts, pairs, weights or others\' metrics', async () => {
    await admin.weights.put(1, 1, new Uint8Array([1, 2, 3]));
    const g = await as('generator-0');
    await g.publish('samples', group('g1'));
    assert.deepEqual([...(await g.weights.get())!.bytes], [1, 2, 3]);
    await g.publish('metrics', metrics('generator-0'));
    await g.sendDeadLetter('prompts', 'test letter', 1, new Uint8Array([1]));
    const before = { pairs: await stored('pairs'), weights: await stored('weights'), prompts: await stored('prompts'), metrics: await stored('metrics') };
    await refused('generator publishes a pair', g.publish('pairs', pair('x', 0, 0, RUN)));
    await refused('generator publishes a prompt', g.publish('prompts', prompt('x')));
    await refused('generator writes weights', g.weights.put(2, 2, new Uint8Array([9])));
    await refused('generator publishes on the weights subject', g.publishRaw('weights', new Uint8Array([1])));
    await refused('generator publishes metrics as the learner', g.publish('metrics', metrics('learner')));
    assert.deepEqual({ pairs: await stored('pairs'), weights: await stored('weights'), prompts: await stored('prompts'), metrics: await stored('metrics') }, before);
    assert.equal((await admin.weights.latest())!.version, 1, 'the announced weights are untouched');
  });

  it('a judge publishes pairs only; it cannot publish samples or weights, or read the judges\' work under another durable', async () => {
    const j = await as('judge-0');
    await j.publish('pairs', pair('p1', 0, 0, RUN));
    const before = await stored('samples');
    await refused('judge publishes samples', j.publish('samples', group('x')));
    await refused('judge writes weights', j.weights.put(3, 3, new Uint8Array([9])));
    assert.equal(await stored('samples'), before);
    // Its own durable works; the learner's durable on pairs is not its to take.
    const sub = j.consume('pairs', { durable: 'learner' });
    await refused('judge reads pairs as the learner', sub[Symbol.asyncIterator]().next());
  });

  it('only the learner writes weights; it cannot publish pairs or samples', async () => {
    const l = await as('learner');
    const meta = await l.weights.put(2, 2, new Uint8Array([4, 5]));
    assert.equal((await admin.weights.latest())!.version, meta.version);
    // Storing v4 deletes v1 (bus.weightsKept 3): the learner's permissions cover the deletion too.
    const lines: string[] = [];
    const u = users.find((x) => x.actorId === 'learner')!;
    const l2 = await NatsBus.connect(config({ bus: { kind: 'nats', servers: [server.url], user: u.actorId, pass: u.password } }).bus, RUN, { log: (line) => lines.push(line) });
    buses.set('learner-2', l2);
    for (const v of [3, 4]) await l2.weights.put(v, v, new Uint8Array([v]));
    assert.deepEqual(lines, []);
    assert.equal(await admin.weights.get(1), undefined);
    assert.deepEqual([...(await admin.weights.get(2))!.bytes], [4, 5]);
    // An iterative or offline run's learner records each phase it trained; the source reads the record back.
    const phase = { completed: 1, iterations: 2, version: 2, ts: Date.now() };
    await (await NatsRunControl.open(l)).setPhase(phase);
    assert.deepEqual(await (await NatsRunControl.open(admin)).phase(), phase);
    await refused('learner publishes a pair', l.publish('pairs', pair('y', 0, 0, RUN)));
    await refused('learner publishes samples', l.publish('samples', group('y')));
  });

  it('the source publishes prompts and its progress; it cannot write the run\'s end', async () => {
    const s = await as('source');
    await s.publish('prompts', prompt('q1'));
    const kv = await s.js.views.kv(names.weightsBucket.replace(/_WEIGHTS$/, '_CONTROL'));
    await kv.put('source', new TextEncoder().encode('{"published":1}'));
    await assert.rejects(kv.put('end', new TextEncoder().encode('{"state":"done"}')), /permission/i);
    await assert.rejects(kv.put('phase', new TextEncoder().encode('{"completed":2}')), /permission/i);
    await refused('source publishes samples', s.publish('samples', group('z')));
  });

  it('the monitor reads metrics and publishes no work, and no metrics (it pulls them: see permissions.ts)', async () => {
    const m = await as('monitor');
    await refused('monitor publishes a prompt', m.publish('prompts', prompt('m')));
    await refused('monitor publishes metrics as generator-0', m.publish('metrics', metrics('generator-0')));
    await refused('monitor publishes its own metrics', m.publish('metrics', metrics('monitor')));
  });

});
