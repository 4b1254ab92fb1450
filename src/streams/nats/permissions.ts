// Per-role NATS permissions for one run: each actor gets a user allowed only the subjects its role needs.
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

/** Durable consumer each consuming role reads its work topic with (src/actors: GENERATOR_DURABLE, JUDGE_DURABLE, ...). */
const CONSUMES: Partial<Record<PermissionRole, { topic: TopicName; durables: string[] }>> = {
  generator: { topic: 'prompts', durables: ['generators'] },
  judge: { topic: 'samples', durables: ['judges'] },
  learner: { topic: 'pairs', durables: ['learner'] },
  monitor: { topic: 'metrics', durables: ['monitor', 'monitor-cli'] },
};

/**
 * The subjects a role may publish and subscribe to. Everything not listed is refused by the server: a generator
 * cannot publish pairs or weights, no one but the learner writes weights or the run's end, and each actor publishes
 * metrics only on `<prefix>.<runId>.metrics.<its own id>`. `admin` (the launcher or an operator) creates the streams
 * and buckets of the run; the other roles only use what exists.
 */
export function rolePermissions(prefix: string, runId: string, user: PermissionUser): Permissions {
  const n = natsNames(prefix, runId);
  const stream = (t: TopicName): string => n.stream(t);
  const weights = n.weightsBucket;
  const control = weights.replace(/_WEIGHTS$/, '_CONTROL');
  const api = '$JS.API';
  if (user.role === 'admin') return { publish: ['>'], subscribe: ['>'] };

  const pub = new Set<string>([
    // Replies and the account / stream lookups every process makes at start (info only: creating is the admin's).
    `${api}.INFO`,
    `${api}.STREAM.NAMES`,
    ...TOPIC_NAMES.map((t) => `${api}.STREAM.INFO.${stream(t)}`),
    `${api}.STREAM.INFO.KV_${weights}`,
    `${api}.STREAM.INFO.KV_${control}`,
    `${api}.STREAM.INFO.OBJ_${weights}`,
    // The run's control state (source progress, end) is readable by every actor.
    `${api}.DIRECT.GET.KV_${control}.>`,
    `${api}.STREAM.MSG.GET.KV_${control}`,
    // Any consumer may dead-letter what it cannot use; metrics only under its own id.
    n.subject('dead'),
    n.metricsSubject(user.actorId),
  ]);
  const sub = new Set<string>(['_INBOX.>']);

  const readWeights = (): void => {
    for (const s of [`KV_${weights}`, `OBJ_${weights}`]) {
      pub.add(`${api}.DIRECT.GET.${s}.>`);
      pub.add(`${api}.DIRECT.GET.${s}`);
      pub.add(`${api}.STREAM.MSG.GET.${s}`);
      // Watches and object reads use short-lived ordered consumers.
      pub.add(`${api}.CONSUMER.CREATE.${s}`);
      pub.add(`${api}.CONSUMER.CREATE.${s}.>`);
      pub.add(`${api}.CONSUMER.DELETE.${s}.>`);
      pub.add(`${api}.CONSUMER.INFO.${s}.>`);
      pub.add(`$JS.FC.${s}.>`);
    }
  };
  const consume = (topic: TopicName, durables: string[]): void => {
    const s = stream(topic);
    for (const d of durables) {
      pub.add(`${api}.CONSUMER.INFO.${s}.${d}`);
      pub.add(`${api}.CONSUMER.CREATE.${s}.${d}`);
      pub.add(`${api}.CONSUMER.CREATE.${s}.${d}.>`);
      pub.add(`${api}.CONSUMER.DURABLE.CREATE.${s}.${d}`);
      pub.add(`${api}.CONSUMER.MSG.NEXT.${s}.${d}`);
      pub.add(`$JS.ACK.${s}.${d}.>`);
    }
  };
  const c = CONSUMES[user.role];
  if (c) consume(c.topic, c.durables);

  switch (user.role) {
    case 'source':
      pub.add(n.subject('prompts'));
      pub.add(`$KV.${control}.source`);
      break;
    case 'generator':
      pub.add(n.subject('samples'));
      readWeights();
      break;
    case 'judge':
      pub.add(n.subject('pairs'));
      break;
    case 'learner':
      readWeights();
      // Only the learner announces and stores weights, and ends the run.
      pub.add(n.subject('weights'));
      pub.add(`$KV.${weights}.>`);
      pub.add(`$O.${weights}.>`);
      pub.add(`${api}.STREAM.PURGE.OBJ_${weights}`);
      pub.add(`$KV.${control}.end`);
      // The drain check reads the pipeline's backlog.
      pub.add(`${api}.CONSUMER.INFO.${stream('pairs')}.>`);
      break;
    case 'evaluator':
      readWeights();
      break;
    case 'monitor':
      // Queue depths per consumer for the dashboard.
      for (const t of ['prompts', 'samples', 'pairs'] as const) pub.add(`${api}.CONSUMER.INFO.${stream(t)}.>`);
      break;
  }
  return { publish: [...pub], subscribe: [...sub] };
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
