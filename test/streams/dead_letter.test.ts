// Dead letters carry the original bytes as msgpack bin, which every language reads as bytes, whole or cut to fit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCodec } from '../../src/streams/codec.js';
import { encodeDeadLetter } from '../../src/streams/dead_letter.js';

/** The bytes that follow the map key "payload" in an encoded letter: msgpack's format byte and what comes after. */
function afterPayloadKey(bytes: Uint8Array): Uint8Array {
  const key = Buffer.concat([Buffer.from([0xa7]), Buffer.from('payload')]);
  const at = Buffer.from(bytes).indexOf(key);
  assert.ok(at >= 0, 'the letter has a payload key');
  return bytes.subarray(at + key.length);
}

test('a dead letter writes its payload as msgpack bin, not a typed-array extension', () => {
  const codec = createCodec({ maxPayloadBytes: 4096 });
  const letter = { runId: 'r', topic: 'samples' as const, reason: 'not msgpack', deliveries: 1, ts: 1 };
  // A payload as the NATS client hands it over: a plain Uint8Array, here a view into a larger buffer.
  const whole = encodeDeadLetter(codec, { ...letter, payload: new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4) });
  assert.deepEqual([...afterPayloadKey(whole).subarray(0, 5)], [0xc4, 3, 1, 2, 3]);
  // Too large for the limit: cut, and still bin (bin16 for a few thousand bytes).
  const cut = encodeDeadLetter(codec, { ...letter, payload: new Uint8Array(5000).fill(7) });
  assert.ok(cut.length <= 4096 - 512);
  assert.equal(afterPayloadKey(cut)[0], 0xc5);
  const decoded = codec.decode(cut) as { payload: Uint8Array; reason: string };
  assert.match(decoded.reason, /payload cut to its first \d+ of 5000 bytes/);
  assert.ok(decoded.payload.every((b) => b === 7));
});
