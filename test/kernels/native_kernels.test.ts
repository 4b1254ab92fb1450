// Native wasm-backend kernels (native/): each against the stock tfjs wasm kernel on random inputs, forward and gradient.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '../../src/kernels/gradients.js';
import { initBackend } from '../../src/kernels/backend.js';
import { disableNativeKernels, enableNativeKernels, loadAddon, nativeAdamW, nativeGelu, nativeKernelStatus, nativeLayerNorm, withGemmThreads } from '../../src/kernels/native/index.js';
import { layerNorm } from '../../src/kernels/layer_norm.js';
import { gelu } from '../../src/kernels/gpt.js';
import { sumLayout } from '../../src/kernels/native/elementwise.js';
import { batchMap } from '../../src/kernels/native/batch_mat_mul.js';
import { Rng } from '../../src/kernels/rng.js';

const load = loadAddon();
const skip = load.addon === undefined ? `native addon not built, pure-wasm path only: ${load.reason}` : false;
if (skip) console.log(`skipping native kernel tests: ${skip}`);

const COMBOS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
const GEMMS = ['auto', 'portable'] as const;

function randomTensor(rng: Rng, shape: number[]): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.next() * 2 - 1), shape);
}

/** Shape of op(x) given the logical [.., rows, cols] it should have. */
function stored(shape: number[], transposed: boolean): number[] {
  if (!transposed) return shape;
  const s = shape.slice();
  [s[s.length - 2], s[s.length - 1]] = [s[s.length - 1]!, s[s.length - 2]!];
  return s;
}

function maxAbsDiff(x: tf.Tensor, y: tf.Tensor): number {
  assert.deepEqual(x.shape, y.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!);
}

/** Runs f once with the stock kernels and once with the native ones; returns both results (tensors kept). */
function stockVsNative(f: () => tf.Tensor[], gemm: 'auto' | 'portable' = 'auto'): { stock: tf.Tensor[]; native: tf.Tensor[] } {
  disableNativeKernels();
  const stock = tf.tidy(f);
  const st = enableNativeKernels({ gemm, threads: 2 });
  assert.equal(st.active, true, st.reason);
  const native = tf.tidy(f);
  disableNativeKernels();
  return { stock, native };
}

test('native kernels: backend and status', { skip }, async () => {
  await initBackend('wasm');
  const st = enableNativeKernels();
  assert.equal(st.active, true, st.reason);
  assert.deepEqual([...st.kernels].sort(), ['BatchMatMul', 'Concat', 'GatherV2', 'Identity', 'RlhfAdamW', 'RlhfAttention', 'RlhfAttentionGrad', 'RlhfGelu', 'RlhfGeluGrad', 'RlhfLayerNorm', 'RlhfLayerNormGrad', 'RlhfTokenLogProbs', 'RlhfTokenLogProbsGrad', 'Sum', 'Tanh', 'Transpose']);
  assert.ok(st.blas === load.addon!.blas);
  assert.ok(st.threads >= 1);
  assert.notEqual(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc.name, 'batchMatMul');
  assert.deepEqual(enableNativeKernels({ kernels: ['Tanh'] }).kernels, ['Tanh']); // re-applying restores the others
  assert.equal(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc.name, 'batchMatMul');
  assert.equal(tf.getKernel('RlhfGelu', 'wasm'), undefined);
  const off = disableNativeKernels();
  assert.equal(off.active, false);
  assert.equal(tf.getKernel('RlhfAdamW', 'wasm'), undefined);
  assert.equal(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc.name, 'batchMatMul'); // the stock function is back
  assert.throws(() => enableNativeKernels({ threads: 0 }), /native threads must be an integer in \[1, 1024\]; got 0/);
  assert.throws(() => enableNativeKernels({ gemm: 'mkl' as never }), /must be one of auto, portable; got "mkl"/);
  assert.throws(() => enableNativeKernels({ kernels: ['Conv2D' as never] }), /must be among BatchMatMul, Tanh, Sum, Transpose, Concat, GatherV2, Identity, RlhfGelu, RlhfAdamW, RlhfLayerNorm, RlhfAttention, RlhfTokenLogProbs; got \["Conv2D"\]/);
});

test('BatchMatMul: all transpose combinations, odd and batched shapes, both GEMMs', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(11);
  // [a logical shape, b logical shape]
  const cases: [number[], number[]][] = [
    [[7, 13], [13, 5]],
    [[1, 1], [1, 1]],
    [[64, 300], [300, 70]],
    [[3, 7, 13], [3, 13, 5]],
    [[2, 3, 9, 4], [2, 3, 4, 11]],
    [[1, 7, 13], [4, 13, 5]], // broadcast a's batch
    [[4, 7, 13], [1, 13, 5]], // broadcast b's batch
    [[4, 7, 13], [13, 5]], // rank-2 b against a batch
    [[5, 0, 3], [5, 3, 4]], // empty output
  ];
  const before = tf.memory().numTensors;
  for (const gemm of GEMMS) {
    for (const [sa, sb] of cases) {
      for (const [ta, tb] of COMBOS) {
        const a = randomTensor(rng, stored(sa, ta));
        const b = randomTensor(rng, stored(sb, tb));
        const { stock, native } = stockVsNative(() => [tf.matMul(a, b, ta, tb)], gemm);
        const d = maxAbsDiff(stock[0]!, native[0]!);
        assert.ok(d < 1e-4, `${gemm} a [${sa}] b [${sb}] transposeA=${ta} transposeB=${tb}: max |diff| ${d}`);
        tf.dispose([a, b, ...stock, ...native]);
      }
    }
  }
  assert.equal(tf.memory().numTensors, before);
});

test('BatchMatMul: broadcasting of batch dims follows tf.matMul semantics ([2,1] x [1,4] -> [2,4])', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(12);
  const a = randomTensor(rng, [2, 1, 7, 13]);
  const b = randomTensor(rng, [1, 4, 13, 5]);
  assert.deepEqual(batchMap([2, 1], [2, 4]), Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1]));
  assert.deepEqual(batchMap([1, 4], [2, 4]), Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]));
  assert.equal(batchMap([4], [2, 4]) instanceof Int32Array, true);
  // The reference takes each pair of matrices explicitly (the stock kernel indexes batches modulo their count instead).
  const expected = tf.tidy(() => {
    const parts: tf.Tensor[] = [];
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 4; j++) {
        parts.push(tf.matMul(tf.reshape(tf.slice(a, [i, 0], [1, 1]), [7, 13]), tf.reshape(tf.slice(b, [0, j], [1, 1]), [13, 5])));
      }
    }
    return tf.reshape(tf.stack(parts), [2, 4, 7, 5]);
  });
  for (const gemm of GEMMS) {
    enableNativeKernels({ gemm });
    const got = tf.matMul(a, b);
    disableNativeKernels();
    assert.ok(maxAbsDiff(got, expected) < 1e-5);
    got.dispose();
  }
  tf.dispose([a, b, expected]);
});

test('BatchMatMul gradients (which use transposed products) match the stock kernel', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(13);
  const cases: [number[], number[]][] = [
    [[7, 13], [13, 5]],
    [[3, 6, 9], [3, 9, 4]],
  ];
  const before = tf.memory().numTensors;
  for (const [sa, sb] of cases) {
    for (const [ta, tb] of COMBOS) {
      const a = randomTensor(rng, stored(sa, ta));
      const b = randomTensor(rng, stored(sb, tb));
      const w = randomTensor(rng, [...sa.slice(0, -1), sb[sb.length - 1]!]);
      const loss = (x: tf.Tensor, y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), w));
      const { stock, native } = stockVsNative(() => tf.grads(loss)([a, b]), 'auto');
      for (let i = 0; i < 2; i++) {
        assert.deepEqual(native[i]!.shape, i === 0 ? a.shape : b.shape);
        const d = maxAbsDiff(stock[i]!, native[i]!);
        assert.ok(d < 1e-4, `grad ${i} a [${sa}] b [${sb}] transposeA=${ta} transposeB=${tb}: max |diff| ${d}`);
      }
      tf.dispose([a, b, w, ...stock, ...native]);
    }
  }
  assert.equal(tf.memory().numTensors, before);
});

test('BatchMatMul stays correct when its output grows the wasm memory (the heap buffer is re-read)', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(14);
  const backend = tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } };
  const a = randomTensor(rng, [1024, 8]);
  const b = randomTensor(rng, [8, 4096]);
  const bytesBefore = backend.wasm.HEAPU8.buffer.byteLength;
  enableNativeKernels();
  const got = tf.matMul(a, b); // [1024, 4096]: 16 MiB, more than the heap had free
  disableNativeKernels();
  const grew = backend.wasm.HEAPU8.buffer.byteLength > bytesBefore;
  const expected = tf.matMul(a, b);
  assert.ok(maxAbsDiff(got, expected) < 1e-5);
  if (!grew) console.log('# the heap already had room; growth was not exercised this time');
  tf.dispose([a, b, got, expected]);
});

test('enableNativeKernels leaves other backends alone and says why', { skip }, async () => {
  await initBackend('wasm');
  await tf.setBackend('cpu');
  try {
    const st = enableNativeKernels();
    assert.equal(st.active, false);
    assert.match(st.reason ?? '', /active tensor backend is "cpu", not 'wasm'/);
  } finally {
    await tf.setBackend('wasm');
  }
});

test('raw sgemm: alpha, beta, leading dimensions and bounds checks', { skip }, () => {
  const addon = load.addon!;
  const rng = new Rng(15);
  const [m, n, k, lda, ldb, ldc] = [5, 7, 9, 11, 8, 10]; // a [m,k] in rows of lda, b [k,n] in rows of ldb
  const a = Float32Array.from({ length: m * lda }, () => rng.next() - 0.5);
  const b = Float32Array.from({ length: k * ldb }, () => rng.next() - 0.5);
  const c0 = Float32Array.from({ length: m * ldc }, () => rng.next() - 0.5);
  for (const portable of [false, true]) {
    const c = c0.slice();
    addon.sgemm(false, false, m, n, k, 0.5, a, lda, b, ldb, 2, c, ldc, portable);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < ldc; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[i * lda + p]! * b[p * ldb + j]!;
        const want = j < n ? 0.5 * s + 2 * c0[i * ldc + j]! : c0[i * ldc + j]!; // padding columns untouched
        assert.ok(Math.abs(c[i * ldc + j]! - want) < 1e-5, `portable=${portable} c[${i},${j}] = ${c[i * ldc + j]}, want ${want}`);
      }
    }
  }
  assert.throws(() => addon.sgemm(false, false, m, n, k, 1, a.subarray(0, 10), lda, b, ldb, 0, c0, ldc), RangeError);
  assert.throws(() => addon.sgemm(false, false, m, n, k, 1, a, 3, b, ldb, 0, c0, ldc), RangeError);
  const heap = new ArrayBuffer(64);
  assert.throws(() => addon.batchMatMul(heap, 0, 0, 32, 1, 4, 4, 4, false, false, 1, 1), RangeError);
  assert.throws(() => addon.batchMatMul(heap, 2, 0, 0, 1, 1, 1, 1, false, false, 1, 1), RangeError);
});

test('portable sgemm split over threads: every transpose, odd sizes, row and column splits, equal to a plain loop', { skip }, () => {
  const addon = load.addon!;
  const rng = new Rng(16);
  const before = addon.getThreads();
  addon.setThreads(3);
  try {
    // [m, n, k]: the first splits rows of C (m >= n), the second columns; both are big enough to use several threads.
    for (const [m, n, k] of [[257, 70, 260], [20, 403, 610]] as const) {
      for (const [ta, tb] of COMBOS) {
        const lda = (ta ? m : k) + 3;
        const ldb = (tb ? k : n) + 1;
        const ldc = n + 2;
        const a = Float32Array.from({ length: (ta ? k : m) * lda }, () => rng.next() - 0.5);
        const b = Float32Array.from({ length: (tb ? n : k) * ldb }, () => rng.next() - 0.5);
        const c = Float32Array.from({ length: m * ldc }, () => rng.next() - 0.5);
        const c0 = c.slice();
        addon.sgemm(ta, tb, m, n, k, 0.75, a, lda, b, ldb, 0.5, c, ldc, true);
        let worst = 0;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < ldc; j++) {
            let want = c0[i * ldc + j]!;
            if (j < n) {
              let s = 0;
              for (let p = 0; p < k; p++) s += (ta ? a[p * lda + i]! : a[i * lda + p]!) * (tb ? b[j * ldb + p]! : b[p * ldb + j]!);
              want = 0.75 * s + 0.5 * want;
            }
            worst = Math.max(worst, Math.abs(c[i * ldc + j]! - want));
          }
        }
        assert.ok(worst < 1e-4, `[${m},${n},${k}] tA=${ta} tB=${tb}: max error ${worst}`);
      }
    }
  } finally {
    addon.setThreads(before);
  }
});

test('withGemmThreads runs a stage on more GEMM threads and puts the count back, also after a failure', { skip }, async () => {
  await initBackend('wasm');
  assert.equal(enableNativeKernels({ threads: 1 }).threads, 1);
  assert.equal(await withGemmThreads(2, async () => nativeKernelStatus().threads), 2);
  assert.equal(nativeKernelStatus().threads, 1);
  assert.equal(load.addon!.getThreads(), 1);
  await assert.rejects(withGemmThreads(2, async () => { throw new Error('stage failed'); }), /stage failed/);
  assert.equal(load.addon!.getThreads(), 1);
  disableNativeKernels();
});

test('Tanh matches the stock kernel over the whole range, including saturation and tiny inputs', { skip }, async () => {
  await initBackend('wasm');
  const before = tf.memory().numTensors;
  const values = Float32Array.from({ length: 4099 }, (_, i) => (i - 2049) / 100); // [-20.49, 20.49]
  values.set([0, 1e-7, -1e-7, 3e-4, -5e-4, 1e-30, -0], 0);
  const x = tf.tensor(values, [values.length]);
  const xs = tf.tensor(values.slice(0, 7 * 13 * 5), [7, 13, 5]);
  for (const input of [x, xs]) {
    const { stock, native } = stockVsNative(() => [tf.tanh(input)]);
    assert.deepEqual(native[0]!.shape, input.shape);
    const d = maxAbsDiff(stock[0]!, native[0]!);
    assert.ok(d < 1e-6, `max |tanh native - stock| = ${d}`);
    tf.dispose([...stock, ...native]);
  }
  enableNativeKernels();
  const y = tf.tidy(() => tf.tanh(tf.tensor([0, 1e-7, -50, 50, NaN])));
  disableNativeKernels();
  const v = y.dataSync();
  assert.deepEqual(Array.from(v.slice(0, 4)), [0, Math.fround(1e-7), -1, 1]);
  assert.ok(Number.isNaN(v[4]!));
  tf.dispose([x, xs, y]);
  assert.equal(tf.memory().numTensors, before);
});

test('sumLayout: contiguous blocks of summed axes, size-1 dims ignored', { skip }, () => {
  assert.deepEqual(sumLayout([7, 13, 5], [0]), { outer: 1, reduced: 7, inner: 65 });
  assert.deepEqual(sumLayout([7, 13, 5], [1]), { outer: 7, reduced: 13, inner: 5 });
  assert.deepEqual(sumLayout([7, 13, 5], [1, 2]), { outer: 7, reduced: 65, inner: 1 });
  assert.deepEqual(sumLayout([7, 1, 5], [0, 2]), { outer: 1, reduced: 35, inner: 1 });
  assert.deepEqual(sumLayout([7, 13, 5], [0, 2]), undefined);
  assert.deepEqual(sumLayout([3, 1, 4], [1]), { outer: 12, reduced: 1, inner: 1 });
});

test('Sum matches the stock kernel for every axis set and keepDims (non-contiguous ones fall back)', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(16);
  const cases: [number[], (number | number[] | null)[]][] = [
    [[7, 13, 5], [0, 1, 2, -1, [0, 1], [1, 2], [0, 2], [0, 1, 2], null]],
    [[1024, 512], [0, 1]],
    [[3, 1, 4], [1, [0, 1]]],
    [[2, 3, 4, 6], [[1, 2], [2, 3], 3]],
    [[1000], [0]],
    [[0, 5], [0, 1]],
  ];
  const before = tf.memory().numTensors;
  for (const [shape, axesList] of cases) {
    const x = randomTensor(rng, shape);
    for (const axis of axesList) {
      for (const keepDims of [false, true]) {
        const { stock, native } = stockVsNative(() => [tf.sum(x, axis ?? undefined, keepDims)]);
        const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(stock[0]!)).dataSync()[0] ?? 1));
        const d = stock[0]!.size === 0 ? 0 : maxAbsDiff(stock[0]!, native[0]!);
        assert.ok(d < 1e-5 * scale, `sum [${shape}] axis ${JSON.stringify(axis)} keepDims=${keepDims}: max |diff| ${d}`);
        assert.equal(native[0]!.dtype, 'float32');
        tf.dispose([...stock, ...native]);
      }
    }
    x.dispose();
  }
  // int32 sums stay with the stock kernel (and stay int32)
  enableNativeKernels();
  const s = tf.tidy(() => tf.sum(tf.tensor([1, 2, 3], [3], 'int32')));
  disableNativeKernels();
  assert.equal(s.dtype, 'int32');
  assert.equal(s.dataSync()[0], 6);
  s.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('gradients through tanh and sum (a GELU-like chain and a bias gradient) match the stock kernels', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(17);
  const x = randomTensor(rng, [64, 48]);
  const w = randomTensor(rng, [48, 40]);
  const bias = randomTensor(rng, [40]);
  const f = (xv: tf.Tensor, wv: tf.Tensor, bv: tf.Tensor): tf.Scalar =>
    tf.sum(tf.mul(tf.tanh(tf.add(tf.matMul(xv, wv), bv)), tf.add(tf.matMul(xv, wv), 1)));
  const before = tf.memory().numTensors;
  const { stock, native } = stockVsNative(() => tf.grads(f)([x, w, bias]));
  for (let i = 0; i < 3; i++) {
    const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(stock[i]!)).dataSync()[0]!));
    const d = maxAbsDiff(stock[i]!, native[i]!);
    assert.ok(d < 1e-5 * scale, `grad ${i}: max |diff| ${d}`);
  }
  tf.dispose([...stock, ...native]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w, bias]);
});

test('nativeGelu matches the tf-op GELU of the model, forward and gradient; undefined when not enabled', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(18);
  const x = tf.tidy(() => tf.mul(randomTensor(rng, [33, 65]), 6)); // [-6, 6]
  const w = randomTensor(rng, [33, 65]);
  disableNativeKernels();
  assert.equal(nativeGelu(x), undefined);
  const before = tf.memory().numTensors;
  const loss = (g: (t: tf.Tensor) => tf.Tensor) => (xv: tf.Tensor): tf.Scalar => tf.sum(tf.mul(g(xv), w));
  const [yRef, dRef] = tf.tidy(() => [gelu(x), tf.grad(loss(gelu))(x)]);
  enableNativeKernels({ kernels: ['RlhfGelu'] });
  const [y, d] = tf.tidy(() => [nativeGelu(x)!, tf.grad(loss((t) => nativeGelu(t)!))(x)]);
  disableNativeKernels();
  assert.ok(maxAbsDiff(y!, yRef!) < 2e-6, `forward max |diff| ${maxAbsDiff(y!, yRef!)}`);
  assert.ok(maxAbsDiff(d!, dRef!) < 1e-5, // float rounding differs from the op-by-op chain (FMA, order)
    `gradient max |diff| ${maxAbsDiff(d!, dRef!)}`);
  tf.dispose([y!, d!, yRef!, dRef!]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w]);
});

test('nativeAdamW matches the AdamW update written with tf ops over several steps', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(19);
  const shape = [37, 29];
  const [beta1, beta2, eps, lr, wd] = [0.9, 0.95, 1e-8, 3e-3, 0.1];
  let [pRef, mRef, vRef] = [randomTensor(rng, shape), tf.zeros(shape), tf.zeros(shape)];
  let [p, m, v] = [pRef.clone(), tf.zeros(shape), tf.zeros(shape)];
  disableNativeKernels();
  assert.equal(nativeAdamW(p, p, m, v, { beta1, beta2, stepSize: 1, epsHat: 1, decay: 1 }), undefined);
  enableNativeKernels({ kernels: ['RlhfAdamW'] });
  assert.throws(() => nativeAdamW(p, tf.zeros([3]), m, v, { beta1, beta2, stepSize: 1, epsHat: 1, decay: 1 }), /g has shape \[3\]/);
  const before = tf.memory().numTensors;
  for (let t = 1; t <= 4; t++) {
    const g = randomTensor(rng, shape);
    const bc1 = 1 - beta1 ** t;
    const bc2 = 1 - beta2 ** t;
    const h = { beta1, beta2, stepSize: (lr * Math.sqrt(bc2)) / bc1, epsHat: eps * Math.sqrt(bc2), decay: 1 - lr * wd };
    const ref = tf.tidy(() => {
      const m1 = tf.add(tf.mul(mRef, beta1), tf.mul(g, 1 - beta1));
      const v1 = tf.add(tf.mul(vRef, beta2), tf.mul(tf.square(g), 1 - beta2));
      const p1 = tf.sub(tf.mul(pRef, h.decay), tf.mul(tf.div(m1, tf.add(tf.sqrt(v1), h.epsHat)), h.stepSize));
      return [p1, m1, v1];
    });
    const got = nativeAdamW(p, g, m, v, h)!;
    for (let i = 0; i < 3; i++) {
      const d = maxAbsDiff(got[i]!, ref[i]!);
      assert.ok(d < 1e-6, `step ${t} output ${i}: max |diff| ${d}`);
    }
    tf.dispose([pRef, mRef, vRef, p, m, v, g]);
    [pRef, mRef, vRef] = ref as [tf.Tensor, tf.Tensor, tf.Tensor];
    [p, m, v] = got;
  }
  disableNativeKernels();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([pRef, mRef, vRef, p, m, v]);
});

test('Transpose matches the stock kernel for random shapes and permutations, float32 and int32', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(20);
  const cases: [number[], number[]][] = [
    [[16, 64, 4, 32], [0, 2, 1, 3]], // heads split
    [[16, 64, 4, 32], [0, 2, 3, 1]], // keys transposed
    [[70, 45], [1, 0]],
    [[3, 1, 40, 33], [2, 0, 3, 1]],
    [[0, 4, 3], [2, 1, 0]],
  ];
  for (let i = 0; i < 25; i++) {
    const rank = 1 + rng.int(5);
    const shape = Array.from({ length: rank }, () => 1 + rng.int(rng.int(3) === 0 ? 9 : 4));
    const perm = [...Array(rank).keys()];
    for (let d = rank - 1; d > 0; d--) {
      const j = rng.int(d + 1);
      [perm[d], perm[j]] = [perm[j]!, perm[d]!];
    }
    cases.push([shape, perm]);
  }
  const before = tf.memory().numTensors;
  for (const [shape, perm] of cases) {
    for (const dtype of ['float32', 'int32'] as const) {
      const x = tf.tidy(() => tf.cast(tf.mul(randomTensor(rng, shape), 1000), dtype));
      const { stock, native } = stockVsNative(() => [tf.transpose(x, perm)]);
      assert.deepEqual(native[0]!.shape, stock[0]!.shape);
      assert.equal(native[0]!.dtype, dtype);
      assert.deepEqual(native[0]!.dataSync(), stock[0]!.dataSync(), `transpose [${shape}] by [${perm}] (${dtype})`);
      tf.dispose([x, ...stock, ...native]);
    }
  }
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => load.addon!.transpose(new ArrayBuffer(64), 0, 32, Int32Array.from([2, 2]), Int32Array.from([0, 0])), RangeError);
  assert.throws(() => load.addon!.transpose(new ArrayBuffer(64), 0, 8, Int32Array.from([2, 2]), Int32Array.from([1, 0])), /overlap/);
});

test('nativeLayerNorm matches the tf-op LayerNorm, forward and all three gradients; undefined when not enabled', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(21);
  const x = tf.tidy(() => tf.add(tf.mul(randomTensor(rng, [3, 11, 48]), 4), 1)); // rows with a non-zero mean
  const w = tf.tidy(() => tf.add(randomTensor(rng, [48]), 1));
  const b = randomTensor(rng, [48]);
  const proj = randomTensor(rng, [3, 11, 48]);
  disableNativeKernels();
  assert.equal(nativeLayerNorm(x, w, b, 1e-5), undefined);
  const before = tf.memory().numTensors;
  const loss = (ln: typeof layerNorm) => (xv: tf.Tensor, wv: tf.Tensor, bv: tf.Tensor): tf.Scalar =>
    tf.sum(tf.mul(ln(xv, wv as tf.Tensor1D, bv as tf.Tensor1D), proj));
  const ref = tf.tidy(() => [layerNorm(x, w as tf.Tensor1D, b as tf.Tensor1D), ...tf.grads(loss(layerNorm))([x, w, b])]);
  enableNativeKernels({ kernels: ['RlhfLayerNorm'] });
  // layerNorm itself now takes the fused path; nativeLayerNorm directly must agree with it.
  const got = tf.tidy(() => [nativeLayerNorm(x, w, b, 1e-5)!, ...tf.grads(loss(layerNorm))([x, w, b])]);
  assert.throws(() => tf.tidy(() => nativeLayerNorm(x, tf.zeros([7]), b, 1e-5)), /weight \[7\] and bias \[48\] must be \[d\]/);
  disableNativeKernels();
  const names = ['y', 'dx', 'dweight', 'dbias'];
  for (let i = 0; i < 4; i++) {
    assert.deepEqual(got[i]!.shape, ref[i]!.shape);
    const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(ref[i]!)).dataSync()[0]!));
    const d = maxAbsDiff(got[i]!, ref[i]!);
    assert.ok(d < 2e-5 * scale, `${names[i]}: max |diff| ${d} (scale ${scale})`);
  }
  tf.dispose([...ref, ...got]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w, b, proj]);
});

test('Concat matches the stock kernel on every axis, with empty inputs, for float32 and int32', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(22);
  const cases: [number[][], number][] = [
    [[[2, 4, 32, 5], [2, 4, 32, 1]], 3], // the KV cache: keys transposed, one new column
    [[[2, 4, 5, 32], [2, 4, 1, 32]], 2],
    [[[3, 7], [3, 0], [3, 2], [3, 9]], 1],
    [[[4, 3], [1, 3]], 0],
    [[[0, 3], [2, 3]], -2],
  ];
  const before = tf.memory().numTensors;
  for (const [shapes, axis] of cases) {
    for (const dtype of ['float32', 'int32'] as const) {
      const xs = shapes.map((s) => tf.tidy(() => tf.cast(tf.mul(randomTensor(rng, s), 1000), dtype)));
      const { stock, native } = stockVsNative(() => [tf.concat(xs, axis)]);
      assert.deepEqual(native[0]!.shape, stock[0]!.shape);
      assert.equal(native[0]!.dtype, dtype);
      assert.deepEqual(native[0]!.dataSync(), stock[0]!.dataSync(), `concat ${JSON.stringify(shapes)} axis ${axis} (${dtype})`);
      tf.dispose([...xs, ...stock, ...native]);
    }
  }
  assert.equal(tf.memory().numTensors, before);
  const heap = new ArrayBuffer(64);
  assert.throws(() => load.addon!.concat(heap, 0, 2, Float64Array.of(0, 32), Float64Array.of(2, 2)), /overlaps the output/);
  assert.throws(() => load.addon!.concat(heap, 32, 2, Float64Array.of(0, 60), Float64Array.of(2, 2)), RangeError);
});

test('Identity shares memory with its input and survives the input being disposed', { skip }, async () => {
  await initBackend('wasm');
  enableNativeKernels({ kernels: ['Identity'] });
  const x = tf.tensor([1, 2, 3, 4], [2, 2]);
  const bytes = tf.memory().numBytes;
  const y = tf.clone(x);
  assert.equal(tf.memory().numBytes, bytes + 16); // tfjs counts bytes per tensor; the data is shared
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4]);
  y.dispose();
  disableNativeKernels();
});

test('GatherV2 of rows matches the stock kernel (float32 and int32 tables, 1-D and 2-D ids); bad ids throw', { skip }, async () => {
  await initBackend('wasm');
  const rng = new Rng(23);
  const before = tf.memory().numTensors;
  for (const dtype of ['float32', 'int32'] as const) {
    for (const [tableShape, idShape] of [[[50, 7], [13]], [[50, 3, 4], [2, 6]], [[9], [4]], [[5, 2], [0]]] as [number[], number[]][]) {
      const table = tf.tidy(() => tf.cast(tf.mul(randomTensor(rng, tableShape), 1000), dtype));
      const n = idShape.reduce((p, d) => p * d, 1);
      const range = Math.min(tableShape[0]!, tableShape[1 % tableShape.length]!); // valid on axis 0 and on the other axis
      const ids = tf.tensor(Int32Array.from({ length: n }, () => rng.int(range)), idShape, 'int32');
      const { stock, native } = stockVsNative(() => [tf.gather(table, ids), tf.gather(table, ids, 1 % tableShape.length)]);
      for (let i = 0; i < 2; i++) {
        assert.deepEqual(native[i]!.shape, stock[i]!.shape);
        assert.deepEqual(native[i]!.dataSync(), stock[i]!.dataSync(), `gather [${tableShape}] by [${idShape}] (${dtype}), output ${i}`);
      }
      tf.dispose([table, ids, ...stock, ...native]);
    }
  }
  enableNativeKernels({ kernels: ['GatherV2'] });
  const table = tf.zeros([4, 2]);
  const bad = tf.tensor1d([1, 4], 'int32');
  assert.throws(() => tf.gather(table, bad), /index value 4 is not in \[0, 3\]/);
  disableNativeKernels();
  tf.dispose([table, bad]);
  assert.equal(tf.memory().numTensors, before);
});
