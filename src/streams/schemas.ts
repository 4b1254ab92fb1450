// Hand-written validators, one per topic: what a process accepts from the wire, with a reason naming field and value.
import { decodeLogprobs, LOGPROB_BYTES } from './behaviour_logprobs.js';
import { SCHEMA_VERSION, type TopicName, type Topics } from './topics.js';

export type Validation<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface SchemaLimits {
  /** Token ids must be below this when set (the tokenizer's vocabulary size). */
  vocabSize?: number;
  /** Longest token array accepted (prompt or response). */
  maxTokens: number;
  /** Most samples in one group. */
  maxSamples: number;
  /** Longest text accepted, in UTF-16 code units. */
  maxTextChars: number;
  /** Most entries in a metrics message. */
  maxMetricValues: number;
}

export const DEFAULT_SCHEMA_LIMITS: SchemaLimits = {
  maxTokens: 65_536,
  maxSamples: 1024,
  maxTextChars: 1_000_000,
  maxMetricValues: 4096,
};

/** Largest magnitude a metric value may have (about 2^50: integer counters stay exact below it). */
export const MAX_METRIC_MAGNITUDE = 1e15;

/** Latest time a message may carry (ms since the epoch, 2100-01-01): a later or negative one is a fault or an attack. */
export const MAX_TS_MS = 4_102_444_800_000;

/** Largest score or margin a pair may carry (the same bound as a metric value). */
export const MAX_SCORE_MAGNITUDE = MAX_METRIC_MAGNITUDE;

/** A string decoded from invalid UTF-8 holds U+FFFD where the bad bytes were; a JS string may hold a lone surrogate. */
const NOT_UTF8 = /\uFFFD|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

class Invalid extends Error {
  override name = 'Invalid';
}

const show = (v: unknown): string => {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  return typeof v;
};

/** Field readers: each throws Invalid naming the field path and the value it found. */
class Reader {
  constructor(readonly limits: SchemaLimits) {}

  obj(v: unknown, path: string): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v)) throw new Invalid(`${path} must be a map; got ${show(v)}`);
    return v as Record<string, unknown>;
  }
  str(o: Record<string, unknown>, key: string, path: string, maxLen = 256): string {
    const v = o[key];
    if (typeof v !== 'string') throw new Invalid(`${path}.${key} must be a string; got ${show(v)}`);
    if (v.length > maxLen) throw new Invalid(`${path}.${key} must be at most ${maxLen} characters; got ${v.length}`);
    return v;
  }
  /**
   * An id or name: a string of at most 256 characters of valid UTF-8. Invalid bytes would decode to U+FFFD and the
   * message be handled under a mangled id, so the replacement character itself is refused too.
   */
  id(o: Record<string, unknown>, key: string, path: string): string {
    const v = this.str(o, key, path, 256);
    const bad = NOT_UTF8.exec(v);
    if (bad) throw new Invalid(`${path}.${key} must be valid UTF-8 without U+FFFD; got ${show(v)} (U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at ${bad.index})`);
    return v;
  }
  /** A time in ms since the epoch, in [0, MAX_TS_MS]. */
  time(o: Record<string, unknown>, key: string, path: string): number {
    const v = this.num(o, key, path);
    if (v < 0 || v > MAX_TS_MS) throw new Invalid(`${path}.${key} must be a time in ms since the epoch, in [0, ${MAX_TS_MS}] (before 2100); got ${v}`);
    return v;
  }
  /** A finite number within [min, max]. */
  bounded(o: Record<string, unknown>, key: string, path: string, min: number, max: number): number {
    const v = this.num(o, key, path);
    if (v < min || v > max) throw new Invalid(`${path}.${key} must be within [${min}, ${max}]; got ${v}`);
    return v;
  }
  optStr(o: Record<string, unknown>, key: string, path: string, maxLen = 4096): void {
    if (o[key] !== undefined && o[key] !== null) this.str(o, key, path, maxLen);
  }
  text(o: Record<string, unknown>, key: string, path: string): string {
    return this.str(o, key, path, this.limits.maxTextChars);
  }
  num(o: Record<string, unknown>, key: string, path: string): number {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Invalid(`${path}.${key} must be a finite number; got ${show(v)}`);
    return v;
  }
  int(o: Record<string, unknown>, key: string, path: string, min = 0): number {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new Invalid(`${path}.${key} must be an integer >= ${min}; got ${show(v)}`);
    return v;
  }
  bool(o: Record<string, unknown>, key: string, path: string): boolean {
    const v = o[key];
    if (typeof v !== 'boolean') throw new Invalid(`${path}.${key} must be true or false; got ${show(v)}`);
    return v;
  }
  tokens(o: Record<string, unknown>, key: string, path: string): number[] {
    const v = o[key];
    if (!Array.isArray(v)) throw new Invalid(`${path}.${key} must be an array of token ids; got ${show(v)}`);
    if (v.length > this.limits.maxTokens) throw new Invalid(`${path}.${key} must hold at most ${this.limits.maxTokens} tokens; got ${v.length}`);
    const vocab = this.limits.vocabSize;
    for (let i = 0; i < v.length; i++) {
      const t = v[i];
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || (vocab !== undefined && t >= vocab)) {
        const range = vocab !== undefined ? `an integer in [0, ${vocab})` : 'an integer >= 0';
        throw new Invalid(`${path}.${key}[${i}] must be ${range}; got ${show(t)}`);
      }
    }
    return v as number[];
  }
  /**
   * Optional behaviour log-probs: bytes holding one little-endian float32 per response token, each finite and <= 0 (a
   * log-probability). Checked against the response's length, so a truncated or shifted array cannot pass.
   */
  logprobs(o: Record<string, unknown>, key: string, path: string, tokens: number): void {
    const v = o[key];
    if (v === undefined || v === null) return;
    if (!(v instanceof Uint8Array)) throw new Invalid(`${path}.${key} must be bytes (one little-endian float32 per response token); got ${show(v)}`);
    if (v.length !== tokens * LOGPROB_BYTES) throw new Invalid(`${path}.${key} must hold ${tokens * LOGPROB_BYTES} bytes (${LOGPROB_BYTES} per response token, ${tokens} tokens); got ${v.length}`);
    const values = decodeLogprobs(v);
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      if (!Number.isFinite(x) || x > 0) throw new Invalid(`${path}.${key}[${i}] must be a finite log-probability <= 0; got ${x}`);
    }
  }
  /** Optional last version of a sample: an integer no older than its first (policyVersion). */
  lastVersion(o: Record<string, unknown>, path: string): void {
    if (o.lastPolicyVersion === undefined || o.lastPolicyVersion === null) return;
    const last = this.int(o, 'lastPolicyVersion', path);
    const first = o.policyVersion as number;
    if (last < first) throw new Invalid(`${path}.lastPolicyVersion must be >= policyVersion ${first}; got ${last}`);
  }
  header(o: Record<string, unknown>, type: string, path: string): void {
    if (o.type !== type) throw new Invalid(`${path}.type must be ${JSON.stringify(type)}; got ${show(o.type)}`);
    if (o.v !== SCHEMA_VERSION) throw new Invalid(`${path}.v must be ${SCHEMA_VERSION} (this build's schema version); got ${show(o.v)}`);
    this.id(o, 'runId', path);
  }
}

function prompt(r: Reader, v: unknown, p: string): void {
  const o = r.obj(v, p);
  r.header(o, 'prompt', p);
  r.id(o, 'promptId', p);
  r.int(o, 'epoch', p);
  r.text(o, 'text', p);
  r.tokens(o, 'tokens', p);
  r.time(o, 'createdAt', p);
}

function sample(r: Reader, v: unknown, p: string): void {
  const o = r.obj(v, p);
  r.id(o, 'runId', p);
  r.id(o, 'sampleId', p);
  r.id(o, 'promptId', p);
  r.int(o, 'policyVersion', p);
  r.id(o, 'generatorId', p);
  r.time(o, 'startedAt', p);
  r.time(o, 'createdAt', p);
  r.tokens(o, 'promptTokens', p);
  const response = r.tokens(o, 'responseTokens', p);
  r.text(o, 'text', p);
  r.bool(o, 'finished', p);
  r.lastVersion(o, p);
  r.logprobs(o, 'behaviourLogprobs', p, response.length);
}

function samples(r: Reader, v: unknown, p: string): void {
  const o = r.obj(v, p);
  r.header(o, 'samples', p);
  r.id(o, 'groupId', p);
  r.id(o, 'promptId', p);
  r.int(o, 'policyVersion', p);
  r.id(o, 'generatorId', p);
  const list = o.samples;
  if (!Array.isArray(list)) throw new Invalid(`${p}.samples must be an array; got ${show(list)}`);
  if (list.length === 0 || list.length > r.limits.maxSamples) {
    throw new Invalid(`${p}.samples must hold 1 to ${r.limits.maxSamples} samples; got ${list.length}`);
  }
  list.forEach((s, i) => sample(r, s, `${p}.samples[${i}]`));
}

function pairSide(r: Reader, v: unknown, p: string): void {
  const o = r.obj(v, p);
  r.id(o, 'sampleId', p);
  const response = r.tokens(o, 'responseTokens', p);
  r.text(o, 'text', p);
  r.bounded(o, 'score', p, -MAX_SCORE_MAGNITUDE, MAX_SCORE_MAGNITUDE);
  r.int(o, 'policyVersion', p);
  r.lastVersion(o, p);
  r.logprobs(o, 'behaviourLogprobs', p, response.length);
}

function pair(r: Reader, v: unknown, p: string): void {
  const o = r.obj(v, p);
  r.header(o, 'pair', p);
  r.id(o, 'pairId', p);
  r.id(o, 'promptId', p);
  r.id(o, 'groupId', p);
  r.tokens(o, 'promptTokens', p);
  pairSide(r, o.chosen, `${p}.chosen`);
  pairSide(r, o.rejected, `${p}.rejected`);
  r.id(o, 'judgeId', p);
  r.id(o, 'judgeModel', p);
  r.bounded(o, 'margin', p, 0, MAX_SCORE_MAGNITUDE);
  r.time(o, 'createdAt', p);
}

function weights(r: Reader, v: unknown, p: string): void {
  const o = r.obj(v, p);
  r.header(o, 'weights', p);
  r.int(o, 'version', p);
  r.int(o, 'step', p);
  const sha = r.str(o, 'sha256', p);
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new Invalid(`${p}.sha256 must be 64 lowercase hex digits; got ${show(sha)}`);
  r.int(o, 'size', p);
  r.time(o, 'createdAt', p);
  r.optStr(o, 'file', p);
  if (typeof o.file === 'string' && !o.file.startsWith('/')) throw new Invalid(`${p}.file must be an absolute path; got ${show(o.file)}`);
}

function metrics(r: Reader, v: unknown, p: string): void {
  const o = r.obj(v, p);
  r.header(o, 'metrics', p);
  r.id(o, 'actorId', p);
  r.id(o, 'role', p);
  r.time(o, 'ts', p);
  const values = r.obj(o.values, `${p}.values`);
  const keys = Object.keys(values);
  if (keys.length > r.limits.maxMetricValues) throw new Invalid(`${p}.values must hold at most ${r.limits.maxMetricValues} entries; got ${keys.length}`);
  for (const k of keys) {
    const x = r.num(values, k, `${p}.values`);
    // No counter, gauge or timing of a run comes near this; a larger value is a fault or an attack on the run record.
    if (Math.abs(x) > MAX_METRIC_MAGNITUDE) throw new Invalid(`${p}.values.${k} must be within +-${MAX_METRIC_MAGNITUDE}; got ${x}`);
  }
  if (o.state !== undefined && o.state !== null) r.id(o, 'state', p);
}

const TOPIC_SET = new Set<string>(['prompts', 'samples', 'pairs', 'weights', 'metrics', 'dead']);

function dead(r: Reader, v: unknown, p: string): void {
  const o = r.obj(v, p);
  r.header(o, 'dead_letter', p);
  const topic = r.str(o, 'topic', p);
  if (!TOPIC_SET.has(topic)) throw new Invalid(`${p}.topic must be one of ${[...TOPIC_SET].join(', ')}; got ${show(topic)}`);
  r.str(o, 'reason', p, 4096);
  r.int(o, 'deliveries', p);
  if (!(o.payload instanceof Uint8Array)) throw new Invalid(`${p}.payload must be bytes; got ${show(o.payload)}`);
  r.time(o, 'ts', p);
}

const CHECKS: Record<TopicName, (r: Reader, v: unknown, p: string) => void> = { prompts: prompt, samples, pairs: pair, weights, metrics, dead };

/** Validates a decoded payload for `topic`; never throws. */
export function validate<K extends TopicName>(topic: K, value: unknown, limits: Partial<SchemaLimits> = {}): Validation<Topics[K]> {
  return validator(limits)(topic, value);
}

/** A validator bound to fixed limits, for the hot path (no per-call object spread). */
export function validator(limits: Partial<SchemaLimits> = {}): <K extends TopicName>(topic: K, value: unknown) => Validation<Topics[K]> {
  const reader = new Reader({ ...DEFAULT_SCHEMA_LIMITS, ...limits });
  return <K extends TopicName>(topic: K, value: unknown): Validation<Topics[K]> => {
    const check = CHECKS[topic];
    if (!check) return { ok: false, reason: `unknown topic ${JSON.stringify(topic)}` };
    try {
      check(reader, value, topic);
      return { ok: true, value: value as Topics[K] };
    } catch (err) {
      if (err instanceof Invalid) return { ok: false, reason: err.message };
      throw err;
    }
  };
}
