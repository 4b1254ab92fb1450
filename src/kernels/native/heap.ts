// Where a tensor lives in the wasm heap, refusing the null offset a failed allocation leaves behind.
import type * as tf from '@tensorflow/tfjs-core';

export class WasmHeapError extends Error {
  override name = 'WasmHeapError';
}

/**
 * The wasm backend's malloc returns 0 when its heap (at most 4 GiB) is full, and the tensor is then left at offset 0,
 * overlapping everything else: say so instead of computing on it.
 */
export function heapOffset(memoryOffset: number, t: tf.TensorInfo): number {
  if (memoryOffset === 0 && t.shape.every((d) => d > 0)) {
    throw new WasmHeapError(
      `the wasm heap is full (at most 4 GiB): no room for a [${t.shape.join(', ')}] tensor; use a smaller model, a smaller ` +
        'learner.microBatch or rm.batchSize, or run each actor in its own process (rlhf-stream cluster)',
    );
  }
  return memoryOffset;
}
