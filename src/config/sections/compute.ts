// Config slice for the tensor backend and randomness.
import { BACKENDS, NATIVE_CHOICES } from '../../kernels/backend.js';
import { bool, int, oneOf } from '../fields.js';

export const compute = {
  backend: oneOf(BACKENDS, 'auto', 'tensor backend; auto = tfjs-node-gpu, then tfjs-node, then wasm (never cpu)'),
  nativeKernels: oneOf(NATIVE_CHOICES, 'auto', 'native OpenBLAS/C kernels for the wasm backend: auto = when built, on = required, off = stock'),
  nativeThreads: int(1, 1, 256, 'GEMM threads (OpenBLAS or the portable GEMM) for native matMul during the online stage (process-wide; one-process runs already fill the cores with a worker thread per role)'),
  stageThreads: int(0, 0, 256, 'GEMM threads while SFT and reward-model training run alone; 0 = every core'),
  roleThreads: bool(true, 'the learner step (in every run; a cluster\'s learner process too), and in one-process runs proxy scoring and the evaluator (policy and reference), each run in their own worker thread, so the main thread only moves messages; false = on the main thread'),
  seed: int(1234, 0, 2 ** 31 - 1, 'root seed; every random stream derives from it'),
};
