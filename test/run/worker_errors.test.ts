// Errors thrown in a role's worker thread keep their class on this side, so a corrupt checkpoint stays the user's error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { CheckpointError } from '../../src/checkpoint/checkpoint.js';
import { reviveWorkerError } from '../../src/run/worker_ports.js';

/** An error of class `name` made in a real worker thread and received here, structured-cloned. */
function fromWorker(name: string, message: string): Promise<unknown> {
  const src = `class ${name} extends Error { name = ${JSON.stringify(name)} }; require('node:worker_threads').parentPort.postMessage(new ${name}(${JSON.stringify(message)}))`;
  return new Promise((resolve, reject) => {
    const w = new Worker(src, { eval: true });
    w.once('message', (m) => void w.terminate().then(() => resolve(m)));
    w.once('error', reject);
  });
}

test('a CheckpointError cloned from a worker thread is a CheckpointError again, with the same message', async () => {
  const cloned = await fromWorker('CheckpointError', 'model.safetensors is truncated');
  assert.ok(!(cloned instanceof CheckpointError), 'the clone alone has lost its class');
  const revived = reviveWorkerError(cloned);
  assert.ok(revived instanceof CheckpointError);
  assert.equal((revived as Error).message, 'model.safetensors is truncated');
  assert.equal((revived as Error).cause, cloned);
});

test('other errors pass through unchanged', async () => {
  const cloned = await fromWorker('WeirdError', 'boom');
  assert.equal(reviveWorkerError(cloned), cloned);
  assert.equal(reviveWorkerError('not an error'), 'not an error');
});
