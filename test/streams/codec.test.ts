// The codec keeps typed arrays, writes plain maps, bounds sizes and refuses prototype keys.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr, Unpackr } from 'msgpackr';
import { CodecError, createCodec } from '../../src/streams/codec.js';

const codec = createCodec({ maxPayloadBytes: 4096 });

describe('codec', () => {
  it('round-trips a Float32Array as a Float32Array and writes maps any msgpack reader can read', () => {
    const msg = { a: 1, b: 'x', w: new Float32Array([1.5, -2.25, 3]), bytes: new Uint8Array([1, 2]) };
    const bytes = codec.encode(msg);
    const back = codec.decode(bytes) as typeof msg;
    assert.ok(back.w instanceof Float32Array);
    assert.deepEqual([...back.w], [1.5, -2.25, 3]);
    assert.ok(back.bytes instanceof Uint8Array);
    // A standard map header (msgpackr writes map16, 0xde, with a 2-byte count of 4), not a record extension.
    assert.deepEqual([...bytes.subarray(0, 3)], [0xde, 0, 4]);
    const plain = new Unpackr({ mapsAsObjects: true }).unpack(bytes) as Record<string, unknown>;
    assert.equal(plain.b, 'x');
  });

  it('refuses oversized messages before decoding and when encoding', () => {
    const big = new Uint8Array(5000);
    assert.throws(() => codec.decode(big), (e: unknown) => e instanceof CodecError && /5000 bytes, over bus.maxPayloadBytes 4096/.test(e.message));
    assert.throws(() => codec.encode({ s: 'x'.repeat(5000) }), CodecError);
  });

  it('refuses prototype keys at any depth, naming the key as it was sent', () => {
    const raw = new Packr({ useRecords: false });
    // Built by hand: a literal {__proto__: ...} would set the prototype instead of an own key.
    const poisoned = JSON.parse('{"a": {"__proto__": {"polluted": true}}}');
    // msgpackr renames __proto__ to __proto_ while decoding; the reason still names what the sender wrote.
    assert.throws(() => codec.decode(raw.pack(poisoned)), /forbidden key "__proto__" at \$\.a$/);
    assert.throws(() => codec.decode(raw.pack({ a: { __proto_: 1 } })), /forbidden key "__proto_" at \$\.a$/);
    assert.throws(() => codec.decode(raw.pack({ list: [{ constructor: { prototype: 1 } }] })), /forbidden key "constructor" at \$\.list\[0\]/);
    assert.throws(() => codec.decode(raw.pack({ prototype: 1 })), /forbidden key "prototype"/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('refuses malformed msgpack and class instances from extensions', () => {
    assert.throws(() => codec.decode(new Uint8Array([0xc1, 0xff, 0])), /not valid msgpack/);
    assert.throws(() => codec.decode(new Uint8Array(0)), /empty/);
    const withMoreTypes = new Packr({ useRecords: false, moreTypes: true });
    assert.throws(() => codec.decode(withMoreTypes.pack({ when: new Set([1]) })), /holds a Set object at \$\.when/);
    assert.throws(() => codec.decode(withMoreTypes.pack({ re: /a+/ })), /RegExp/);
  });

  it('returns independent buffers from successive encodes', () => {
    const a = codec.encode({ n: 1 });
    const b = codec.encode({ n: 2 });
    assert.deepEqual(codec.decode(a), { n: 1 });
    assert.deepEqual(codec.decode(b), { n: 2 });
  });

  it('reads integers written in the 8-byte formats (as Go writes int64 fields) as numbers; beyond 2^53 they stay BigInt and are refused', async () => {
    const { validate } = await import('../../src/streams/schemas.js');
    // {"v": uint64 1, "n": int64 -5, "big": uint64 2^60} in the fixed 9-byte formats 0xcf / 0xd3.
    const u64 = (n: bigint): number[] => [0xcf, ...new Uint8Array(new BigUint64Array([n]).buffer).reverse()];
    const i64 = (n: bigint): number[] => [0xd3, ...new Uint8Array(new BigInt64Array([n]).buffer).reverse()];
    const str = (t: string): number[] => [0xa0 | t.length, ...new TextEncoder().encode(t)];
    const bytes = new Uint8Array([0x83, ...str('v'), ...u64(1n), ...str('n'), ...i64(-5n), ...str('big'), ...u64(1n << 60n)]);
    const value = codec.decode(bytes) as Record<string, unknown>;
    assert.equal(value.v, 1);
    assert.equal(value.n, -5);
    assert.equal(typeof value.big, 'bigint');
    const r = validate('dead', { type: 'dead_letter', v: 1, runId: 'r', topic: 'samples', reason: 'x', deliveries: value.big, payload: new Uint8Array(0), ts: 0 });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /dead.deliveries must be an integer >= 0; got bigint/);
  });
});
