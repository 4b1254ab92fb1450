// The wire encoding: msgpack maps (readable from any language), typed arrays kept, size bounded, prototype keys refused.
import { Packr, type Options } from 'msgpackr';

export class CodecError extends Error {
  override name = 'CodecError';
}

export interface Codec {
  /** Throws a CodecError when the encoded message is larger than the limit. */
  encode(msg: unknown): Uint8Array;
  /** Throws a CodecError for oversized input, malformed msgpack, or keys that could reach a prototype. */
  decode(bytes: Uint8Array): unknown;
  readonly maxPayloadBytes: number;
}

/**
 * Keys refused anywhere in a decoded message. msgpackr renames `__proto__` to `__proto_` while decoding to objects,
 * so both spellings are listed: either one in a payload means a crafted message, not a bug worth tolerating.
 * The reason is written from a second decode to Maps, which keep each key as it was sent.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', '__proto_', 'constructor', 'prototype']);

/** Nesting deeper than any payload in topics.ts needs; bounds the walk below against crafted input. */
const MAX_DEPTH = 16;

/** Walks a message decoded with msgpack maps as Maps (keys as sent) and throws a CodecError naming the first fault. */
function checkDecoded(value: unknown, path: string, depth: number): void {
  if (value === null || typeof value !== 'object') return;
  if (depth > MAX_DEPTH) throw new CodecError(`message nests deeper than ${MAX_DEPTH} levels at ${path}`);
  if (ArrayBuffer.isView(value)) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkDecoded(value[i], `${path}[${i}]`, depth + 1);
    return;
  }
  // Extensions (Set, Date, RegExp, Error) decode to class instances; no payload uses them, so they are refused.
  if (!(value instanceof Map)) {
    throw new CodecError(`message holds a ${(value as object).constructor?.name ?? 'non-plain'} object at ${path}; only maps, arrays, typed arrays and scalars are accepted`);
  }
  for (const [k, v] of value) {
    const key = String(k);
    if (FORBIDDEN_KEYS.has(key)) throw new CodecError(`message has forbidden key ${JSON.stringify(key)} at ${path}`);
    checkDecoded(v, `${path}.${key}`, depth + 1);
  }
}

/**
 * The same checks as checkDecoded without building a path per element (that dominated decoding time on token arrays):
 * true when the value passes. Only a failing message pays for the walk that names where.
 */
function decodedOk(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth > MAX_DEPTH) return false;
  if (ArrayBuffer.isView(value)) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const x: unknown = value[i];
      if (x !== null && typeof x === 'object' && !decodedOk(x, depth + 1)) return false;
    }
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    if (FORBIDDEN_KEYS.has(key)) return false;
    const x = (value as Record<string, unknown>)[key];
    if (x !== null && typeof x === 'object' && !decodedOk(x, depth + 1)) return false;
  }
  return true;
}

export function createCodec(opts: { maxPayloadBytes: number }): Codec {
  const maxPayloadBytes = opts.maxPayloadBytes;
  // useRecords: false writes plain msgpack maps (msgpackr records are a private extension other languages cannot read);
  // moreTypes keeps Float32Array as Float32Array; structuredClone: false refuses the reference extensions.
  // int64AsType 'auto': other languages often write integers in the 8-byte formats (Go's msgpack does for int64 fields);
  // those within 2^53 decode as numbers, larger ones stay BigInt, which every integer field refuses.
  // (msgpackr implements 'auto'; its typings list only 'bigint' | 'number' | 'string'.)
  const options = { moreTypes: true, useRecords: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'auto' };
  const packr = new Packr(options as unknown as Options);
  const mapPackr = new Packr({ ...options, mapsAsObjects: false } as unknown as Options);
  return {
    maxPayloadBytes,
    encode(msg) {
      const bytes = packr.pack(msg);
      if (bytes.length > maxPayloadBytes) {
        throw new CodecError(`encoded message is ${bytes.length} bytes, over bus.maxPayloadBytes ${maxPayloadBytes}`);
      }
      return bytes;
    },
    decode(bytes) {
      if (bytes.length > maxPayloadBytes) {
        throw new CodecError(`message is ${bytes.length} bytes, over bus.maxPayloadBytes ${maxPayloadBytes}`);
      }
      if (bytes.length === 0) throw new CodecError('message is empty');
      let value: unknown;
      try {
        value = packr.unpack(bytes);
      } catch (err) {
        throw new CodecError(`message is not valid msgpack: ${(err as Error).message}`);
      }
      if (!decodedOk(value, 0)) {
        checkDecoded(mapPackr.unpack(bytes), '$', 0); // throws, naming the offending path and key as sent
        throw new CodecError('message was refused by the decoded-value checks');
      }
      return value;
    },
  };
}
