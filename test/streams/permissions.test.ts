// The per-role permission lists, read as data: rules that keep a user from speaking for another or relaying bytes it chose.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { natsNames } from '../../src/streams/nats/names.js';
import { PERMISSION_ROLES, rolePermissions, runUsers } from '../../src/streams/nats/permissions.js';
import { TOPIC_NAMES } from '../../src/streams/topics.js';

const names = natsNames('rlhf', 'r1');
const users = runUsers(2, 2).filter((u) => u.role !== 'admin');

/** Whether a NATS subject pattern (`*`, `>`) matches a subject. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

describe('per-role permissions', () => {
  it('every role but admin is checked', () => {
    assert.deepEqual([...new Set(users.map((u) => u.role))].sort(), PERMISSION_ROLES.filter((r) => r !== 'admin').slice().sort());
  });

  it('each user publishes dead letters under its own id only, and nowhere else on the dead stream', () => {
    for (const u of users) {
      const pub = rolePermissions('rlhf', 'r1', u).publish;
      const dead = pub.filter((p) => matches(p, names.deadSubject(u.actorId)) || p.startsWith(`rlhf.r1.dead`));
      assert.deepEqual(dead, [names.deadSubject(u.actorId)], u.actorId);
      for (const other of users.filter((o) => o.actorId !== u.actorId)) {
        assert.ok(!pub.some((p) => matches(p, names.deadSubject(other.actorId))), `${u.actorId} may publish ${other.actorId}'s dead letters`);
        assert.ok(!pub.some((p) => matches(p, names.metricsSubject(other.actorId))), `${u.actorId} may publish ${other.actorId}'s metrics`);
      }
    }
  });

  it('no role may publish into a stream it pulls from (a pull hands the raw message to any reply subject)', () => {
    for (const u of users) {
      const pub = rolePermissions('rlhf', 'r1', u).publish;
      const pulled = TOPIC_NAMES.filter((t) => pub.some((p) => p.startsWith(`$JS.API.CONSUMER.MSG.NEXT.${names.stream(t)}.`)));
      for (const t of pulled) {
        // A subject of the stream: its own, or a per-actor one under any id.
        const probes = [names.subject(t), names.metricsSubject(u.actorId), names.deadSubject(u.actorId)].filter((s) => names.streamSubjects(t).some((p) => matches(p, s)));
        for (const s of probes) assert.ok(!pub.some((p) => matches(p, s)), `${u.actorId} pulls ${t} and may publish ${s}`);
      }
    }
    // The check sees something: the monitor pulls metrics, the learner pairs.
    const monitor = rolePermissions('rlhf', 'r1', users.find((u) => u.role === 'monitor')!).publish;
    assert.ok(monitor.some((p) => p.startsWith(`$JS.API.CONSUMER.MSG.NEXT.${names.stream('metrics')}.`)));
  });
});
