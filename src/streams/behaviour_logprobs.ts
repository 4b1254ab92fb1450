// Behaviour log-probs on the wire: one little-endian float32 per response token, as msgpack bytes any language reads.

/** Bytes per token: float32 keeps rounding (about 1e-7 relative) far below any mismatch worth reporting. */
export const LOGPROB_BYTES = 4;

/**
 * Packs per-token log-probs as little-endian float32 bytes. A Buffer, because msgpackr writes a Buffer as msgpack bin and
 * a plain Uint8Array as its typed-array extension, which other languages' decoders refuse.
 */
export function encodeLogprobs(values: readonly number[]): Uint8Array {
  const out = Buffer.alloc(values.length * LOGPROB_BYTES);
  values.forEach((v, i) => out.writeFloatLE(v, i * LOGPROB_BYTES));
  return out;
}

/** Unpacks bytes written by encodeLogprobs (any byte offset: a decoded message's bytes may sit anywhere in a buffer). */
export function decodeLogprobs(bytes: Uint8Array): Float32Array {
  const n = Math.floor(bytes.length / LOGPROB_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * LOGPROB_BYTES, true);
  return out;
}
