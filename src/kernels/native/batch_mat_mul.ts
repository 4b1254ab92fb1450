// BatchMatMul for the tfjs wasm backend computed by the native GEMM directly on the wasm heap: every transpose combination
// at full speed (the stock wasm kernel is 10-35x slower with transposes) and true broadcasting of batch dimensions.
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon, BatchMap } from './addon.js';
import { heapOffset } from './heap.js';

/** The parts of BackendWasm (tfjs-backend-wasm 4.22) this kernel relies on. */
export interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

export function isWasmBackend(backend: unknown): backend is WasmBackendLike {
  const b = backend as Partial<WasmBackendLike> | undefined;
  return b?.wasm?.HEAPU8 instanceof Uint8Array && typeof b.makeOutput === 'function' && b.dataIdMap !== undefined;
}

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/**
 * For each output batch (row-major over `outBatch`), the batch of an operand whose batch dims are `dims`
 * (right-aligned, size-1 dims broadcast): 1 when they coincide, 0 when the operand has a single batch.
 */
export function batchMap(dims: readonly number[], outBatch: readonly number[]): BatchMap {
  const total = size(outBatch);
  const own = size(dims);
  if (own === total) return 1;
  if (own === 1) return 0;
  const map = new Int32Array(total);
  const offset = outBatch.length - dims.length;
  for (let i = 0; i < total; i++) {
    let rest = i;
    let index = 0;
    let stride = 1;
    for (let d = outBatch.length - 1; d >= 0; d--) {
      const coord = rest % outBatch[d]!;
      rest = Math.floor(rest / outBatch[d]!);
      const od = d - offset;
      if (od < 0) continue;
      if (dims[od]! !== 1) index += coord * stride;
      stride *= dims[od]!;
    }
    map[i] = index;
  }
  return map;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Builds the kernel function; `fallback` (the stock kernel) serves dtypes other than float32. */
export function makeBatchMatMul(addon: NativeAddon, portable: boolean, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const a = inputs['a']!;
    const b = inputs['b']!;
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || !isWasmBackend(backend)) return fallback(args);
    const ra = a.shape.length;
    const rb = b.shape.length;
    const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
    const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
    const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    if (k !== kb) {
      throw new Error(
        `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} ` +
          `and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
      );
    }
    const dimsA = a.shape.slice(0, -2);
    const dimsB = b.shape.slice(0, -2);
    const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(dimsA, dimsB); // throws on incompatible batch dims
    const out = backend.makeOutput([...outBatch, m, n], 'float32'); // [...batch, m, n]
    const batch = size(outBatch);
    if (batch * m * n === 0) return out;
    const offset = (t: tf.TensorInfo): number => heapOffset(backend.dataIdMap.get(t.dataId)!.memoryOffset, t);
    // Read the buffer after makeOutput: its malloc may have grown the wasm memory and detached the old buffer.
    const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
    addon.batchMatMul(heap, offset(a), offset(b), offset(out), batch, m, n, k, transposeA, transposeB,
      batchMap(dimsA, outBatch), batchMap(dimsB, outBatch), portable);
    return out;
  };
}
