// The native addon in worker_threads (as piscina runs it): it loads per thread, and concurrent GEMMs stay correct.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loadAddon } from '../../src/kernels/native/index.js';

const load = loadAddon();
const skip = load.addon === undefined ? `native addon not built, pure-wasm path only: ${load.reason}` : false;
if (skip) console.log(`skipping native worker tests: ${skip}`);

const require = createRequire(import.meta.url);
const urls = {
  core: pathToFileURL(require.resolve('@tensorflow/tfjs-core')).href,
  wasm: pathToFileURL(require.resolve('@tensorflow/tfjs-backend-wasm')).href,
  native: new URL('../../src/kernels/native/index.js', import.meta.url).href,
};

// Each worker multiplies with every transpose combination, natively and with the stock kernel, and reports the worst gap.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const tf = await import(workerData.core);
  await import(workerData.wasm);
  const { enableNativeKernels, disableNativeKernels } = await import(workerData.native);
  await tf.setBackend('wasm');
  let worst = 0;
  let status;
  for (let round = 0; round < workerData.rounds; round++) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = tf.randomUniform(ta ? [96, 160] : [160, 96], -1, 1, 'float32', workerData.seed + round);
      const b = tf.randomUniform(tb ? [72, 96] : [96, 72], -1, 1, 'float32', workerData.seed + 7 * round + 1);
      status = enableNativeKernels({ threads: 1 });
      const got = tf.matMul(a, b, ta, tb);
      disableNativeKernels();
      const want = tf.matMul(a, b, ta, tb);
      worst = Math.max(worst, tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]));
      tf.dispose([a, b, got, want]);
    }
  }
  parentPort.postMessage({ status, worst, numTensors: tf.memory().numTensors });
})().catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));
`;

interface WorkerReport {
  status?: { active: boolean; kernels: string[]; reason?: string };
  worst?: number;
  numTensors?: number;
  error?: string;
}

function runWorker(seed: number, rounds: number): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { ...urls, seed, rounds } });
    w.once('message', (m: WorkerReport) => {
      void w.terminate();
      resolve(m);
    });
    w.once('error', reject);
  });
}

test('native kernels load and match the stock kernel in two concurrent worker threads', { skip, timeout: 60_000 }, async () => {
  const reports = await Promise.all([runWorker(1, 6), runWorker(2, 6)]);
  for (const r of reports) {
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.status!.active, true, r.status!.reason);
    assert.ok(r.status!.kernels.includes('BatchMatMul'));
    assert.ok(r.worst! < 1e-4, `worst |native - stock| = ${r.worst}`);
    assert.equal(r.numTensors, 0);
  }
});
