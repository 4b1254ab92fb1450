// `rlhf-stream nats-config`: per-role NATS users for one run, as a nats-server authorization block plus one config per actor.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { authorizationBlock, runUsers, type PermissionUser } from '../../streams/nats/permissions.js';
import { flag, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs } from '../common.js';

const ID = /^[A-Za-z0-9_-]+$/;

function count(text: string | undefined, name: string, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UsageError(`--${name} must be an integer in [1, 256]; got ${JSON.stringify(text)}`);
  return n;
}

export const natsConfigCommand: Command = {
  name: 'nats-config',
  summary: 'per-role NATS users for a run: a nats-server authorization block and a password file per actor',
  usage: [
    'rlhf-stream nats-config --run RUN_ID --out DIR [--generators N] [--judges N] [--config FILE] [--set ...]',
    '',
    '  --run          the run id the permissions are for (subjects and streams carry it)',
    '  --out          folder to write: auth.conf (include it in nats-server.conf) and <actor>.pass per actor',
    '  --generators   generator users generator-0.. (default generator.count)',
    '  --judges       judge users judge-0.. (default judge.count)',
    '',
    'Each actor gets a user named after its actor id, with a random password, allowed only its role\'s subjects:',
    'a generator publishes samples and reads prompts and weights; a judge publishes pairs; only the learner writes',
    'weights, the run\'s phase and its end; everyone publishes metrics only under its own id and reads replies only',
    'on _INBOX_<actor id> (the bus sets that inbox prefix from bus.user). No actor creates or changes a consumer:',
    'the admin user creates the run and its durables (`rlhf-stream cluster --nats URL --set bus.user=admin`), so',
    'start it first. Start each actor as',
    '`RLHF_STREAM_NATS_PASS=$(cat <out>/<actor>.pass) rlhf-stream actor <role> --id <actor> --set bus.user=<actor> ...`;',
    'keep the folder private: it holds the passwords.',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'run', 'out', 'generators', 'judges'],
  async run(args) {
    const cfg = configFromArgs(args);
    const runId = flag(args, 'run');
    if (!runId || !ID.test(runId)) throw new UsageError(`--run must match [A-Za-z0-9_-]+; got ${JSON.stringify(runId ?? '')}`);
    const out = flag(args, 'out');
    if (!out) throw new UsageError('--out DIR is required (where auth.conf and the per-actor configs go)');
    const users: PermissionUser[] = runUsers(count(flag(args, 'generators'), 'generators', cfg.generator.count), count(flag(args, 'judges'), 'judges', cfg.judge.count)).map((u) => ({
      ...u,
      password: randomBytes(18).toString('base64url'),
    }));
    const dir = resolve(out);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'auth.conf'), `# nats-server authorization for run ${runId} (rlhf-stream nats-config)\n${authorizationBlock(cfg.bus.prefix, runId, users)}\n`, { mode: 0o600 });
    // The password alone per actor: pass it as RLHF_STREAM_NATS_PASS=$(cat <actor>.pass) beside --set bus.user=<actor>.
    for (const u of users) writeFileSync(join(dir, `${u.actorId}.pass`), `${u.password}\n`, { mode: 0o600 });
    console.log(`wrote ${join(dir, 'auth.conf')} and ${users.length} password files <actor>.pass (${users.map((u) => u.actorId).join(', ')})`);
    return 0;
  },
};
