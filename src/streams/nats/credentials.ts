// NATS credentials beyond passwords: an nkey per user, or an operator / account / user JWT set with `.creds` files.
import { createHash } from 'node:crypto';
import { nkeys } from 'nats';
import { rolePermissions, type PermissionUser } from './permissions.js';

/** A fresh user nkey: the seed (secret, `SU...`) the actor signs in with, and the public key (`U...`) the server lists. */
export function userNkey(): { seed: string; publicKey: string } {
  const kp = nkeys.createUser();
  return { seed: new TextDecoder().decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

/** RFC 4648 base32 without padding: the form JWT ids take in NATS claims. */
function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

type KeyPair = ReturnType<typeof nkeys.createUser>;

/** A NATS JWT (v2 claims) signed by `issuer`: the id is the sha256 of the claims, as the nats JWT library makes it. */
function signJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>, iat: number): string {
  const claims: Record<string, unknown> = { jti: '', iat, iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  claims.jti = base32(createHash('sha256').update(JSON.stringify(claims)).digest());
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const body = b64url(JSON.stringify(claims));
  const sig = issuer.sign(new TextEncoder().encode(`${head}.${body}`));
  return `${head}.${body}.${b64url(sig)}`;
}

/** A `.creds` file: a user's JWT and its nkey seed, in the layout nats clients and `nsc` read. */
export function credsFile(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}

export interface JwtSetup {
  /** nats-server config lines: the operator, a memory resolver and the run's account preloaded. */
  serverConfig: string;
  /** `.creds` contents per actor id. */
  creds: Map<string, string>;
  operatorPublicKey: string;
  accountPublicKey: string;
}

/**
 * Decentralized auth for one run: a fresh operator signs one account (JetStream enabled, the run's streams live
 * there), which signs one user per actor with its role's permissions (the same as the password users'). The operator
 * and account seeds are not kept: to add a user later, run `nats-config` again and restart the server with it.
 */
export function jwtSetup(prefix: string, runId: string, users: readonly Pick<PermissionUser, 'actorId' | 'role'>[], now = Date.now()): JwtSetup {
  const iat = Math.floor(now / 1000);
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  // JetStream needs a system account for the server's own traffic; no user of the run belongs to it.
  const system = nkeys.createAccount();
  const operatorJwt = signJwt(operator, operator.getPublicKey(), 'rlhf-stream', { type: 'operator' }, iat);
  const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const jetstream = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
  const accountJwt = signJwt(operator, account.getPublicKey(), runId, { type: 'account', limits: { ...unlimited, ...jetstream }, default_permissions: { pub: {}, sub: {} } }, iat);
  const systemJwt = signJwt(operator, system.getPublicKey(), 'SYS', { type: 'account', limits: unlimited, default_permissions: { pub: {}, sub: {} } }, iat);
  const creds = new Map<string, string>();
  for (const u of users) {
    const kp = nkeys.createUser();
    const p = rolePermissions(prefix, runId, { actorId: u.actorId, role: u.role });
    const jwt = signJwt(account, kp.getPublicKey(), u.actorId, { type: 'user', pub: { allow: p.publish }, sub: { allow: p.subscribe }, subs: -1, data: -1, payload: -1 }, iat);
    creds.set(u.actorId, credsFile(jwt, new TextDecoder().decode(kp.getSeed())));
  }
  const serverConfig = [
    `operator: ${JSON.stringify(operatorJwt)}`,
    `system_account: ${system.getPublicKey()}`,
    'resolver: MEMORY',
    `resolver_preload: { ${account.getPublicKey()}: ${JSON.stringify(accountJwt)}, ${system.getPublicKey()}: ${JSON.stringify(systemJwt)} }`,
  ].join('\n');
  return { serverConfig, creds, operatorPublicKey: operator.getPublicKey(), accountPublicKey: account.getPublicKey() };
}
