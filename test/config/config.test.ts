// The config schema: defaults, overrides, environment, and errors that name the bad value.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig, redactSecrets } from '../../src/config/index.js';

test('defaults follow the paper where it gives a number', () => {
  const cfg = parseConfig({});
  assert.equal(cfg.generator.samplesPerPrompt, 8);
  assert.equal(cfg.generator.temperature, 1);
  assert.equal(cfg.learner.beta, 0.1);
  assert.equal(cfg.learner.reference, 'sft');
  assert.equal(cfg.judge.pairing, 'max_min');
  assert.equal(cfg.bus.kind, 'inprocess');
});

test('a bad enum names the key, the value and the accepted ones', () => {
  assert.throws(() => parseConfig({ judge: { pairing: 'best' } }), (e: Error) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.message, 'judge.pairing must be one of max_min, max_random, random; got "best"');
    return true;
  });
});

test('out-of-range numbers and unknown keys are errors', () => {
  assert.throws(() => parseConfig({ learner: { beta: -1 } }), /learner\.beta must be a number in \[0.000001, 100\]; got -1/);
  assert.throws(() => parseConfig({ model: { layers: 2.5 } }), /model\.layers must be an integer/);
  assert.throws(() => parseConfig({ learner: { betta: 0.2 } }), /unknown config key learner\.betta; accepted keys in learner are/);
  assert.throws(() => parseConfig({ learnr: {} }), /unknown config section "learnr"/);
  assert.throws(() => parseConfig({ model: { dModel: 130, heads: 4 } }), /divisible/);
});

test('file, environment and --set overrides apply in that order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlhf-cfg-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'learner:\n  beta: 0.2\ncompute:\n  backend: wasm\n');
  const cfg = loadConfig({ file, env: { RLHF_STREAM_NATS_URL: 'nats://a:1,nats://b:2' }, overrides: ['learner.beta=0.3', 'monitor.dashboard=true'] });
  assert.equal(cfg.learner.beta, 0.3);
  assert.equal(cfg.compute.backend, 'wasm');
  assert.deepEqual(cfg.bus.servers, ['nats://a:1', 'nats://b:2']);
  assert.equal(cfg.monitor.dashboard, true);
  assert.throws(() => loadConfig({ file: join(dir, 'missing.yaml') }), /cannot read config file/);
});

test("learner.phaseStart labelled refuses a phase larger than the pairs topic holds, naming both fields and the way out", () => {
  assert.throws(
    () => parseConfig({ run: { mode: 'iterative', prompts: 9000, iterations: 2 }, bus: { maxPending: 4096 } }),
    (e: unknown) => e instanceof ConfigError && /bus\.maxPending 4096/.test(e.message) && /up to 4500 prompts/.test(e.message) && /learner\.phaseStart=arrival/.test(e.message),
  );
  // The same phases fit once the topic holds them, or when the learner trains as pairs arrive; streaming has no phases.
  assert.equal(parseConfig({ run: { mode: 'iterative', prompts: 9000, iterations: 2 }, bus: { maxPending: 4500 } }).learner.phaseStart, 'labelled');
  assert.equal(parseConfig({ run: { mode: 'offline', prompts: 9000 }, learner: { phaseStart: 'arrival' } }).learner.phaseStart, 'arrival');
  assert.equal(parseConfig({ run: { mode: 'streaming', prompts: 9000 } }).run.prompts, 9000);
});

test('a run record holds no secret: bus.pass and bus.token are emptied, and named with the variables that carry them', () => {
  const cfg = parseConfig({ bus: { kind: 'nats', user: 'admin', pass: 's3cret-pass', token: 's3cret-token' } });
  const r = redactSecrets(cfg);
  assert.doesNotMatch(JSON.stringify(r.cfg), /s3cret/);
  assert.equal(r.cfg.bus.user, 'admin');
  assert.deepEqual(r.redacted, ['bus.token', 'bus.pass']);
  assert.deepEqual(r.env, { RLHF_STREAM_NATS_TOKEN: 's3cret-token', RLHF_STREAM_NATS_PASS: 's3cret-pass' });
  assert.equal(cfg.bus.pass, 's3cret-pass', 'the config in use keeps its secrets');
  // What a process started from the record reads, with the variables set: the same config.
  assert.deepEqual(loadConfig({ overrides: [], env: r.env, file: undefined }).bus.pass, 's3cret-pass');
  assert.deepEqual(redactSecrets(parseConfig({})).redacted, []);
});

test('learner.adapter lora with its nested learner.lora fields: PEFT defaults, --set overrides, errors naming the field', () => {
  const d = parseConfig({});
  assert.equal(d.learner.adapter, 'none');
  assert.deepEqual(d.learner.lora, { rank: 8, alpha: 8, dropout: 0, from: '', targetModules: [] });
  const cfg = loadConfig({ overrides: ['learner.adapter=lora', 'learner.lora.rank=16', 'learner.lora.targetModules=c_attn,c_fc'] });
  assert.equal(cfg.learner.adapter, 'lora');
  assert.deepEqual(cfg.learner.lora, { rank: 16, alpha: 8, dropout: 0, from: '', targetModules: ['c_attn', 'c_fc'] });
  assert.throws(() => parseConfig({ learner: { adapter: 'qlora' } }), /learner\.adapter must be one of none, lora; got "qlora"/);
  assert.throws(() => parseConfig({ learner: { lora: { rank: 0 } } }), /learner\.lora\.rank must be an integer in \[1, 4096\]; got 0/);
  assert.throws(() => loadConfig({ overrides: ['learner.lora.rnk=4'] }), /unknown config key learner\.lora\.rnk; accepted keys in learner\.lora are rank, alpha, dropout, from, targetModules/);
  assert.throws(() => parseConfig({ learner: { adapter: 'lora', reference: 'previous' } }), /learner\.reference previous .* learner\.adapter lora/);
});
