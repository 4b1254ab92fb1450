// Config slice for the tensor backend and randomness.
import { BACKENDS, NATIVE_CHOICES } from '../../kernels/backend.js';
import { int, oneOf } from '../fields.js';

export const compute = {
  backend: oneOf(BACKENDS, 'auto', 'tensor backend; auto = tfjs-node-gpu, then tfjs-node, then wasm (never cpu)'),
  nativeKernels: oneOf(NATIVE_CHOICES, 'auto', 'native OpenBLAS/C kernels for the wasm backend: auto = when built, on = required, off = stock'),
  nativeThreads: int(1, 1, 256, 'OpenBLAS threads for native matMul (process-wide)'),
  seed: int(1234, 0, 2 ** 31 - 1, 'root seed; every random stream derives from it'),
};
