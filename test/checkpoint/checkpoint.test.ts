// Checkpoint folders: round trip, atomic replacement, interrupted saves, and errors that name the file and tensor.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, commitCheckpoint, loadCheckpoint, NoCheckpointError, saveCheckpoint, writeCheckpointTemp, type CheckpointContents } from '../../src/checkpoint/checkpoint.js';
import { encodeSafetensors } from '../../src/checkpoint/safetensors.js';
import { AdamW } from '../../src/kernels/adamw.js';
import { initBackend } from '../../src/kernels/backend.js';

const root = mkdtempSync(join(tmpdir(), 'ckpt-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
before(async () => {
  await initBackend('wasm');
});

function contents(version: number): CheckpointContents {
  return {
    weights: {
      'wte': { dtype: 'F32', shape: [4, 2], data: Float32Array.from({ length: 8 }, (_, i) => i * 0.5 + version) },
      'ln_f.b': { dtype: 'F32', shape: [2], data: new Float32Array([version, -version]) },
    },
    config: { layers: 1, dModel: 2, vocab: 4 },
    tokenizer: JSON.stringify({ model: { type: 'BPE', vocab: { a: 0, b: 1 } } }),
    state: { step: version * 10, version },
  };
}
const shapes = { wte: [4, 2], 'ln_f.b': [2] };

async function expectError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof CheckpointError, `${e.name}: ${e.message}`);
    assert.equal(e.name, e instanceof NoCheckpointError ? 'NoCheckpointError' : 'CheckpointError');
    assert.match(e.message, pattern);
    return true;
  });
}

test('save then load gives identical tensors, config, tokenizer and state', async () => {
  const dir = join(root, 'roundtrip', 'ckpt');
  const c = contents(1);
  await saveCheckpoint(dir, c);
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'state.json', 'tokenizer.json']);
  const back = await loadCheckpoint(dir, { names: shapes });
  assert.deepEqual(back.weights, c.weights);
  assert.deepEqual(back.config, c.config);
  assert.equal(back.tokenizer, c.tokenizer);
  assert.deepEqual(back.state, c.state);
  assert.equal(back.optimizer, undefined);
});

test('saving over an existing checkpoint replaces it and leaves no side folders', async () => {
  const parent = join(root, 'replace');
  const dir = join(parent, 'latest');
  await saveCheckpoint(dir, contents(1));
  await saveCheckpoint(dir, contents(2));
  assert.deepEqual((await loadCheckpoint(dir)).state, { step: 20, version: 2 });
  assert.deepEqual(readdirSync(parent), ['latest']);
});

test('a save that crashes before the rename leaves the previous checkpoint intact and loadable', async () => {
  const parent = join(root, 'crash');
  const dir = join(parent, 'latest');
  await saveCheckpoint(dir, contents(1));
  // Phase 1 of a save of version 2 completes, then the process "dies" before phase 2.
  const tmp = await writeCheckpointTemp(dir, contents(2));
  assert.deepEqual((await loadCheckpoint(dir, { names: shapes })).state, { step: 10, version: 1 });
  assert.equal(readdirSync(parent).length, 2);
  // A later save still works; the in-flight temp of a live process is not touched by it.
  await saveCheckpoint(dir, contents(3));
  assert.deepEqual((await loadCheckpoint(dir)).state, { step: 30, version: 3 });
  rmSync(tmp, { recursive: true });
});

test('temp folders left by a dead process are cleaned up by the next save', async () => {
  const parent = join(root, 'stale');
  mkdirSync(join(parent, '.latest.tmp-2147483646-1'), { recursive: true });
  writeFileSync(join(parent, '.latest.tmp-2147483646-1', 'model.safetensors'), 'partial');
  await saveCheckpoint(join(parent, 'latest'), contents(1));
  assert.deepEqual(readdirSync(parent), ['latest']);
});

test('a failed rename puts the previous checkpoint back', async () => {
  const parent = join(root, 'rollback');
  const dir = join(parent, 'latest');
  await saveCheckpoint(dir, contents(1));
  await assert.rejects(commitCheckpoint(join(parent, '.latest.tmp-gone'), dir), /ENOENT/);
  assert.deepEqual((await loadCheckpoint(dir)).state, { step: 10, version: 1 });
  assert.deepEqual(readdirSync(parent), ['latest']);
});

test('a crash between the two renames is reported with where the previous checkpoint is', async () => {
  const parent = join(root, 'between');
  const dir = join(parent, 'latest');
  await saveCheckpoint(dir, contents(1));
  renameSync(dir, join(parent, '.latest.old-1-1'));
  await expectError(loadCheckpoint(dir), /does not exist \(a save was interrupted; the previous checkpoint is at .*\.latest\.old-1-1\)/);
});

test('missing, extra and mis-shaped tensors are named with both shapes', async () => {
  const dir = join(root, 'names', 'ckpt');
  await saveCheckpoint(dir, contents(1));
  await expectError(loadCheckpoint(dir, { names: { ...shapes, 'h.0.mlp.w': [2, 8] } }), /missing tensor "h\.0\.mlp\.w" \(expected shape \[2, 8\]\)/);
  await expectError(loadCheckpoint(dir, { names: { wte: [2, 4], 'ln_f.b': [2] } }), /model\.safetensors does not match the model: tensor "wte" has shape \[4, 2\], expected \[2, 4\]/);
  await expectError(loadCheckpoint(dir, { names: { wte: [4, 2] } }), /unexpected tensor "ln_f\.b" with shape \[2\]/);
});

test('missing folder or files, corrupt JSON and truncated weights are CheckpointErrors', async () => {
  await expectError(loadCheckpoint(join(root, 'nowhere')), /checkpoint folder .*nowhere does not exist$/);
  // A folder never written is its own type: a learner starts fresh on it, and on nothing else.
  await assert.rejects(loadCheckpoint(join(root, 'nowhere')), NoCheckpointError);
  const dir = join(root, 'corrupt', 'ckpt');
  await saveCheckpoint(dir, contents(1));
  writeFileSync(join(dir, 'config.json'), '{"layers": 1,');
  await expectError(loadCheckpoint(dir), /config\.json is not valid JSON/);
  writeFileSync(join(dir, 'config.json'), '{}');
  writeFileSync(join(dir, 'state.json'), '[1]');
  await expectError(loadCheckpoint(dir), /state\.json must hold a JSON object/);
  rmSync(join(dir, 'state.json'));
  const full = Buffer.from(encodeWeightsOf(contents(1)));
  writeFileSync(join(dir, 'model.safetensors'), full.subarray(0, full.length - 5));
  await expectError(loadCheckpoint(dir), /model\.safetensors is truncated: header says 40 bytes of tensor data, file has 35/);
  rmSync(join(dir, 'model.safetensors'));
  await expectError(loadCheckpoint(dir), /has no model\.safetensors/);
});

test('the optimizer state survives a checkpoint: the next step is bit-identical', async () => {
  const dir = join(root, 'optim', 'ckpt');
  const grads = () => ({ w: tf.tensor2d([0.3, -1, 2, 0.5], [2, 2]), b: tf.tensor1d([1, -1]) });
  const vars = { w: tf.variable(tf.tensor2d([1, 2, 3, 4], [2, 2])), b: tf.variable(tf.tensor1d([0, 0])) };
  const opt = new AdamW({ lr: 0.01, weightDecay: 0.1 });
  for (let i = 0; i < 2; i++) {
    const g = grads();
    opt.step(vars, g);
    tf.dispose(Object.values(g));
  }
  await saveCheckpoint(dir, {
    weights: {
      w: { dtype: 'F32', shape: [2, 2], data: vars.w.dataSync() as Float32Array },
      b: { dtype: 'F32', shape: [2], data: vars.b.dataSync() as Float32Array },
    },
    config: {},
    optimizer: opt.exportState(),
    state: { step: opt.stepCount },
  });
  const back = await loadCheckpoint(dir);
  const restored = {
    w: tf.variable(tf.tensor(back.weights.w!.data as Float32Array, back.weights.w!.shape)),
    b: tf.variable(tf.tensor(back.weights.b!.data as Float32Array, back.weights.b!.shape)),
  };
  const opt2 = new AdamW({ lr: 0.01, weightDecay: 0.1 });
  opt2.importState(back.optimizer!);
  const g = grads();
  opt.step(vars, g);
  opt2.step(restored, g);
  assert.deepEqual(restored.w.dataSync(), vars.w.dataSync());
  assert.deepEqual(restored.b.dataSync(), vars.b.dataSync());
  assert.equal(opt2.stepCount, 3);
  tf.dispose([...Object.values(g), ...Object.values(vars), ...Object.values(restored)]);
  opt.dispose();
  opt2.dispose();
});

function encodeWeightsOf(c: CheckpointContents): Uint8Array {
  return encodeSafetensors(c.weights, { format: 'pt' });
}
