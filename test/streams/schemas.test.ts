// Each topic's validator accepts well-formed payloads and names the field and value of a bad one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TS_MS, validate } from '../../src/streams/schemas.js';
import { Wire } from '../../src/streams/wire.js';
import type { SampleGroupMsg } from '../../src/streams/topics.js';
import { decodeLogprobs, encodeLogprobs } from '../../src/streams/behaviour_logprobs.js';
import { pair, prompt, sampleGroup } from './contract.js';

const reason = (r: { ok: boolean; reason?: string }): string => (r.ok ? 'ok' : r.reason!);

describe('schemas', () => {
  it('accepts well-formed payloads of every topic', () => {
    assert.equal(reason(validate('prompts', prompt('r', 1))), 'ok');
    assert.equal(reason(validate('samples', sampleGroup('r', 1))), 'ok');
    assert.equal(reason(validate('pairs', pair('r', 1))), 'ok');
    const w = { type: 'weights', v: 1, runId: 'r', version: 3, step: 30, sha256: 'a'.repeat(64), size: 10, createdAt: 5, file: '/tmp/w' };
    assert.equal(reason(validate('weights', w)), 'ok');
    assert.equal(reason(validate('metrics', { type: 'metrics', v: 1, runId: 'r', actorId: 'a', role: 'judge', ts: 1, values: { judge_pairs_total: 3 } })), 'ok');
    const dead = { type: 'dead_letter', v: 1, runId: 'r', topic: 'pairs', reason: 'x', deliveries: 1, payload: new Uint8Array(2), ts: 1 };
    assert.equal(reason(validate('dead', dead)), 'ok');
  });

  it('names the field and value that fail', () => {
    assert.equal(reason(validate('pairs', pair('r', 1, Number.POSITIVE_INFINITY))), 'pairs.chosen.score must be a finite number; got Infinity');
    assert.equal(reason(validate('prompts', { ...prompt('r', 1), v: 2 })), "prompts.v must be 1 (this build's schema version); got 2");
    assert.equal(reason(validate('prompts', { ...prompt('r', 1), type: 'pair' })), 'prompts.type must be "prompt"; got "pair"');
    assert.equal(reason(validate('prompts', { ...prompt('r', 1), tokens: [1, -2] })), 'prompts.tokens[1] must be an integer >= 0; got -2');
    assert.equal(reason(validate('prompts', { ...prompt('r', 1), tokens: [1, 2.5] })), 'prompts.tokens[1] must be an integer >= 0; got 2.5');
    assert.equal(reason(validate('prompts', { ...prompt('r', 1), tokens: [1, 500] }, { vocabSize: 500 })), 'prompts.tokens[1] must be an integer in [0, 500); got 500');
    assert.equal(reason(validate('prompts', { ...prompt('r', 1), tokens: [1, 2, 3] }, { maxTokens: 2 })), 'prompts.tokens must hold at most 2 tokens; got 3');
    const g = sampleGroup('r', 1);
    g.samples[1]!.finished = 'yes' as unknown as boolean;
    assert.equal(reason(validate('samples', g)), 'samples.samples[1].finished must be true or false; got "yes"');
    assert.equal(reason(validate('samples', { ...sampleGroup('r', 1), samples: [] })), 'samples.samples must hold 1 to 1024 samples; got 0');
    assert.equal(reason(validate('metrics', { type: 'metrics', v: 1, runId: 'r', actorId: 'a', role: 'j', ts: 1, values: { x: Number.NaN } })), 'metrics.values.x must be a finite number; got NaN');
    assert.equal(reason(validate('weights', { type: 'weights', v: 1, runId: 'r', version: 1, step: 1, sha256: 'zz', size: 1, createdAt: 1 })), 'weights.sha256 must be 64 lowercase hex digits; got "zz"');
    assert.equal(reason(validate('pairs', null)), 'pairs must be a map; got null');
  });

  it('refuses ids that are not valid UTF-8 on the wire, naming the field', () => {
    const wire = new Wire(1 << 20);
    const bytes = wire.encode({ ...prompt('r', 1), promptId: 'QQ' });
    // Turn the id's two bytes into an invalid UTF-8 sequence (0xff 0xfe); the decoder would read it as U+FFFD.
    const at = Buffer.from(bytes).indexOf(Buffer.from([0xa2, 0x51, 0x51]));
    assert.ok(at >= 0);
    bytes[at + 1] = 0xff;
    bytes[at + 2] = 0xfe;
    const r = wire.decodeFor('prompts', bytes);
    assert.equal(r.ok, false);
    assert.match(reason(r), /^prompts\.promptId must be valid UTF-8 without U\+FFFD; got "\uFFFD\uFFFD" \(U\+FFFD at 0\)$/);
    assert.match(reason(validate('samples', { ...sampleGroup('r', 1), generatorId: 'g\uD800' })), /samples\.generatorId must be valid UTF-8 without U\+FFFD; got .* \(U\+D800 at 1\)/);
    assert.equal(reason(validate('prompts', { ...prompt('r', 1), promptId: 'caf\u00e9-\u{1F600}' })), 'ok', 'any valid UTF-8 id is accepted');
  });

  it('refuses times and margins outside sane bounds', () => {
    assert.equal(reason(validate('prompts', { ...prompt('r', 1), createdAt: -1 })), `prompts.createdAt must be a time in ms since the epoch, in [0, ${MAX_TS_MS}] (before 2100); got -1`);
    assert.equal(reason(validate('metrics', { type: 'metrics', v: 1, runId: 'r', actorId: 'a', role: 'j', ts: -1, values: {} })), `metrics.ts must be a time in ms since the epoch, in [0, ${MAX_TS_MS}] (before 2100); got -1`);
    assert.equal(reason(validate('pairs', { ...pair('r', 1), createdAt: 1e300 })), `pairs.createdAt must be a time in ms since the epoch, in [0, ${MAX_TS_MS}] (before 2100); got 1e+300`);
    assert.equal(reason(validate('pairs', { ...pair('r', 1), margin: -1 })), 'pairs.margin must be within [0, 1000000000000000]; got -1');
    assert.equal(reason(validate('pairs', { ...pair('r', 1), margin: 1e300 })), 'pairs.margin must be within [0, 1000000000000000]; got 1e+300');
    const w = { type: 'weights', v: 1, runId: 'r', version: 3, step: 30, sha256: 'a'.repeat(64), size: 10, createdAt: -5 };
    assert.match(reason(validate('weights', w)), /^weights\.createdAt must be a time/);
    const s = sampleGroup('r', 1);
    s.samples[0]!.startedAt = Number.MAX_SAFE_INTEGER;
    assert.match(reason(validate('samples', s)), /^samples\.samples\[0\]\.startedAt must be a time/);
  });

  it('checks behaviour log-probs (float32 bytes, one per response token, each <= 0) and versions, and they survive the wire', () => {
    const g = sampleGroup('r', 1);
    g.samples[0]!.behaviourLogprobs = encodeLogprobs([-0.5, -1.25, -3]);
    g.samples[0]!.lastPolicyVersion = 2;
    assert.equal(reason(validate('samples', g)), 'ok');
    const wire = new Wire(1 << 20);
    const back = wire.decodeFor('samples', wire.encode(g));
    assert.ok(back.ok);
    const s0 = (back.value as SampleGroupMsg).samples[0]!;
    assert.deepEqual([...decodeLogprobs(s0.behaviourLogprobs!)], [-0.5, -1.25, -3]);
    assert.equal(s0.lastPolicyVersion, 2);

    const bad = (lp: unknown, at: 'samples' | 'pairs' = 'samples') => {
      if (at === 'pairs') {
        const p = pair('r', 1);
        return reason(validate('pairs', { ...p, rejected: { ...p.rejected, behaviourLogprobs: lp } }));
      }
      const x = sampleGroup('r', 1);
      (x.samples[1] as unknown as Record<string, unknown>).behaviourLogprobs = lp;
      return reason(validate('samples', x));
    };
    assert.equal(bad([-0.5, -1, -2]), 'samples.samples[1].behaviourLogprobs must be bytes (one little-endian float32 per response token); got an array of 3');
    assert.equal(bad(encodeLogprobs([-0.5, -1])), 'samples.samples[1].behaviourLogprobs must hold 12 bytes (4 per response token, 3 tokens); got 8');
    assert.equal(bad(encodeLogprobs([-0.5, 0.25, -1])), 'samples.samples[1].behaviourLogprobs[1] must be a finite log-probability <= 0; got 0.25');
    assert.equal(bad(encodeLogprobs([-0.5, -1, Number.NaN])), 'samples.samples[1].behaviourLogprobs[2] must be a finite log-probability <= 0; got NaN');
    assert.equal(bad(encodeLogprobs([-0.5, -1])), 'samples.samples[1].behaviourLogprobs must hold 12 bytes (4 per response token, 3 tokens); got 8');
    assert.equal(bad(encodeLogprobs([-0.5, -1, Number.NEGATIVE_INFINITY]), 'pairs'), 'pairs.rejected.behaviourLogprobs[2] must be a finite log-probability <= 0; got -Infinity');
    assert.equal(bad(encodeLogprobs([-0.5, -1, -2]), 'pairs'), 'ok');
    const old = sampleGroup('r', 1);
    old.samples[0]!.policyVersion = 3;
    old.samples[0]!.lastPolicyVersion = 2;
    assert.equal(reason(validate('samples', old)), 'samples.samples[0].lastPolicyVersion must be >= policyVersion 3; got 2');
    const p = pair('r', 1);
    assert.equal(reason(validate('pairs', { ...p, chosen: { ...p.chosen, lastPolicyVersion: -1 } })), 'pairs.chosen.lastPolicyVersion must be an integer >= 0; got -1');
  });
});
