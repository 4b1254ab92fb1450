// Bad config values (every field of every section) and missing or corrupt checkpoint files fail with errors that name the
// value and what is accepted, in the library and through the CLI (one `error: ...` line, no stack trace).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { ConfigError, loadConfig, SCHEMA } from '../../src/config/index.js';
import type { Section } from '../../src/config/fields.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'rel-bad-'));
const yamlFile = (text: string): string => {
  const f = join(tmp(), 'bad.yaml');
  writeFileSync(f, text);
  return f;
};

/** One wrong value per field, derived from what the field says it accepts. */
function badValuesFor(accepts: string): { value: unknown; shown: string }[] {
  // A mapping is the wrong type for a plain field; a plain value is the wrong type for a nested section (whose own
  // unknown keys are refused by name, as at the top level).
  const out: { value: unknown; shown: string }[] = accepts.startsWith('a mapping') ? [{ value: 7, shown: '7' }] : [{ value: { nested: 1 }, shown: '{"nested":1}' }];
  const range = /in \[(-?[\d.e+-]+), (-?[\d.e+-]+)\]/.exec(accepts);
  if (range) {
    out.push({ value: Number(range[2]) * 2 + 1, shown: String(Number(range[2]) * 2 + 1) });
    out.push({ value: Number(range[1]) - 1, shown: String(Number(range[1]) - 1) });
    out.push({ value: 'fast', shown: '"fast"' });
    if (accepts.startsWith('an integer')) out.push({ value: Number(range[1]) + 0.5, shown: String(Number(range[1]) + 0.5) });
  } else if (accepts.startsWith('one of')) {
    out.push({ value: 'no-such-choice', shown: '"no-such-choice"' });
  } else if (accepts === 'true or false') {
    out.push({ value: 'maybe', shown: '"maybe"' });
  } else if (accepts.startsWith('a string matching')) {
    out.push({ value: 'has space/and.slash', shown: '"has space/and.slash"' });
  }
  return out;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('bad config values', () => {
  it('every field of every section refuses a wrong type, an out-of-range number or a bad choice, naming key, value and accepted values', () => {
    let checked = 0;
    for (const [section, spec] of Object.entries(SCHEMA)) {
      for (const [key, field] of Object.entries(spec as Section)) {
        for (const bad of badValuesFor(field.accepts)) {
          assert.throws(
            () => loadConfig({ file: yamlFile(`${section}:\n  ${key}: ${JSON.stringify(bad.value)}\n`), env: {} }),
            (err: Error) => {
              assert.ok(err instanceof ConfigError, `${section}.${key}: ${err}`);
              assert.match(err.message, new RegExp(`^${section}\\.${key} must be ${escape(field.accepts)}; got ${escape(bad.shown)}$`));
              return true;
            },
          );
          checked++;
        }
      }
    }
    assert.ok(checked > 150, `${checked} bad values checked`);
  });

  it('an unknown key in any section, an unknown section and a section that is not a mapping are named with the accepted ones', () => {
    for (const [section, spec] of Object.entries(SCHEMA)) {
      assert.throws(() => loadConfig({ file: yamlFile(`${section}:\n  colour: red\n`), env: {} }), {
        name: 'ConfigError',
        message: `unknown config key ${section}.colour; accepted keys in ${section} are ${Object.keys(spec).join(', ')}`,
      });
      assert.throws(() => loadConfig({ file: yamlFile(`${section}: 3\n`), env: {} }), { name: 'ConfigError', message: `${section} must be a mapping; got 3` });
    }
    assert.throws(() => loadConfig({ file: yamlFile('learnr:\n  lr: 0.1\n'), env: {} }), /unknown config section "learnr"; accepted sections are compute, tokenizer/);
    assert.throws(() => loadConfig({ overrides: ['learner.lr'], env: {} }), /override "learner.lr" must have the form section.key=value/);
    assert.throws(() => loadConfig({ overrides: ['learner.lr=2'], env: {} }), /learner.lr must be a number in \[0, 1\]; got 2/);
    assert.throws(() => loadConfig({ env: { RLHF_STREAM_BACKEND: 'gpu9000' } }), /compute.backend must be one of .*; got "gpu9000"/);
  });

  it('a YAML syntax error, a file that is not a mapping and a missing file name the file and the problem', () => {
    const broken = yamlFile('learner:\n  lr: [0.1\n  beta: 2\n');
    assert.throws(() => loadConfig({ file: broken, env: {} }), (err: Error) => err instanceof ConfigError && err.message.startsWith(`config file ${broken} is not valid YAML:`) && /line \d+/.test(err.message));
    const list = yamlFile('- a\n- b\n');
    assert.throws(() => loadConfig({ file: list, env: {} }), { name: 'ConfigError', message: `config file ${list} must hold a mapping of sections` });
    assert.throws(() => loadConfig({ file: '/no/such/config.yaml', env: {} }), /cannot read config file "\/no\/such\/config.yaml": ENOENT/);
  });
});

const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

/**
 * Runs the CLI and checks it failed with one `error: ...` line, the last on stderr, and no stack trace. With `only`,
 * nothing else was printed (config errors come before any work); otherwise progress lines of the stages may precede it.
 */
function cliFails(args: string[], only = true): string {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.notEqual(r.status, 0, `exit status for ${args.join(' ')}`);
  const lines = r.stderr.trim().split('\n');
  if (only) assert.equal(lines.length, 1, `one line on stderr; got:\n${r.stderr}`);
  assert.match(lines.at(-1)!, /^error: /, r.stderr);
  assert.equal(lines.filter((l) => l.startsWith('error')).length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  return lines.at(-1)!;
}

describe('bad config through the CLI', () => {
  it('run --config with a bad value, an unknown key, a YAML error or a missing file exits non-zero with one error line', () => {
    assert.match(cliFails(['run', '--config', yamlFile('judge:\n  pairing: best\n')]), /^error: judge\.pairing must be one of max_min, max_random, random; got "best"$/);
    assert.match(cliFails(['run', '--config', yamlFile('learner:\n  batchSize: 0\n')]), /^error: learner\.batchSize must be an integer in \[1, 4096\]; got 0$/);
    assert.match(cliFails(['run', '--config', yamlFile('bus:\n  kind: kafka\n')]), /^error: bus\.kind must be one of inprocess, nats; got "kafka"$/);
    assert.match(cliFails(['run', '--config', yamlFile('model:\n  layerz: 2\n')]), /^error: unknown config key model\.layerz; accepted keys in model are layers,/);
    assert.match(cliFails(['run', '--config', yamlFile('run: {mode: streaming\n')]), /^error: config file .* is not valid YAML/);
    assert.match(cliFails(['run', '--config', '/no/such.yaml']), /^error: cannot read config file "\/no\/such.yaml"/);
    assert.match(cliFails(['run', '--set', 'model.dModel=30', '--set', 'model.heads=4']), /^error: model.dModel must be divisible by model.heads; got dModel 30 and heads 4$/);
  });
});

describe('missing or corrupt checkpoint files', () => {
  const names = { 'wte.weight': [4, 2], 'ln.bias': [2] };
  const good = {
    weights: { 'wte.weight': { dtype: 'F32' as const, shape: [4, 2], data: new Float32Array(8).fill(0.5) }, 'ln.bias': { dtype: 'F32' as const, shape: [2], data: new Float32Array(2) } },
    config: { kind: 'policy' },
    state: { step: 3 },
  };
  const fresh = async (): Promise<string> => {
    const dir = join(tmp(), 'ck');
    await saveCheckpoint(dir, good);
    return dir;
  };
  const fails = async (dir: string, message: RegExp): Promise<void> => {
    await assert.rejects(loadCheckpoint(dir, { names }), (err: Error) => {
      assert.ok(err instanceof CheckpointError, String(err));
      assert.match(err.message, message);
      return true;
    });
  };

  it('each fault is a CheckpointError naming the file and what is wrong', async () => {
    await fails(join(tmp(), 'nothing-here'), /checkpoint folder .*nothing-here does not exist$/);
    let dir = await fresh();
    writeFileSync(join(dir, 'model.safetensors'), readFileSync(join(dir, 'model.safetensors')).subarray(0, 50));
    await fails(dir, /model\.safetensors is truncated: header length says \d+ bytes, but only 42 follow it/);
    dir = await fresh();
    const full = readFileSync(join(dir, 'model.safetensors'));
    writeFileSync(join(dir, 'model.safetensors'), full.subarray(0, full.length - 3));
    await fails(dir, /model\.safetensors is truncated: header says 40 bytes of tensor data, file has 37/);
    dir = await fresh();
    writeFileSync(join(dir, 'model.safetensors'), new Uint8Array(3));
    await fails(dir, /model\.safetensors is truncated: 3 bytes, too short for the 8-byte header length/);
    dir = await fresh();
    writeFileSync(join(dir, 'config.json'), '{"kind": "policy",');
    await fails(dir, /config\.json is not valid JSON/);
    dir = await fresh();
    writeFileSync(join(dir, 'state.json'), '[1, 2]');
    await fails(dir, /state\.json must hold a JSON object; got \[1,2\]/);
    dir = await fresh();
    await assert.rejects(loadCheckpoint(dir, { names: { 'wte.weight': [8, 2], 'ln.bias': [2], 'ln.weight': [2] } }), /does not match the model: tensor "wte.weight" has shape \[4, 2\], expected \[8, 2\]; missing tensor "ln.weight" \(expected shape \[2\]\)/);
    await assert.rejects(loadCheckpoint(dir, { names: { 'wte.weight': [4, 2] } }), /unexpected tensor "ln.bias" with shape \[2\]/);
    dir = await fresh();
    mkdirSync(join(dir, 'x'));
    writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('not json')]));
    await fails(dir, /model\.safetensors has a header that does not start with "\{"/);
  });
});

describe('corrupt checkpoints through the CLI', () => {
  it('run on the tiny config over a truncated or mis-shaped learner checkpoint exits non-zero with one error line', async () => {
    const root = tmp();
    const common = ['--config', 'config/tiny.yaml', '--set', `run.cacheDir=${join(root, 'cache')}`, '--set', `run.dir=${join(root, 'runs')}`];
    // A resumed run finds its learner checkpoint in runs/<id>/checkpoints.
    const truncated = join(root, 'runs', 'truncated', 'checkpoints');
    await saveCheckpoint(truncated, good());
    const bytes = readFileSync(join(truncated, 'model.safetensors'));
    writeFileSync(join(truncated, 'model.safetensors'), bytes.subarray(0, bytes.length - 5));
    assert.match(cliFails(['run', ...common, '--set', 'run.id=truncated'], false), /^error: .*checkpoints\/model\.safetensors is truncated: header says \d+ bytes of tensor data, file has \d+/);

    const misshaped = join(root, 'runs', 'misshaped', 'checkpoints');
    await saveCheckpoint(misshaped, good());
    assert.match(cliFails(['run', ...common, '--set', 'run.id=misshaped'], false), /^error: .*checkpoints\/model\.safetensors does not match the model: missing tensor ".*" \(expected shape \[.*\]\);.* unexpected tensor "wte.weight" with shape \[4, 2\]/);
  });
});

function good() {
  return {
    weights: { 'wte.weight': { dtype: 'F32' as const, shape: [4, 2], data: new Float32Array(8).fill(0.5) } },
    config: { kind: 'policy' },
    state: { step: 3, version: 1, ackedAfterCheckpoint: [] },
  };
}
