// `rlhf-stream nats-config`: per-role NATS users for one run, as a nats-server authorization block plus one config per actor.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { jwtSetup, userNkey } from '../../streams/nats/credentials.js';
import { authorizationBlock, runUsers, type PermissionUser } from '../../streams/nats/permissions.js';
import { flag, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs } from '../common.js';

const ID = /^[A-Za-z0-9_-]+$/;

const AUTH_KINDS = ['password', 'nkey', 'jwt'] as const;
type AuthKind = (typeof AUTH_KINDS)[number];

function count(text: string | undefined, name: string, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UsageError(`--${name} must be an integer in [1, 256]; got ${JSON.stringify(text)}`);
  return n;
}

export const natsConfigCommand: Command = {
  name: 'nats-config',
  summary: 'per-role NATS users for a run: a nats-server auth config and a password, nkey seed or .creds file per actor',
  usage: [
    'rlhf-stream nats-config --run RUN_ID --out DIR [--auth password|nkey|jwt] [--generators N] [--judges N] [--config FILE] [--set ...]',
    '',
    '  --run          the run id the permissions are for (subjects and streams carry it)',
    '  --out          folder to write: auth.conf (include it in nats-server.conf) and one secret file per actor',
    '  --generators   generator users generator-0.. (default generator.count)',
    '  --judges       judge users judge-0.. (default judge.count)',
    '  --auth         how users sign in (default password):',
    '                   password  auth.conf lists user + password; <actor>.pass holds it',
    '                   nkey      auth.conf lists each user\'s public nkey; <actor>.nk holds its seed',
    '                   jwt       auth.conf names a fresh operator, the run\'s account and a system account (memory',
    '                             resolver); <actor>.creds holds the user\'s JWT and seed. The operator and account',
    '                             seeds are not kept: to change users, run nats-config again',
    '',
    'Each actor gets a user named after its actor id, with a random password, allowed only its role\'s subjects:',
    'a generator publishes samples and reads prompts and weights; a judge publishes pairs; only the learner writes',
    'weights, the run\'s phase and its end; everyone publishes metrics only under its own id and reads replies only',
    'on _INBOX_<actor id> (the bus sets that inbox prefix from bus.user). No actor creates or changes a consumer:',
    'the admin user creates the run and its durables (`rlhf-stream cluster --nats URL --set bus.user=admin`), so',
    'start it first. Start each actor as',
    '`RLHF_STREAM_NATS_PASS=$(cat <out>/<actor>.pass) rlhf-stream actor <role> --id <actor> --set bus.user=<actor> ...`;',
    'with --auth nkey: `--set bus.nkeySeedFile=<out>/<actor>.nk --set bus.inboxPrefix=_INBOX_<actor>`; with --auth jwt:',
    '`--set bus.credsFile=<out>/<actor>.creds --set bus.inboxPrefix=_INBOX_<actor>`.',
    'Keep the folder private: it holds the secrets.',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'run', 'out', 'generators', 'judges', 'auth'],
  async run(args) {
    const cfg = configFromArgs(args);
    const runId = flag(args, 'run');
    if (!runId || !ID.test(runId)) throw new UsageError(`--run must match [A-Za-z0-9_-]+; got ${JSON.stringify(runId ?? '')}`);
    const out = flag(args, 'out');
    if (!out) throw new UsageError('--out DIR is required (where auth.conf and the per-actor configs go)');
    const auth = flag(args, 'auth') ?? 'password';
    if (!AUTH_KINDS.includes(auth as AuthKind)) throw new UsageError(`--auth must be one of ${AUTH_KINDS.join(', ')}; got ${JSON.stringify(auth)}`);
    const base = runUsers(count(flag(args, 'generators'), 'generators', cfg.generator.count), count(flag(args, 'judges'), 'judges', cfg.judge.count));
    const dir = resolve(out);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const write = (file: string, text: string): void => writeFileSync(join(dir, file), text, { mode: 0o600 });
    const header = `# nats-server authorization for run ${runId} (rlhf-stream nats-config --auth ${auth})\n`;
    const ids = base.map((u) => u.actorId).join(', ');
    if (auth === 'jwt') {
      const s = jwtSetup(cfg.bus.prefix, runId, base);
      write('auth.conf', `${header}${s.serverConfig}\n`);
      for (const [id, creds] of s.creds) write(`${id}.creds`, creds);
      console.log(`wrote ${join(dir, 'auth.conf')} (operator ${s.operatorPublicKey}, account ${s.accountPublicKey}) and ${s.creds.size} credential files <actor>.creds (${ids}); each actor sets bus.inboxPrefix=_INBOX_<actor>`);
      return 0;
    }
    if (auth === 'nkey') {
      const keys = base.map((u) => ({ ...u, ...userNkey() }));
      write('auth.conf', `${header}${authorizationBlock(cfg.bus.prefix, runId, keys.map((k) => ({ actorId: k.actorId, role: k.role, nkey: k.publicKey })))}\n`);
      for (const k of keys) write(`${k.actorId}.nk`, `${k.seed}\n`);
      console.log(`wrote ${join(dir, 'auth.conf')} and ${keys.length} nkey seed files <actor>.nk (${ids}); each actor sets bus.inboxPrefix=_INBOX_<actor>`);
      return 0;
    }
    const users: PermissionUser[] = base.map((u) => ({ ...u, password: randomBytes(18).toString('base64url') }));
    write('auth.conf', `${header}${authorizationBlock(cfg.bus.prefix, runId, users)}\n`);
    // The password alone per actor: pass it as RLHF_STREAM_NATS_PASS=$(cat <actor>.pass) beside --set bus.user=<actor>.
    for (const u of users) write(`${u.actorId}.pass`, `${u.password}\n`);
    console.log(`wrote ${join(dir, 'auth.conf')} and ${users.length} password files <actor>.pass (${ids})`);
    return 0;
  },
};
