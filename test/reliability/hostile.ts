// Hostile and malformed wire messages for every topic: what a faulty or foreign producer could put on the bus.
import { Packr } from 'msgpackr';
import { SCHEMA_VERSION, type MetricsMsg, type PairMsg, type PromptMsg, type SampleGroupMsg, type TopicName, type WeightsMsg } from '../../src/streams/topics.js';

/** The codec's own settings: a hostile payload must be plain msgpack that any producer could write. */
const packr = new Packr({ moreTypes: true, useRecords: false, structuredClone: false, mapsAsObjects: true });
export const pack = (v: unknown): Uint8Array => packr.pack(v);

export type InjectTopic = Exclude<TopicName, 'dead'>;

export interface Hostile {
  name: string;
  topic: InjectTopic;
  bytes: Uint8Array;
  /** What the dead letter's reason must say. */
  reason: RegExp;
}

export function validPrompt(runId: string, id = 'bad-p'): PromptMsg {
  return { type: 'prompt', v: SCHEMA_VERSION, runId, promptId: id, epoch: 0, text: 'x', tokens: [1, 2, 3], createdAt: 1 };
}

export function validGroup(runId: string, id = 'bad-g'): SampleGroupMsg {
  const sample = (k: number) => ({
    runId,
    sampleId: `${id}:${k}`,
    promptId: `${id}-q`,
    policyVersion: 0,
    generatorId: 'foreign',
    startedAt: 1,
    createdAt: 2,
    promptTokens: [1, 2],
    responseTokens: [3 + k],
    text: 'y',
    finished: true,
  });
  return { type: 'samples', v: SCHEMA_VERSION, runId, groupId: id, promptId: `${id}-q`, policyVersion: 0, generatorId: 'foreign', samples: [sample(0), sample(1)] };
}

export function validPair(runId: string, id = 'bad-pair'): PairMsg {
  return {
    type: 'pair',
    v: SCHEMA_VERSION,
    runId,
    pairId: id,
    promptId: `${id}-q`,
    groupId: `${id}-g`,
    promptTokens: [1, 2, 3],
    chosen: { sampleId: `${id}:0`, responseTokens: [4, 5], text: 'ef', score: 1, policyVersion: 0 },
    rejected: { sampleId: `${id}:1`, responseTokens: [6], text: 'g', score: 0, policyVersion: 0 },
    judgeId: 'foreign',
    judgeModel: 'none',
    margin: 1,
    createdAt: 1,
  };
}

export function validWeights(runId: string): WeightsMsg {
  return { type: 'weights', v: SCHEMA_VERSION, runId, version: 99, step: 1, sha256: 'a'.repeat(64), size: 4, createdAt: 1 };
}

export function validMetrics(runId: string): MetricsMsg {
  return { type: 'metrics', v: SCHEMA_VERSION, runId, actorId: 'foreign', role: 'generator', ts: 1, values: { generator_samples_total: 1 } };
}

const VALID: Record<InjectTopic, (runId: string) => object> = {
  prompts: (r) => validPrompt(r),
  samples: (r) => validGroup(r),
  pairs: (r) => validPair(r),
  weights: validWeights,
  metrics: validMetrics,
};

/** Adds an own key (JSON.parse makes `__proto__` an own property, as a decoder of foreign bytes would see it). */
const withKey = (o: object, key: string, value: unknown): object => ({ ...o, ...JSON.parse(`{${JSON.stringify(key)}: ${JSON.stringify(value)}}`) });

/**
 * Every schema-level fault for each topic: garbage bytes, a wrong schema version, a wrong type, NaN, token ids outside
 * the vocabulary (topics that carry tokens) and prototype keys (top level and nested). `vocabSize` is the bus's.
 */
export function hostileMessages(runId: string, vocabSize: number): Hostile[] {
  const out: Hostile[] = [];
  const add = (topic: InjectTopic, name: string, value: unknown, reason: RegExp): void => {
    out.push({ topic, name: `${topic}: ${name}`, bytes: pack(value), reason });
  };
  for (const topic of Object.keys(VALID) as InjectTopic[]) {
    const base = VALID[topic](runId) as Record<string, unknown>;
    out.push({ topic, name: `${topic}: garbage bytes`, bytes: new Uint8Array([0xc1, 0x00, 0xff, 0x13, 0x37]), reason: /not valid msgpack/ });
    out.push({ topic, name: `${topic}: truncated msgpack`, bytes: pack(base).subarray(0, 9), reason: /not valid msgpack|must be a map/ });
    add(topic, 'a scalar instead of a map', 42, new RegExp(`^${topic} must be a map; got 42`));
    add(topic, 'schema version 2', { ...base, v: 2 }, new RegExp(`${topic}\\.v must be 1 .*got 2`));
    add(topic, 'runId of the wrong type', { ...base, runId: 7 }, new RegExp(`${topic}\\.runId must be a string; got 7`));
    add(topic, 'top-level __proto__ key', withKey(base, '__proto__', { polluted: true }), /forbidden key "__proto__"/);
    add(topic, 'top-level constructor key', withKey(base, 'constructor', { prototype: { polluted: true } }), /forbidden key "constructor"/);
  }
  const prompt = validPrompt(runId);
  add('prompts', 'tokens as a string', { ...prompt, tokens: '1 2 3' }, /prompts\.tokens must be an array of token ids; got "1 2 3"/);
  add('prompts', 'createdAt NaN', { ...prompt, createdAt: NaN }, /prompts\.createdAt must be a finite number; got NaN/);
  add('prompts', 'token id = vocabSize', { ...prompt, tokens: [1, vocabSize] }, new RegExp(`prompts\\.tokens\\[1\\] must be an integer in \\[0, ${vocabSize}\\); got ${vocabSize}`));
  add('prompts', 'negative token id', { ...prompt, tokens: [-1] }, /prompts\.tokens\[0\] must be an integer in/);
  add('prompts', 'fractional token id', { ...prompt, tokens: [1.5] }, /prompts\.tokens\[0\] must be an integer in .*got 1\.5/);

  const group = validGroup(runId);
  add('samples', 'samples as a map', { ...group, samples: { a: 1 } }, /samples\.samples must be an array; got object/);
  add('samples', 'no samples', { ...group, samples: [] }, /samples\.samples must hold 1 to \d+ samples; got 0/);
  add('samples', 'sample startedAt NaN', { ...group, samples: [{ ...group.samples[0]!, startedAt: NaN }, group.samples[1]] }, /samples\.samples\[0\]\.startedAt must be a finite number; got NaN/);
  add('samples', 'response token out of vocabulary', { ...group, samples: [group.samples[0], { ...group.samples[1]!, responseTokens: [vocabSize + 1000] }] }, /samples\.samples\[1\]\.responseTokens\[0\] must be an integer in/);
  add('samples', 'nested __proto__ in a sample', { ...group, samples: [withKey(group.samples[0]!, '__proto__', { isAdmin: true }), group.samples[1]] }, /forbidden key "__proto__" at \$\.samples\[0\]/);

  const pair = validPair(runId);
  add('pairs', 'chosen score NaN', { ...pair, chosen: { ...pair.chosen, score: NaN } }, /pairs\.chosen\.score must be a finite number; got NaN/);
  add('pairs', 'rejected score Infinity', { ...pair, rejected: { ...pair.rejected, score: Infinity } }, /pairs\.rejected\.score must be a finite number; got Infinity/);
  add('pairs', 'margin NaN', { ...pair, margin: NaN }, /pairs\.margin must be a finite number; got NaN/);
  add('pairs', 'margin as a string', { ...pair, margin: 'big' }, /pairs\.margin must be a finite number; got "big"/);
  add('pairs', 'prompt token out of vocabulary', { ...pair, promptTokens: [1, 2, 65_000] }, /pairs\.promptTokens\[2\] must be an integer in/);
  add('pairs', 'chosen token out of vocabulary', { ...pair, chosen: { ...pair.chosen, responseTokens: [vocabSize] } }, /pairs\.chosen\.responseTokens\[0\] must be an integer in/);
  add('pairs', 'nested constructor in chosen', { ...pair, chosen: withKey(pair.chosen, 'constructor', { prototype: { polluted: 1 } }) }, /forbidden key "constructor" at \$\.chosen/);
  add('pairs', 'policyVersion negative', { ...pair, chosen: { ...pair.chosen, policyVersion: -3 } }, /pairs\.chosen\.policyVersion must be an integer >= 0; got -3/);

  const w = validWeights(runId);
  add('weights', 'version as a string', { ...w, version: '7' }, /weights\.version must be an integer >= 0; got "7"/);
  add('weights', 'sha256 not hex', { ...w, sha256: 'z'.repeat(64) }, /weights\.sha256 must be 64 lowercase hex digits/);
  add('weights', 'createdAt NaN', { ...w, createdAt: NaN }, /weights\.createdAt must be a finite number; got NaN/);

  const m = validMetrics(runId);
  add('metrics', 'values as an array', { ...m, values: [1, 2] }, /metrics\.values must be a map; got an array of 2/);
  add('metrics', 'metric value NaN', { ...m, values: { generator_samples_total: NaN } }, /metrics\.values\.generator_samples_total must be a finite number; got NaN/);
  add('metrics', 'metric value a string', { ...m, values: { x: 'fast' } }, /metrics\.values\.x must be a finite number; got "fast"/);
  add('metrics', '__proto__ inside values', { ...m, values: withKey({ a: 1 }, '__proto__', { polluted: true }) }, /forbidden key "__proto__" at \$\.values/);
  add('metrics', 'constructor inside values', { ...m, values: { constructor: 1 } }, /forbidden key "constructor" at \$\.values/);
  return out;
}

/**
 * Well-formed messages the schema accepts but an actor must refuse: from another run, or inconsistent. The actor that
 * reads the topic dead-letters them with the reason (the bus cannot know run ids or sample identity).
 */
export function semanticallyBad(runId: string): Hostile[] {
  const other = `${runId}-other`;
  const group = validGroup(runId, 'one-sample');
  const pair = validPair(runId, 'same-sides');
  return [
    { topic: 'prompts', name: 'prompts: from another run', bytes: pack(validPrompt(other, 'foreign-p')), reason: new RegExp(`prompt from run "${other}"`) },
    { topic: 'samples', name: 'samples: from another run', bytes: pack(validGroup(other, 'foreign-g')), reason: new RegExp(`group from run "${other}"`) },
    { topic: 'samples', name: 'samples: one sample only', bytes: pack({ ...group, samples: [group.samples[0]] }), reason: /has 1 samples; pairing needs at least 2/ },
    { topic: 'pairs', name: 'pairs: from another run', bytes: pack(validPair(other, 'foreign-pair')), reason: new RegExp(`pair from run "${other}"`) },
    { topic: 'pairs', name: 'pairs: same sample on both sides', bytes: pack({ ...pair, rejected: { ...pair.rejected, sampleId: pair.chosen.sampleId } }), reason: /has the same sample .* on both sides/ },
  ];
}

/** Snapshot of Object.prototype (own names and their descriptors' values) to prove nothing was added or changed. */
export function prototypeFingerprint(): string {
  const names = Object.getOwnPropertyNames(Object.prototype).sort();
  return JSON.stringify(names.map((n) => [n, typeof (Object.prototype as Record<string, unknown>)[n]]));
}
