// Tanh, Sum, Transpose, Concat, GatherV2 and Identity for the tfjs wasm backend on the wasm heap: a vectorised rational
// tanh, sums over a contiguous block of axes without the transpose the stock kernel makes first, run-merging transposes,
// a memcpy concat (the stock one makes a typed-array view per row: the KV cache concatenates every decoding step), row
// gathers as block copies (embedding lookups), and a copy-free Identity.
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import { isWasmBackend, type WasmBackendLike } from './batch_mat_mul.js';
import { heapOffset } from './heap.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];

const offset = (backend: WasmBackendLike, t: tf.TensorInfo): number => heapOffset(backend.dataIdMap.get(t.dataId)!.memoryOffset, t);

/** Tanh on float32 tensors; `fallback` (the stock kernel) serves anything else. */
export function makeTanh(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend } = args;
    const x = inputs['x']!;
    if (x.dtype !== 'float32' || !isWasmBackend(backend)) return fallback(args);
    const out = backend.makeOutput(x.shape.slice(), 'float32');
    const n = tf.util.sizeFromShape(x.shape);
    // Read the buffer after makeOutput: its malloc may have grown the wasm memory and detached the old buffer.
    if (n > 0) addon.tanh(backend.wasm.HEAPU8.buffer as ArrayBuffer, offset(backend, x), offset(backend, out), n);
    return out;
  };
}

/** Transpose of 4-byte tensors (float32, int32) up to rank 8; other dtypes go to `fallback`. */
export function makeTranspose(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x']!;
    const { perm } = attrs as unknown as tf.TransposeAttrs;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || x.shape.length > 8 || !isWasmBackend(backend)) return fallback(args);
    const out = backend.makeOutput(perm.map((p) => x.shape[p]!), x.dtype);
    if (tf.util.sizeFromShape(x.shape) > 0) {
      const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer; // after makeOutput, which may grow the memory
      addon.transpose(heap, offset(backend, x), offset(backend, out), Int32Array.from(x.shape), Int32Array.from(perm));
    }
    return out;
  };
}

/** x viewed as [outer, reduced, inner] when the summed axes (ignoring size-1 dims) form one contiguous block. */
export function sumLayout(shape: readonly number[], axes: readonly number[]): { outer: number; reduced: number; inner: number } | undefined {
  const summed = new Set(axes);
  let outer = 1;
  let reduced = 1;
  let inner = 1;
  let phase: 'before' | 'in' | 'after' = 'before';
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue; // size-1 dims can sit anywhere
    if (summed.has(d)) {
      if (phase === 'after') return undefined; // a second block of summed axes
      phase = 'in';
      reduced *= n;
    } else if (phase === 'before') {
      outer *= n;
    } else {
      phase = 'after';
      inner *= n;
    }
  }
  return { outer, reduced, inner };
}

/** Sum on float32 tensors over one contiguous block of axes; other dtypes and axis sets go to `fallback`. */
export function makeSum(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x']!;
    if (x.dtype !== 'float32' || !isWasmBackend(backend)) return fallback(args);
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const layout = sumLayout(x.shape, axes);
    if (layout === undefined) return fallback(args);
    const outShape = keepDims
      ? x.shape.map((n, d) => (axes.includes(d) ? 1 : n))
      : x.shape.filter((_, d) => !axes.includes(d));
    const out = backend.makeOutput(outShape, 'float32');
    if (layout.outer * layout.inner > 0) {
      const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer; // after makeOutput, as above
      addon.sum(heap, offset(backend, x), offset(backend, out), layout.outer, layout.reduced, layout.inner);
    }
    return out;
  };
}

/** Concat of 4-byte tensors (float32, int32), up to 64 inputs; other dtypes go to `fallback`. */
export function makeConcat(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { backend, attrs } = args;
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    const dtype = inputs[0]?.dtype;
    if ((dtype !== 'float32' && dtype !== 'int32') || inputs.some((t) => t.dtype !== dtype) || !isWasmBackend(backend)) {
      return fallback(args);
    }
    const axis = tf.util.parseAxisParam((attrs as unknown as tf.ConcatAttrs).axis, inputs[0]!.shape)[0]!;
    tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
    const nonEmpty = inputs.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    if (nonEmpty.length < 2 || nonEmpty.length > 64) return fallback(args);
    const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
    const out = backend.makeOutput(outShape, dtype);
    const outer = tf.util.sizeFromShape(nonEmpty[0]!.shape.slice(0, axis));
    const offs = Float64Array.from(nonEmpty, (t) => offset(backend, t));
    const inners = Float64Array.from(nonEmpty, (t) => tf.util.sizeFromShape(t.shape.slice(axis)));
    // Read the buffer after makeOutput: its malloc may have grown the wasm memory and detached the old buffer.
    addon.concat(backend.wasm.HEAPU8.buffer as ArrayBuffer, offset(backend, out), outer, offs, inners);
    return out;
  };
}

/** GatherV2 of whole rows (axis 0, no batch dims) of a 4-byte table by int32 ids, one block copy per id; else `fallback`. */
export function makeGather(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { backend, attrs } = args;
    const x = args.inputs['x']!;
    const indices = args.inputs['indices']!;
    const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32' || (batchDims ?? 0) !== 0 ||
      x.shape.length < 1 || tf.util.parseAxisParam(axis, x.shape)[0] !== 0 || !isWasmBackend(backend)) {
      return fallback(args);
    }
    const rows = x.shape[0]!;
    const row = tf.util.sizeFromShape(x.shape.slice(1));
    const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    const n = tf.util.sizeFromShape(indices.shape);
    if (n * row === 0) return out;
    // Views made after makeOutput, whose malloc may have grown the wasm memory and detached the old buffer.
    const heap = new Int32Array(backend.wasm.HEAPU8.buffer);
    const ids = heap.subarray(offset(backend, indices) / 4, offset(backend, indices) / 4 + n);
    const src = offset(backend, x) / 4;
    const dst = offset(backend, out) / 4;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < rows)) {
        (backend as unknown as { disposeData(dataId: object): void }).disposeData(out.dataId);
        throw new Error(`GatherV2: the index value ${id} is not in [0, ${rows - 1}]`);
      }
      heap.copyWithin(dst + i * row, src + id * row, src + (id + 1) * row);
    }
    return out;
  };
}

/**
 * Identity that shares the input's memory (reference-counted, as the cpu backend and the wasm Reshape do) instead of
 * copying it: tfjs clones every tensor it saves for the backward pass, and tensor memory is never written in place.
 */
export function makeIdentity(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend } = args;
    const x = inputs['x']!;
    if (x.dtype === 'string' || !isWasmBackend(backend)) return fallback(args);
    (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  };
}
