// The tensor backend: CI runs on wasm, and a backend that cannot start is an error, never a silent fall-back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, describeBackend, initBackend, PORTABLE_ADVICE, sayBackend, workerBackendNote } from '../../src/kernels/backend.js';

test('auto picks a native backend when installed, else wasm, and never cpu', async () => {
  const info = await initBackend('auto');
  assert.notEqual(info.active, 'cpu');
  assert.equal(tf.getBackend(), info.active);
  console.log(`# ${describeBackend(info)}`);
});

test('CI runs on the wasm backend (tfjs-node cannot install on these machines)', async (t) => {
  const info = await initBackend('auto');
  if (info.active === 'tensorflow') t.skip('a native tfjs-node backend is installed here');
  else assert.equal(info.active, 'wasm');
});

test('an unknown backend name is a clear error', async () => {
  await assert.rejects(initBackend('gpu' as never), (e: Error) => e instanceof BackendError && /must be one of auto, tfjs-node-gpu, tfjs-node, wasm, cpu; got "gpu"/.test(e.message));
});

test('a requested native backend that is not installed is an error, not a fall-back', async (t) => {
  const info = await initBackend('auto');
  if (info.active === 'tensorflow') return t.skip('tfjs-node is installed here');
  await assert.rejects(initBackend('tfjs-node-gpu'), (e: Error) => e instanceof BackendError && /tfjs-node-gpu is not installed/.test(e.message));
  assert.equal(tf.getBackend(), 'wasm');
});

test('the backend line is said once per process; a worker thread says only a different one, never the advice again', () => {
  const said: string[] = [];
  const own = `backend: wasm (x, requested auto); native kernels A (portable, 1 thread); ${PORTABLE_ADVICE}`;
  sayBackend(own, (l) => said.push(l));
  assert.deepEqual(said, [own]);
  assert.equal(workerBackendNote(own), undefined, 'the same line is not repeated');
  assert.equal(workerBackendNote(own.replace(`; ${PORTABLE_ADVICE}`, '')), undefined, 'nor the same line without the advice');
  assert.equal(workerBackendNote(`backend: wasm (x, requested auto); native kernels A (portable, 2 threads); ${PORTABLE_ADVICE}`), 'backend: wasm (x, requested auto); native kernels A (portable, 2 threads)');
});
