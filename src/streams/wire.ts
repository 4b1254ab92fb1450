// What both buses do at the edge of a process: validate then encode on the way out, decode then validate on the way in.
import { BusError } from './bus.js';
import { CodecError, createCodec, type Codec } from './codec.js';
import { validator, type SchemaLimits, type Validation } from './schemas.js';
import type { TopicName, Topics } from './topics.js';

export class Wire {
  readonly codec: Codec;
  private readonly validate: ReturnType<typeof validator>;

  constructor(maxPayloadBytes: number, schema?: Partial<SchemaLimits>) {
    this.codec = createCodec({ maxPayloadBytes });
    this.validate = validator(schema);
  }

  /** Encodes without validation (dead letters, weight announcements already checked); codec limits still apply. */
  encode(msg: unknown): Uint8Array {
    try {
      return this.codec.encode(msg);
    } catch (err) {
      if (err instanceof CodecError) throw new BusError(err.message);
      throw err;
    }
  }

  /** Validates, then encodes: an invalid message never reaches the wire, and the producer hears why. */
  encodeChecked<K extends TopicName>(topic: K, msg: Topics[K]): Uint8Array {
    const checked = this.validate(topic, msg);
    if (!checked.ok) throw new BusError(`refusing to publish an invalid ${topic} message: ${checked.reason}`);
    return this.encode(msg);
  }

  /** Decodes and validates as a consumer on another host would; failures become dead letters. */
  decodeFor(topic: TopicName, bytes: Uint8Array): Validation<unknown> {
    let value: unknown;
    try {
      value = this.codec.decode(bytes);
    } catch (err) {
      if (err instanceof CodecError) return { ok: false, reason: err.message };
      throw err;
    }
    return this.validate(topic, value);
  }
}
