// Per-role NATS permissions for one run: each actor gets a user allowed only the subjects and JetStream calls its role needs.
import { natsNames } from './names.js';
import { TOPIC_NAMES, type TopicName } from '../topics.js';

export type PermissionRole = 'admin' | 'source' | 'generator' | 'judge' | 'learner' | 'evaluator' | 'monitor';

export const PERMISSION_ROLES: readonly PermissionRole[] = ['admin', 'source', 'generator', 'judge', 'learner', 'evaluator', 'monitor'];

/** One NATS user: an actor id (it is also the user name, and the only metrics subject it may publish on). */
export interface PermissionUser {
  actorId: string;
  role: PermissionRole;
  /** Password authentication; or `nkey` (a public user nkey, `U...`) when the user signs in with an nkey seed. */
  password?: string;
  nkey?: string;
}

export interface Permissions {
  publish: string[];
  subscribe: string[];
}

/** Durable consumers each consuming role binds to (src/actors: GENERATOR_DURABLE, JUDGE_DURABLE, ...); the admin creates them. */
export const ROLE_DURABLES: Partial<Record<PermissionRole, { topic: TopicName; durables: string[] }>> = {
  generator: { topic: 'prompts', durables: ['generators'] },
  judge: { topic: 'samples', durables: ['judges'] },
  learner: { topic: 'pairs', durables: ['learner'] },
  monitor: { topic: 'metrics', durables: ['monitor', 'monitor-cli'] },
};

/**
 * The inbox prefix of a user: its replies come back on `<prefix>.>`, and it may subscribe to nothing else, so no actor
 * reads another's replies (the client sets it with nats.js's `inboxPrefix`, src/streams/nats/errors.ts).
 */
export const inboxPrefixOf = (user: string): string => `_INBOX_${user.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** The control bucket of a run: `<PREFIX>_<run>_CONTROL`, beside its weights bucket. */
export const controlBucketOf = (prefix: string, runId: string): string => natsNames(prefix, runId).weightsBucket.replace(/_WEIGHTS$/, '_CONTROL');

/**
 * The subjects a role may publish and subscribe to. Everything not listed is refused by the server: a generator
 * cannot publish pairs or weights, no one but the learner writes weights, the run's end or its phase, and each actor
 * publishes metrics only on `<prefix>.<runId>.metrics.<its own id>`.
 *
 * The server sends a JetStream answer (a stored message, a pull's delivery, a publish acknowledgement) to whatever
 * reply subject the request names, and does not check it against the requester's permissions. So the JetStream calls
 * are few and none can copy a valid record: reads go through `STREAM.MSG.GET`, whose answer is a JSON envelope
 * (never the raw record; direct gets, which answer with the raw record, are not allowed), and no role creates,
 * changes or deletes a consumer (a consumer's deliver subject is any subject): the admin creates the run's durables
 * and the roles bind to them. What a reply can still carry (JSON envelopes, acknowledgements, an empty message, the
 * role's own work) is refused where it lands by strict decoding; docs/reliability.md lists the attacks.
 */
export function rolePermissions(prefix: string, runId: string, user: PermissionUser): Permissions {
  if (user.role === 'admin') return { publish: ['>'], subscribe: ['>'] };
  const n = natsNames(prefix, runId);
  const stream = (t: TopicName): string => n.stream(t);
  const weights = n.weightsBucket;
  const control = controlBucketOf(prefix, runId);
  const api = '$JS.API';

  const pub = new Set<string>([
    // The lookups every process makes at start: the account, and the run's streams and buckets (info only).
    `${api}.INFO`,
    ...TOPIC_NAMES.map((t) => `${api}.STREAM.INFO.${stream(t)}`),
    `${api}.STREAM.INFO.KV_${weights}`,
    `${api}.STREAM.INFO.KV_${control}`,
    `${api}.STREAM.INFO.OBJ_${weights}`,
    // The run's control state (info, source progress, phase, end) is readable by every actor.
    `${api}.STREAM.MSG.GET.KV_${control}`,
    // Any consumer may dead-letter what it cannot use, under its own id only: the subject names the letter's sender.
    n.deadSubject(user.actorId),
  ]);
  // Metrics only under its own id. Not the monitor: it pulls the metrics stream, and the server hands a pulled message,
  // raw and with its headers, to any reply subject the pull names; a role that could write its own bytes into a stream
  // it pulls could have them stored on any subject (a dead letter or metrics under another's id, a pair, a msgId that
  // pre-empts another's publish). So no role may publish into a stream it pulls from.
  if (user.role !== 'monitor') pub.add(n.metricsSubject(user.actorId));

  const readWeights = (): void => {
    pub.add(`${api}.STREAM.MSG.GET.KV_${weights}`);
    pub.add(`${api}.STREAM.MSG.GET.OBJ_${weights}`);
  };
  const c = ROLE_DURABLES[user.role];
  if (c) {
    const s = stream(c.topic);
    for (const d of c.durables) {
      pub.add(`${api}.CONSUMER.INFO.${s}.${d}`);
      pub.add(`${api}.CONSUMER.MSG.NEXT.${s}.${d}`);
      pub.add(`$JS.ACK.${s}.${d}.>`);
    }
  }

  switch (user.role) {
    case 'source':
      pub.add(n.subject('prompts'));
      pub.add(`$KV.${control}.source`);
      break;
    case 'generator':
      pub.add(n.subject('samples'));
      // A publish answered "duplicate" is checked against the message stored under its msgId (bus.ts, notOurs).
      pub.add(`${api}.STREAM.MSG.GET.${stream('samples')}`);
      readWeights();
      break;
    case 'judge':
      pub.add(n.subject('pairs'));
      pub.add(`${api}.STREAM.MSG.GET.${stream('pairs')}`);
      break;
    case 'learner':
      readWeights();
      // Only the learner announces and stores weights, and drives the run's phases and end.
      pub.add(n.subject('weights'));
      pub.add(`$KV.${weights}.>`);
      pub.add(`$O.${weights}.>`);
      pub.add(`${api}.STREAM.PURGE.OBJ_${weights}`);
      pub.add(`$KV.${control}.end`);
      pub.add(`$KV.${control}.phase`);
      // A drain that stalls: the learner removes work messages a restarted server kept below their consumer's ack floor
      // (run_control.ts removeAckedLeftovers), so it reads every work consumer's state and may delete from the streams.
      for (const t of ['prompts', 'samples', 'pairs'] as const) {
        pub.add(`${api}.STREAM.MSG.DELETE.${stream(t)}`);
        for (const d of ROLE_DURABLES[t === 'prompts' ? 'generator' : t === 'samples' ? 'judge' : 'learner']!.durables) pub.add(`${api}.CONSUMER.INFO.${stream(t)}.${d}`);
      }
      break;
    case 'evaluator':
      readWeights();
      break;
    case 'monitor':
      // Queue depths per consumer for the dashboard (read-only).
      for (const t of ['prompts', 'samples', 'pairs'] as const) for (const d of ROLE_DURABLES[t === 'prompts' ? 'generator' : t === 'samples' ? 'judge' : 'learner']!.durables) pub.add(`${api}.CONSUMER.INFO.${stream(t)}.${d}`);
      break;
  }
  return { publish: [...pub], subscribe: [`${inboxPrefixOf(user.actorId)}.>`] };
}

const q = (s: string): string => JSON.stringify(s);

/** A nats-server `authorization { users: [...] }` block for the users of one run. */
export function authorizationBlock(prefix: string, runId: string, users: readonly PermissionUser[]): string {
  const lines = ['authorization {', '  users: ['];
  for (const u of users) {
    const p = rolePermissions(prefix, runId, u);
    const who = u.nkey ? `nkey: ${q(u.nkey)}` : `user: ${q(u.actorId)}, password: ${q(u.password ?? '')}`;
    lines.push(`    # ${u.role} ${u.actorId}`);
    lines.push(`    { ${who},`);
    lines.push(`      permissions: { publish: { allow: [${p.publish.map(q).join(', ')}] }, subscribe: { allow: [${p.subscribe.map(q).join(', ')}] } } }`);
  }
  lines.push('  ]', '}');
  return lines.join('\n');
}

/** Actor ids a run's processes use: `source`, `learner`, `evaluator`, `monitor`, `generator-<i>`, `judge-<i>`, plus `admin`. */
export function runUsers(generators: number, judges: number): Array<Pick<PermissionUser, 'actorId' | 'role'>> {
  const users: Array<Pick<PermissionUser, 'actorId' | 'role'>> = [
    { actorId: 'admin', role: 'admin' },
    { actorId: 'source', role: 'source' },
    { actorId: 'learner', role: 'learner' },
    { actorId: 'evaluator', role: 'evaluator' },
    { actorId: 'monitor', role: 'monitor' },
  ];
  for (let i = 0; i < generators; i++) users.push({ actorId: `generator-${i}`, role: 'generator' });
  for (let i = 0; i < judges; i++) users.push({ actorId: `judge-${i}`, role: 'judge' });
  return users;
}
