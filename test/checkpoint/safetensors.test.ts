// safetensors: bit-exact round trip, an independent reading of the header bytes, and a clear error for each kind of damage.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type TensorRecord } from '../../src/checkpoint/safetensors.js';

const bitsOf = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function sample(): TensorRecord {
  const special = new Float32Array([0, -0, 1.5, -3.25e-38, 1e-45 /* subnormal */, Infinity, -Infinity, NaN, 3.4028235e38]);
  return {
    'h.0.attn.w': { dtype: 'F32', shape: [3, 3], data: special },
    'h.0.attn.b': { dtype: 'F32', shape: [2], data: new Float32Array([0.1, 0.2]) },
    'tokens': { dtype: 'I32', shape: [2, 2], data: new Int32Array([0, -1, 2147483647, -2147483648]) },
    'scalar': { dtype: 'F32', shape: [], data: new Float32Array([42]) },
    'empty': { dtype: 'I32', shape: [0, 4], data: new Int32Array(0) },
  };
}

/** Builds a file by hand: u64 length, header text, data bytes. */
function craft(header: string, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function expectError(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeSafetensors(bytes, { source: 'model.safetensors' }), (e: Error) => {
    assert.ok(e instanceof SafetensorsError, `${e.name}: ${e.message}`);
    assert.equal(e.name, 'SafetensorsError');
    assert.match(e.message, pattern);
    return true;
  });
}

test('encode then decode is bit-exact, metadata included', () => {
  const input = sample();
  const { tensors, metadata } = decodeSafetensors(encodeSafetensors(input, { format: 'pt', step: '12' }));
  assert.deepEqual(metadata, { format: 'pt', step: '12' });
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(input).sort());
  for (const [name, t] of Object.entries(input)) {
    const got = tensors[name]!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.equal(got.data.constructor, t.data.constructor, name);
    assert.deepEqual(bitsOf(got.data), bitsOf(t.data), `${name} bytes`);
  }
});

test('the encoded bytes follow the format, read independently of the decoder', () => {
  const bytes = encodeSafetensors(sample(), { format: 'pt' });
  let n = 0;
  for (let i = 7; i >= 0; i--) n = n * 256 + bytes[i]!;
  assert.equal((8 + n) % 8, 0, 'tensor data starts 8-byte aligned');
  const headerText = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
  assert.match(headerText, /^\{.*\} *$/);
  const header = JSON.parse(headerText) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  assert.deepEqual(header.__metadata__, { format: 'pt' });
  assert.deepEqual(header['h.0.attn.b'], { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, 'names in sorted order; "empty" takes 0 bytes');
  assert.deepEqual(header['tokens'], { dtype: 'I32', shape: [2, 2], data_offsets: [48, 64] });
  assert.equal(bytes.length, 8 + n + 64);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + 8 + n);
  assert.ok(Math.abs(dv.getFloat32(0, true) - 0.1) < 1e-7);
  assert.ok(Number.isNaN(dv.getFloat32(8 + 7 * 4, true)));
  assert.equal(dv.getInt32(48 + 8, true), 2147483647);
  assert.equal(dv.getFloat32(header['scalar']!.data_offsets[0], true), 42);
});

test('decoding a Node Buffer view at an odd offset copies the right bytes', () => {
  const bytes = encodeSafetensors(sample());
  const pool = Buffer.alloc(bytes.length + 3, 0x55);
  pool.set(bytes, 3);
  const { tensors } = decodeSafetensors(pool.subarray(3));
  assert.deepEqual(bitsOf(tensors['h.0.attn.w']!.data), bitsOf(sample()['h.0.attn.w']!.data));
  assert.deepEqual(Array.from(tensors.tokens!.data), [0, -1, 2147483647, -2147483648]);
});

test('decodes a hand-written file, widening F16 and BF16 to F32', () => {
  const data = new Uint8Array(8 + 4 + 4);
  const dv = new DataView(data.buffer);
  [0x3c00, 0xc000, 0x3800, 0x0001].forEach((h, i) => dv.setUint16(i * 2, h, true)); // 1, -2, 0.5, 2^-24
  dv.setUint16(8, 0x3f80, true); // bf16 1.0
  dv.setUint16(10, 0xc0a0, true); // bf16 -5
  dv.setInt32(12, -7, true);
  const header = '{"__metadata__":{"format":"pt"},"half":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},' +
    '"bf":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"i":{"dtype":"I32","shape":[1],"data_offsets":[12,16]}}';
  const { tensors } = decodeSafetensors(craft(header, data));
  assert.deepEqual(tensors.half, { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, -2, 0.5, 2 ** -24]) });
  assert.deepEqual(tensors.bf, { dtype: 'F32', shape: [2], data: new Float32Array([1, -5]) });
  assert.deepEqual(tensors.i, { dtype: 'I32', shape: [1], data: new Int32Array([-7]) });
});

test('damage gives a SafetensorsError that says what is wrong', () => {
  const good = encodeSafetensors(sample());
  expectError(good.subarray(0, good.length - 4), /^model\.safetensors is truncated: header says 64 bytes of tensor data, file has 60/);
  expectError(good.subarray(0, 5), /is truncated: 5 bytes, too short for the 8-byte header length/);
  expectError(craft('{}', new Uint8Array(0), 1_000_000n), /is truncated: header length says 1000000 bytes, but only 2 follow it/);
  expectError(craft('{}', new Uint8Array(0), 2n ** 40n), /header length of 1099511627776 bytes, more than the limit/);
  expectError(craft('{"a": {"dtype": "F32",'), /header that is not valid JSON/);
  expectError(craft('[1, 2]'), /header that does not start with "\{"/);
  const two = (a: [number, number], b: [number, number]) =>
    `{"a":{"dtype":"F32","shape":[2],"data_offsets":[${a}]},"b":{"dtype":"F32","shape":[2],"data_offsets":[${b}]}}`;
  expectError(craft(two([0, 8], [4, 12]), new Uint8Array(12)), /overlapping tensors: "b" \[4, 12\] overlaps "a" \[0, 8\]/);
  expectError(craft(two([0, 8], [12, 20]), new Uint8Array(20)), /gap in the tensor data: bytes \[8, 12\) before "b"/);
  expectError(craft(two([0, 8], [8, 16]), new Uint8Array(10)), /is truncated: header says 16 bytes of tensor data, file has 10 \(tensor "b" ends at 16\)/);
  expectError(craft(two([0, 8], [8, 16]), new Uint8Array(20)), /has 4 bytes after the last tensor/);
  expectError(craft('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)), /tensor "a" F32 \[3\] that needs 12 bytes, but data_offsets \[0, 8\] span 8/);
  expectError(craft('{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', new Uint8Array(8)), /data_offsets \[8,0\]; expected \[begin, end\] with 0 <= begin <= end/);
  expectError(craft('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e300]}}', new Uint8Array(8)), /data_offsets \[0,1e\+300\]/);
  expectError(craft('{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', new Uint8Array(8)), /dtype "F64"; supported dtypes are F32, I32, F16, BF16/);
  expectError(craft('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', new Uint8Array(4)), /shape \[-1\]; a shape is a list of non-negative integers/);
  expectError(craft('{"__metadata__":{"step":3}}'), /metadata "step" that is not a string: 3/);
});

test('the encoder refuses inconsistent tensors', () => {
  assert.throws(() => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), /tensor "a" has shape \[3\] \(3 values\) but 2 values/);
  assert.throws(() => encodeSafetensors({ a: { dtype: 'I32', shape: [1], data: new Float32Array(1) } }), /tensor "a" is I32 but its data is a Float32Array/);
  assert.throws(() => encodeSafetensors({ __metadata__: { dtype: 'F32', shape: [0], data: new Float32Array(0) } }), SafetensorsError);
});
