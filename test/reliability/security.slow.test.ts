// Security guarantees: NATS auth (token, user/password; from config and from the environment), loopback-only servers by
// default, decoding limits (size checked before decoding, no prototype pollution), bounds-checked checkpoint headers.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Unpackr } from 'msgpackr';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { loadConfig } from '../../src/config/index.js';
import { attachMonitor } from '../../src/monitor/index.js';
import { createCodec } from '../../src/streams/codec.js';
import { createBus } from '../../src/streams/index.js';
import { InProcessBus } from '../../src/streams/inprocess/bus.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { freePort, natsSkip, startNatsServer, type NatsServerHandle } from '../helpers/nats_server.js';
import { config, until } from '../actors/fakes.js';
import { hostileMessages, pack, prototypeFingerprint } from './hostile.js';

const quiet = { log: () => {} };

describe('NATS authentication', { skip: natsSkip() }, () => {
  let tokenServer: NatsServerHandle;
  let userServer: NatsServerHandle;
  before(async () => {
    tokenServer = await startNatsServer({ auth: { token: 's3cret-token' } });
    userServer = await startNatsServer({ auth: { user: 'alice', pass: 'pa55word' } });
  });
  after(async () => {
    await tokenServer?.stop();
    await userServer?.stop();
  });

  const busCfg = (server: NatsServerHandle, sets: string[] = [], env: Record<string, string> = {}) =>
    loadConfig({ overrides: ['bus.kind=nats', `bus.servers=${server.url}`, ...sets], env }).bus;

  it('a server requiring a token refuses a bus without one, or with a wrong one, with a clear error', async () => {
    const refused = /NATS server at nats:\/\/127\.0\.0\.1:\d+ refused the connection: authorization violation; set bus\.token \/ bus\.user\+bus\.pass \/ bus\.credsFile/;
    const t0 = Date.now();
    await assert.rejects(createBus(busCfg(tokenServer), 'auth-none', quiet), refused);
    await assert.rejects(createBus(busCfg(tokenServer, ['bus.token=wrong']), 'auth-wrong', quiet), refused);
    assert.ok(Date.now() - t0 < 5000, 'refused at once, not retried forever');
  });

  it('the right token is accepted from bus.token and from RLHF_STREAM_NATS_TOKEN', async () => {
    for (const cfg of [busCfg(tokenServer, ['bus.token=s3cret-token']), busCfg(tokenServer, [], { RLHF_STREAM_NATS_TOKEN: 's3cret-token' })]) {
      const bus = await NatsBus.connect(cfg, `auth-token-${Date.now()}`, quiet);
      try {
        await bus.publish('metrics', { type: 'metrics', v: 1, runId: bus.runId, actorId: 'a', role: 'r', ts: 1, values: { x: 1 } });
        assert.equal(bus.counters().published.metrics, 1);
      } finally {
        await bus.destroy();
        await bus.close();
      }
    }
  });

  it('a user/password server refuses a missing or wrong password and accepts bus.user with bus.pass or RLHF_STREAM_NATS_PASS', async () => {
    const refused = /refused the connection: authorization violation/;
    await assert.rejects(createBus(busCfg(userServer), 'auth-anon', quiet), refused);
    await assert.rejects(createBus(busCfg(userServer, ['bus.user=alice']), 'auth-nopass', quiet), refused);
    await assert.rejects(createBus(busCfg(userServer, ['bus.user=alice', 'bus.pass=guess']), 'auth-badpass', quiet), refused);
    for (const cfg of [busCfg(userServer, ['bus.user=alice', 'bus.pass=pa55word']), busCfg(userServer, ['bus.user=alice'], { RLHF_STREAM_NATS_PASS: 'pa55word' })]) {
      const bus = await createBus(cfg, `auth-user-${Date.now()}`, quiet);
      try {
        assert.equal(bus.kind, 'nats');
      } finally {
        await (bus as NatsBus).destroy();
        await bus.close();
      }
    }
  });
});

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('servers bind to loopback by default', () => {
  it('the dashboard and /metrics listen on 127.0.0.1 unless monitor.host says otherwise', async () => {
    const ext = externalAddress();
    for (const host of [undefined, '0.0.0.0']) {
      const metricsPort = await freePort();
      const cfg = config({ monitor: { metricsPort, ...(host ? { host } : {}) } });
      assert.equal(cfg.monitor.host, host ?? '127.0.0.1');
      const bus = new InProcessBus(cfg.bus, 'bind', quiet);
      const m = await attachMonitor(bus, cfg, { serve: true, port: 0, log: () => {}, drainMs: 0 });
      try {
        const dashPort = Number(new URL(m.url!).port);
        if (!host) {
          assert.match(m.url!, /^http:\/\/127\.0\.0\.1:\d+\/$/);
          assert.match(m.metricsUrl!, /^http:\/\/127\.0\.0\.1:\d+/);
        }
        assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status, 200);
        assert.equal((await fetch(`http://127.0.0.1:${dashPort}/`)).status, 200);
        if (ext) {
          assert.equal(await canConnect(ext, dashPort), host !== undefined, `dashboard reachable on ${ext}`);
          assert.equal(await canConnect(ext, metricsPort), host !== undefined, `/metrics reachable on ${ext}`);
        }
      } finally {
        await m.stop();
        await bus.close();
      }
    }
  });
});

describe('decoding limits', () => {
  it('a message over bus.maxPayloadBytes is refused before the decoder reads it', () => {
    const codec = createCodec({ maxPayloadBytes: 4096 });
    const proto = Unpackr.prototype as unknown as { unpack: (...a: unknown[]) => unknown };
    const original = proto.unpack;
    let calls = 0;
    proto.unpack = function (this: unknown, ...a: unknown[]) {
      calls++;
      return original.apply(this, a);
    };
    try {
      assert.deepEqual(codec.decode(pack({ ok: 1 })), { ok: 1 });
      assert.equal(calls, 1, 'the spy sees decoding');
      // A 100 MB claim in a 5-byte header would make a decoder allocate; over the limit, it is never looked at.
      const big = new Uint8Array(4097);
      big.set([0xc6, 0x05, 0xf5, 0xe1, 0x00]);
      assert.throws(() => codec.decode(big), /message is 4097 bytes, over bus.maxPayloadBytes 4096/);
      assert.equal(calls, 1, 'the oversized message never reached the decoder');
      assert.throws(() => codec.encode({ s: 'x'.repeat(5000) }), /encoded message is \d+ bytes, over bus.maxPayloadBytes 4096/);
    } finally {
      proto.unpack = original;
    }
  });

  it('decoding hostile payloads never changes Object.prototype', () => {
    const before = prototypeFingerprint();
    const codec = createCodec({ maxPayloadBytes: 1 << 20 });
    const hostile = hostileMessages('sec', 16).filter((h) => /__proto__|constructor/.test(h.name));
    assert.ok(hostile.length >= 8);
    const extra = [
      JSON.parse('{"__proto__": {"polluted": "yes"}}'),
      JSON.parse('{"a": [{"b": {"__proto__": {"polluted": "yes"}}}]}'),
      { constructor: { prototype: { polluted: 'yes' } } },
      JSON.parse('{"prototype": {"polluted": "yes"}}'),
    ].map(pack);
    for (const bytes of [...hostile.map((h) => h.bytes), ...extra]) assert.throws(() => codec.decode(bytes), /forbidden key/);
    assert.equal(prototypeFingerprint(), before);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  });
});

describe('checkpoint header bounds', () => {
  const base = async (): Promise<string> => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rel-hdr-')), 'ck');
    await saveCheckpoint(dir, { weights: { w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } }, config: {} });
    return dir;
  };
  /** A model.safetensors with the given 8-byte header length and header JSON, then `data` bytes. */
  const craft = (len: bigint, header: string, data = 8): Uint8Array => {
    const json = Buffer.from(header);
    const out = new Uint8Array(8 + json.length + data);
    new DataView(out.buffer).setBigUint64(0, len, true);
    out.set(json, 8);
    return out;
  };
  const entry = (offsets: unknown, shape: unknown = [2]): string => JSON.stringify({ w: { dtype: 'F32', shape, data_offsets: offsets } });

  it('a header length of 2^53, 2^64-1 or beyond the file, and negative, reversed or out-of-file offsets are refused with the reason', async () => {
    const cases: [Uint8Array, RegExp][] = [
      [craft(2n ** 53n, entry([0, 8])), /has a header length of 9007199254740992 bytes, more than the limit of 100000000/],
      [craft(2n ** 64n - 1n, entry([0, 8])), /has a header length of 18446744073709551615 bytes, more than the limit/],
      [craft(5000n, entry([0, 8])), /is truncated: header length says 5000 bytes, but only \d+ follow it/],
      [craft(BigInt(entry([-8, 0]).length), entry([-8, 0])), /data_offsets \[-8,0\]; expected \[begin, end\] with 0 <= begin <= end/],
      [craft(BigInt(entry([8, 0]).length), entry([8, 0])), /data_offsets \[8,0\]; expected \[begin, end\] with 0 <= begin <= end/],
      [craft(BigInt(entry([0, 2 ** 60]).length), entry([0, 2 ** 60])), /data_offsets \[0,1152921504606847000\]/],
      [craft(BigInt(entry([0, 8], [2 ** 40]).length), entry([0, 8], [2 ** 40])), /needs 4398046511104 bytes, but data_offsets \[0, 8\] span 8/],
      [craft(BigInt(entry([0, 8], [-2]).length), entry([0, 8], [-2])), /shape \[-2\]; a shape is a list of non-negative integers/],
      [craft(BigInt(entry([0, 16], [4]).length), entry([0, 16], [4])), /is truncated: header says 16 bytes of tensor data, file has 8/],
    ];
    for (const [bytes, reason] of cases) {
      const dir = await base();
      writeFileSync(join(dir, 'model.safetensors'), bytes);
      await assert.rejects(loadCheckpoint(dir), (err: Error) => {
        assert.ok(err instanceof CheckpointError, String(err));
        assert.match(err.message, reason);
        assert.match(err.message, /model\.safetensors/);
        return true;
      });
    }
  });
});

describe('a dead letter never grows past the limit', () => {
  it('a near-limit poison message becomes a letter that fits bus.maxPayloadBytes', async () => {
    const bus = new InProcessBus(config({ bus: { maxPayloadBytes: 2048 } }).bus, 'cap', quiet);
    const sub = bus.consume('pairs', { durable: 'x' });
    const dead = bus.consume('dead', { durable: 'audit' });
    try {
      await bus.publishRaw('pairs', new Uint8Array(2040).fill(0xc1));
      // A pull on the pairs consumer makes the bus deliver, and so dead-letter, the poison message; the pull itself waits on.
      void sub[Symbol.asyncIterator]().next();
      const letter = await dead[Symbol.asyncIterator]().next();
      assert.equal(letter.done, false);
      assert.match(letter.value!.data.reason, /payload cut to its first \d+ of 2040 bytes to fit bus.maxPayloadBytes 2048/);
      assert.ok(letter.value!.data.payload.length < 2040);
      await until(() => bus.counters().deadLettered.pairs === 1);
    } finally {
      await sub.stop();
      await dead.stop();
      await bus.close();
    }
  });
});
