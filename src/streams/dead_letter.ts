// Encodes a dead letter so that it always fits the publish limit: a near-limit or oversized payload is cut, never refused.
import { CodecError, type Codec } from './codec.js';
import { SCHEMA_VERSION, type DeadLetterMsg, type TopicName } from './topics.js';

/** The validator's bound on a letter's reason (schemas.ts, dead). */
const MAX_REASON_CHARS = 4096;

/**
 * Room left for the message headers: the server's max_payload and a stream's max_msg_size count headers too, and every
 * publish carries a `Nats-Msg-Id` (about 40 bytes with the framing). A letter is at most the publish limit minus this.
 */
export const DEAD_LETTER_HEADER_RESERVE = 512;

/**
 * The letter carries the original bytes so an operator can inspect them; when they (plus the reason) would not fit in one
 * message, only a prefix is kept and the reason says how much was cut. Failing to encode the letter instead would leave
 * the poison message unsettled, or throw inside the consumer that found it. The limit is bus.maxPayloadBytes unless the
 * bus knows a smaller one (the connected NATS server's max_payload); `limitName` says which, for the reason.
 */
export function encodeDeadLetter(
  codec: Codec,
  letter: { runId: string; topic: TopicName; reason: string; deliveries: number; payload: Uint8Array; ts: number },
  publishLimit: { bytes: number; name: string } = { bytes: codec.maxPayloadBytes, name: 'bus.maxPayloadBytes' },
): Uint8Array {
  // A Buffer view (no copy): msgpackr writes a Buffer as msgpack bin, a plain Uint8Array as its typed-array extension,
  // which other languages cannot read as bytes.
  const payload = Buffer.from(letter.payload.buffer, letter.payload.byteOffset, letter.payload.byteLength);
  const reason = letter.reason.length > MAX_REASON_CHARS ? `${letter.reason.slice(0, MAX_REASON_CHARS - 3)}...` : letter.reason;
  const msg: DeadLetterMsg = { type: 'dead_letter', v: SCHEMA_VERSION, runId: letter.runId, topic: letter.topic, reason, deliveries: letter.deliveries, payload, ts: letter.ts };
  const limit = Math.max(0, Math.min(codec.maxPayloadBytes, publishLimit.bytes) - DEAD_LETTER_HEADER_RESERVE);
  try {
    const whole = codec.encode(msg);
    if (whole.length <= limit) return whole;
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
  }
  const note = ` (payload cut to its first %d of ${letter.payload.length} bytes to fit ${publishLimit.name} ${publishLimit.bytes} with headers)`;
  const shortReason = reason.slice(0, MAX_REASON_CHARS - note.length - 12);
  // The envelope without payload bytes, plus msgpack's bin32 header, bounds what the payload may still take.
  const envelope = codec.encode({ ...msg, reason: shortReason + note.replace('%d', String(letter.payload.length)), payload: new Uint8Array(0) }).length + 8;
  const keep = Math.max(0, limit - envelope);
  return codec.encode({ ...msg, reason: shortReason + note.replace('%d', String(keep)), payload: payload.subarray(0, keep) });
}
