// Config slice for the tensor backend and randomness.
import { BACKENDS } from '../../kernels/backend.js';
import { int, oneOf } from '../fields.js';

export const compute = {
  backend: oneOf(BACKENDS, 'auto', 'tensor backend; auto = tfjs-node-gpu, then tfjs-node, then wasm (never cpu)'),
  seed: int(1234, 0, 2 ** 31 - 1, 'root seed; every random stream derives from it'),
};
