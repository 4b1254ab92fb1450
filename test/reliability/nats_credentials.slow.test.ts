// `rlhf-stream nats-config --auth nkey|jwt`, run as a user would: a real nats-server started with the written auth.conf
// accepts each actor's own nkey seed or .creds file, applies its role's permissions, and refuses everything else.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BusConfig } from '../../src/config/index.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { ensureRunConsumers } from '../../src/run/run_consumers.js';
import { config, pair } from '../actors/fakes.js';
import { natsSkip, startNatsServer } from '../helpers/nats_server.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const RUN = 'creds';

function natsConfig(out: string, auth: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'nats-config', '--run', RUN, '--out', out, '--auth', auth, '--generators', '1', '--judges', '1'], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('nats-config nkeys and JWT credentials against a real server', { skip: natsSkip(), timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlhf-creds-'));

  it('refuses an unknown --auth, naming the accepted ones', () => {
    const r = natsConfig(join(dir, 'x'), 'token');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--auth must be one of password, nkey, jwt; got "token"/);
  });

  for (const auth of ['nkey', 'jwt'] as const) {
    it(`--auth ${auth}: each actor signs in with its own file and keeps to its role; other material is refused`, async () => {
      const out = join(dir, auth);
      const r = natsConfig(out, auth);
      assert.equal(r.status, 0, r.stderr);
      const file = (actor: string): string => join(out, `${actor}.${auth === 'nkey' ? 'nk' : 'creds'}`);
      // A second, unrelated setup: its files belong to another server's users (another operator, other keys).
      const other = join(dir, `${auth}-other`);
      assert.equal(natsConfig(other, auth).status, 0);
      const server = await startNatsServer({ extraConfig: readFileSync(join(out, 'auth.conf'), 'utf8') });
      const buses: NatsBus[] = [];
      const bus = (actor: string, f = file(actor)): BusConfig =>
        config({ bus: { kind: 'nats', servers: [server.url], inboxPrefix: `_INBOX_${actor}`, ...(auth === 'nkey' ? { nkeySeedFile: f } : { credsFile: f }) } }).bus;
      const connect = async (c: BusConfig): Promise<NatsBus> => {
        const b = await NatsBus.connect(c, RUN, { log: () => {} });
        buses.push(b);
        return b;
      };
      try {
        const cfg = config({ bus: { kind: 'nats' } });
        const admin = await connect(bus('admin'));
        await ensureRunConsumers(admin, cfg);
        const judge = await connect(bus('judge-0'));
        await judge.publish('pairs', pair('p1', 0, 0, RUN));
        const generator = await connect(bus('generator-0'));
        await assert.rejects(generator.publish('pairs', pair('p2', 0, 0, RUN)), /permissions violation/i, 'a generator publishes no pair');
        assert.equal((await admin.jsm.streams.info(`RLHF_${RUN}_PAIRS`)).state.messages, 1);

        await assert.rejects(NatsBus.connect(bus('generator-0', join(other, `generator-0.${auth === 'nkey' ? 'nk' : 'creds'}`)), RUN, { log: () => {} }), /authorization violation/, 'a file of another setup');
        await assert.rejects(NatsBus.connect(config({ bus: { kind: 'nats', servers: [server.url] } }).bus, RUN, { log: () => {} }), /authorization violation/, 'no credentials');
        if (auth === 'jwt') {
          // The generator's JWT with the judge's seed: the server's nonce signature does not match the JWT's key.
          const seed = (f: string): string => /-----BEGIN USER NKEY SEED-----\s*(\S+)/.exec(readFileSync(f, 'utf8'))![1]!;
          const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)/.exec(readFileSync(file('generator-0'), 'utf8'))![1]!;
          const forged = join(dir, 'forged.creds');
          writeFileSync(forged, readFileSync(file('judge-0'), 'utf8').replace(/-----BEGIN NATS USER JWT-----\s*\S+/, `-----BEGIN NATS USER JWT-----\n${jwt}`));
          assert.notEqual(seed(forged), seed(file('generator-0')));
          await assert.rejects(NatsBus.connect(bus('generator-0', forged), RUN, { log: () => {} }), /authorization violation/, "a JWT with another user's seed");
        }
      } finally {
        for (const b of buses.reverse()) await b.close();
        await server.stop();
      }
    });
  }

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
