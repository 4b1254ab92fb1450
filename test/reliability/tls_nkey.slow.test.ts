// TLS with a throwaway CA (made by openssl here) and nkey authentication: the bus connects with the right material
// and is refused without it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nkeys } from 'nats';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { config } from '../actors/fakes.js';
import { natsSkip, startNatsServer } from '../helpers/nats_server.js';

const opensslMissing = spawnSync('openssl', ['version']).status !== 0;

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makeCerts(dir: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=rlhf-test-ca']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}-key.pem`, '-out', `${who}.csr`, '-subj', `/CN=${who}`]);
    openssl(dir, ['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${who}.pem`, '-days', '1', '-extfile', 'san.ext']);
  }
}

const skip = natsSkip() || (opensslMissing ? 'needs openssl' : false);

describe('TLS and nkey authentication', { skip, timeout: 120_000 }, () => {
  it('a TLS server requiring client certificates accepts the bus with CA, cert and key, and refuses it without them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhf-tls-'));
    makeCerts(dir);
    const f = (n: string): string => join(dir, n);
    const server = await startNatsServer({ extraConfig: `tls { cert_file: ${JSON.stringify(f('server.pem'))}, key_file: ${JSON.stringify(f('server-key.pem'))}, ca_file: ${JSON.stringify(f('ca.pem'))}, verify: true, timeout: 5 }` });
    const bus = (extra: Record<string, unknown>) => config({ bus: { kind: 'nats', servers: [server.url], ...extra } }).bus;
    try {
      const ok = await NatsBus.connect(bus({ tlsCaFile: f('ca.pem'), tlsCertFile: f('client.pem'), tlsKeyFile: f('client-key.pem') }), 'tls-run', { log: () => {} });
      await ok.publish('prompts', { type: 'prompt', v: 1, runId: 'tls-run', promptId: 'q', epoch: 0, text: 't', tokens: [1], createdAt: 0 });
      await ok.destroy();
      await ok.close();
      // The CA alone: the server wants a client certificate.
      await assert.rejects(NatsBus.connect(bus({ tlsCaFile: f('ca.pem') }), 'tls-run', { log: () => {} }), /cannot connect|refused|certificate|TLS|handshake/i);
      // No TLS at all against a server that requires it.
      await assert.rejects(NatsBus.connect(bus({}), 'tls-run', { log: () => {} }), /cannot connect|TLS|tls|refused/i);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an nkey user signs in with its seed; a wrong seed is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhf-nkey-'));
    const user = nkeys.createUser();
    const stranger = nkeys.createUser();
    const seedFile = join(dir, 'user.nk');
    const strangerFile = join(dir, 'stranger.nk');
    writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()) + '\n', { mode: 0o600 });
    writeFileSync(strangerFile, new TextDecoder().decode(stranger.getSeed()) + '\n', { mode: 0o600 });
    const server = await startNatsServer({ extraConfig: `authorization { users: [ { nkey: ${JSON.stringify(user.getPublicKey())} } ] }` });
    const bus = (seed: string) => config({ bus: { kind: 'nats', servers: [server.url], nkeySeedFile: seed } }).bus;
    try {
      const ok = await NatsBus.connect(bus(seedFile), 'nk-run', { log: () => {} });
      await ok.weights.put(1, 1, new Uint8Array([1, 2]));
      assert.equal((await ok.weights.latest())!.version, 1);
      await ok.destroy();
      await ok.close();
      await assert.rejects(NatsBus.connect(bus(strangerFile), 'nk-run', { log: () => {} }), /authorization violation/);
      await assert.rejects(NatsBus.connect(config({ bus: { kind: 'nats', servers: [server.url] } }).bus, 'nk-run', { log: () => {} }), /authorization violation/);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
