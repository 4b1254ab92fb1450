// The safetensors format (huggingface/safetensors): encode, and decode with every length and offset bounds-checked.
//
// Layout: 8-byte little-endian u64 header length N; N bytes of UTF-8 JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, padded with spaces;
// then the tensors' raw little-endian bytes, offsets relative to the end of the header.

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export type TensorDtype = 'F32' | 'I32';
export type TensorRecord = Record<string, { dtype: TensorDtype; shape: number[]; data: Float32Array | Int32Array }>;

export interface DecodeOptions {
  /** Refuse headers larger than this (the reference implementation's limit: 100 MB). */
  maxHeaderBytes?: number;
  /** What to call the bytes in errors, e.g. the file path. */
  source?: string;
  /**
   * F32 and I32 tensors as views into `bytes` (no copy) where their data is 4-byte aligned and the host little-endian;
   * for bytes that outlive the tensors and are never written again (a version in shared memory), else copies.
   */
  alias?: boolean;
}

/** Bytes per element of each dtype we read; F16 and BF16 are widened to F32 on decode. */
const DTYPE_BYTES: Record<string, number> = { F32: 4, I32: 4, F16: 2, BF16: 2 };
const METADATA_KEY = '__metadata__';
const DEFAULT_MAX_HEADER = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Serialises tensors (sorted by name, contiguous, in that order) and string metadata. */
/** `shared`: write into a SharedArrayBuffer (bytes that threads of the process will share) instead of a plain buffer. */
export function encodeSafetensors(tensors: TensorRecord, metadata?: Record<string, string>, opts: { shared?: boolean } = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata ${JSON.stringify(k)} must be a string; got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    if (name === METADATA_KEY || name === '') throw new SafetensorsError(`tensor name ${JSON.stringify(name)} is reserved or empty`);
    const expected = t.dtype === 'F32' ? Float32Array : t.dtype === 'I32' ? Int32Array : undefined;
    if (expected === undefined) throw new SafetensorsError(`tensor ${JSON.stringify(name)} has dtype ${JSON.stringify(t.dtype)}; encodable dtypes are F32, I32`);
    if (!(t.data instanceof expected)) throw new SafetensorsError(`tensor ${JSON.stringify(name)} is ${t.dtype} but its data is a ${t.data.constructor.name}`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`tensor ${JSON.stringify(name)} has an invalid shape [${t.shape}]`);
    if (numelOf(t.shape) !== t.data.length) {
      throw new SafetensorsError(`tensor ${JSON.stringify(name)} has shape [${t.shape}] (${numelOf(t.shape)} values) but ${t.data.length} values`);
    }
    const size = t.data.length * 4;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the tensor data starts 8-byte aligned, as the reference writer does.
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const total = 8 + json.length + offset;
  const out = opts.shared ? new Uint8Array(new SharedArrayBuffer(total)) : new Uint8Array(total);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const data = tensors[name]!.data;
    if (LITTLE_ENDIAN) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    else writeBigEndianHost(out, at, data);
    at += data.byteLength;
  }
  return out;
}

function writeBigEndianHost(out: Uint8Array, at: number, data: Float32Array | Int32Array): void {
  const view = new DataView(out.buffer, out.byteOffset + at, data.byteLength);
  if (data instanceof Float32Array) data.forEach((x, i) => view.setFloat32(i * 4, x, true));
  else data.forEach((x, i) => view.setInt32(i * 4, x, true));
}

interface RawEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses safetensors bytes, refusing anything inconsistent with a SafetensorsError that says what is wrong. */
export function decodeSafetensors(bytes: Uint8Array, opts: DecodeOptions = {}): { tensors: TensorRecord; metadata: Record<string, string> } {
  const src = opts.source ?? 'safetensors data';
  const maxHeader = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER;
  const fail = (what: string): never => {
    throw new SafetensorsError(`${src} ${what}`);
  };
  if (bytes.length < 8) fail(`is truncated: ${bytes.length} bytes, too short for the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(maxHeader)) fail(`has a header length of ${n} bytes, more than the limit of ${maxHeader}`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.length) fail(`is truncated: header length says ${headerLen} bytes, but only ${bytes.length - 8} follow it`);
  const entries = parseHeader(bytes.subarray(8, 8 + headerLen), fail);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  checkLayout(entries.tensors, dataLen, fail);
  const tensors: TensorRecord = {};
  for (const e of entries.tensors) tensors[e.name] = readTensor(bytes, dataStart, e, opts.alias === true);
  return { tensors, metadata: entries.metadata };
}

function parseHeader(raw: Uint8Array, fail: (what: string) => never): { tensors: RawEntry[]; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return fail('has a header that is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`has a header that does not start with "{": ${JSON.stringify(text.slice(0, 40))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`has a header that is not valid JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('has a header that is not a JSON object');
  const metadata: Record<string, string> = {};
  const tensors: RawEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`has a ${METADATA_KEY} that is not an object of strings`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`has metadata ${JSON.stringify(k)} that is not a string: ${JSON.stringify(v)}`);
        metadata[k] = v as string;
      }
      continue;
    }
    tensors.push(parseEntry(name, value, fail));
  }
  return { tensors, metadata };
}

function parseEntry(name: string, value: unknown, fail: (what: string) => never): RawEntry {
  const what = `tensor ${JSON.stringify(name)}`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail(`has a header entry for ${what} that is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || DTYPE_BYTES[dtype] === undefined) {
    fail(`has ${what} with dtype ${JSON.stringify(dtype)}; supported dtypes are ${Object.keys(DTYPE_BYTES).join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`has ${what} with shape ${JSON.stringify(shape)}; a shape is a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    fail(`has ${what} with data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  const expected = numelOf(shape as number[]) * DTYPE_BYTES[dtype as string]!;
  if (end - begin !== expected) {
    fail(`has ${what} ${dtype} [${(shape as number[]).join(', ')}] that needs ${expected} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype: dtype as string, shape: shape as number[], begin, end };
}

/** Tensors must tile the data section exactly: no gaps, no overlaps, nothing missing, nothing left over. */
function checkLayout(entries: RawEntry[], dataLen: number, fail: (what: string) => never): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev: RawEntry | undefined;
  for (const e of sorted) {
    if (e.begin < at) {
      fail(`has overlapping tensors: ${JSON.stringify(e.name)} [${e.begin}, ${e.end}] overlaps ${JSON.stringify(prev!.name)} [${prev!.begin}, ${prev!.end}]`);
    }
    if (e.begin > at) fail(`has a gap in the tensor data: bytes [${at}, ${e.begin}) before ${JSON.stringify(e.name)} belong to no tensor`);
    at = e.end;
    prev = e;
  }
  if (at > dataLen) {
    const last = sorted[sorted.length - 1]!;
    fail(`is truncated: header says ${at} bytes of tensor data, file has ${dataLen} (tensor ${JSON.stringify(last.name)} ends at ${last.end})`);
  }
  if (at < dataLen) fail(`has ${dataLen - at} bytes after the last tensor: header says ${at} bytes of tensor data, file has ${dataLen}`);
}

function readTensor(bytes: Uint8Array, dataStart: number, e: RawEntry, alias: boolean): TensorRecord[string] {
  const n = numelOf(e.shape);
  const at = bytes.byteOffset + dataStart + e.begin;
  if (alias && LITTLE_ENDIAN && at % 4 === 0) {
    if (e.dtype === 'F32') return { dtype: 'F32', shape: e.shape, data: new Float32Array(bytes.buffer, at, n) };
    if (e.dtype === 'I32') return { dtype: 'I32', shape: e.shape, data: new Int32Array(bytes.buffer, at, n) };
  }
  // Copy into fresh, aligned memory: the tensor must not alias (or pin) the whole file buffer.
  // (Not bytes.slice: on a Node Buffer that is a view, not a copy.)
  const chunk = new Uint8Array(e.end - e.begin);
  chunk.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
  const view = new DataView(chunk.buffer);
  switch (e.dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) return { dtype: 'F32', shape: e.shape, data: new Float32Array(chunk.buffer, 0, n) };
      return { dtype: 'F32', shape: e.shape, data: Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true)) };
    case 'I32':
      if (LITTLE_ENDIAN) return { dtype: 'I32', shape: e.shape, data: new Int32Array(chunk.buffer, 0, n) };
      return { dtype: 'I32', shape: e.shape, data: Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true)) };
    case 'F16':
      return { dtype: 'F32', shape: e.shape, data: Float32Array.from({ length: n }, (_, i) => halfToFloat(view.getUint16(i * 2, true))) };
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return { dtype: 'F32', shape: e.shape, data: out };
    }
    default:
      throw new SafetensorsError(`unsupported dtype ${e.dtype}`);
  }
}

/** IEEE 754 binary16 to number, including subnormals, infinities and NaN. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
