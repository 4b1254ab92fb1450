// Picks and initialises the tfjs backend, and says which one runs: never a silent fall-back to pure-JS cpu.
import * as tf from '@tensorflow/tfjs-core';
import { enableNativeKernels, loadAddon, type NativeKernelStatus } from './native/index.js';

/** Said once per run when the addon was built without OpenBLAS (the GEMM then runs at a fraction of OpenBLAS's speed). */
export const PORTABLE_ADVICE =
  'the native addon was built without OpenBLAS: for full training speed install it (Debian/Ubuntu: apt-get install libopenblas-dev; ' +
  'Fedora: dnf install openblas-devel; macOS: brew install openblas) and run npm run build:native';

export const BACKENDS = ['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export const NATIVE_CHOICES = ['auto', 'on', 'off'] as const;
/** Native kernels for the wasm backend: auto = use them when the addon is built, on = required, off = stock wasm. */
export type NativeChoice = (typeof NATIVE_CHOICES)[number];

export class BackendError extends Error {
  override name = 'BackendError';
}

export interface BackendInfo {
  /** What was asked for. */
  requested: BackendChoice;
  /** The tfjs backend name that runs now (`tensorflow`, `wasm` or `cpu`). */
  active: string;
  /** The package that provides it. */
  provider: string;
  /** Why the candidates before it were skipped (only for `auto`). */
  skipped: string[];
  /** Native kernels registered on the wasm backend (inactive on other backends or when not built). */
  native: NativeKernelStatus;
}

export interface InitOptions {
  native?: NativeChoice;
  /** OpenBLAS threads for the native matMul (process-wide). */
  nativeThreads?: number;
}

function applyNative(info: BackendInfo, opts: InitOptions): BackendInfo {
  const choice = opts.native ?? 'off';
  if (!(NATIVE_CHOICES as readonly string[]).includes(choice)) {
    throw new BackendError(`compute.nativeKernels must be one of ${NATIVE_CHOICES.join(', ')}; got ${JSON.stringify(choice)}`);
  }
  if (choice === 'off' || info.active !== 'wasm') return info;
  const native = enableNativeKernels({ threads: opts.nativeThreads ?? 1 });
  if (choice === 'on' && !native.active) {
    throw new BackendError(`compute.nativeKernels is "on" but the native kernels are unavailable: ${native.reason ?? 'unknown reason'}; run \`npm run build:native\` or set compute.nativeKernels to auto or off`);
  }
  return { ...info, native };
}

let current: BackendInfo | undefined;

async function tryNative(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<string | undefined> {
  try {
    // A variable specifier keeps TypeScript from requiring the optional package at build time.
    const spec: string = pkg;
    await import(spec);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') return `${pkg} is not installed`;
    return `${pkg} failed to load: ${e.message}`;
  }
  const ok = await tf.setBackend('tensorflow');
  if (!ok || tf.getBackend() !== 'tensorflow') return `${pkg} loaded but the 'tensorflow' backend did not initialise`;
  return undefined;
}

async function tryWasm(): Promise<string | undefined> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
  } catch (err) {
    return `@tensorflow/tfjs-backend-wasm failed to load: ${(err as Error).message}`;
  }
  const ok = await tf.setBackend('wasm').catch(() => false);
  if (!ok || tf.getBackend() !== 'wasm') return 'the wasm backend did not initialise';
  return undefined;
}

async function tryCpu(): Promise<string | undefined> {
  await import('@tensorflow/tfjs-backend-cpu');
  const ok = await tf.setBackend('cpu');
  if (!ok || tf.getBackend() !== 'cpu') return 'the cpu backend did not initialise';
  return undefined;
}

const ATTEMPTS: Record<Exclude<BackendChoice, 'auto'>, { active: string; provider: string; init: () => Promise<string | undefined> }> = {
  'tfjs-node-gpu': { active: 'tensorflow', provider: '@tensorflow/tfjs-node-gpu', init: () => tryNative('@tensorflow/tfjs-node-gpu') },
  'tfjs-node': { active: 'tensorflow', provider: '@tensorflow/tfjs-node', init: () => tryNative('@tensorflow/tfjs-node') },
  wasm: { active: 'wasm', provider: '@tensorflow/tfjs-backend-wasm', init: tryWasm },
  cpu: { active: 'cpu', provider: '@tensorflow/tfjs-backend-cpu', init: tryCpu },
};

/**
 * Initialises the requested backend once per thread (each worker thread has its own tfjs engine).
 * `auto` takes the first of tfjs-node-gpu, tfjs-node, wasm that initialises; it never picks `cpu`.
 */
export async function initBackend(requested: BackendChoice = 'auto', opts: InitOptions = {}): Promise<BackendInfo> {
  if (!(BACKENDS as readonly string[]).includes(requested)) {
    throw new BackendError(`compute.backend must be one of ${BACKENDS.join(', ')}; got ${JSON.stringify(requested)}`);
  }
  if (current && (current.requested === requested || requested === 'auto')) {
    current = applyNative(current, opts);
    return current;
  }
  const order: Exclude<BackendChoice, 'auto'>[] = requested === 'auto' ? ['tfjs-node-gpu', 'tfjs-node', 'wasm'] : [requested];
  const skipped: string[] = [];
  for (const name of order) {
    const attempt = ATTEMPTS[name];
    const why = await attempt.init();
    if (why === undefined) {
      await tf.ready();
      if (tf.getBackend() !== attempt.active) {
        throw new BackendError(`backend ${name} was set but tfjs reports ${JSON.stringify(tf.getBackend())}`);
      }
      const none: NativeKernelStatus = { active: false, kernels: [], blas: 'none', threads: 0, reason: 'not requested' };
      current = applyNative({ requested, active: attempt.active, provider: attempt.provider, skipped, native: none }, opts);
      return current;
    }
    skipped.push(why);
  }
  throw new BackendError(
    `compute.backend ${JSON.stringify(requested)} could not initialise (${skipped.join('; ')}); ` +
      `accepted values are ${BACKENDS.join(', ')}, and 'cpu' is never chosen automatically`,
  );
}

let processLine: string | undefined;

/** Says the process's own backend line, in full, once; worker threads then say only how theirs differs. */
export function sayBackend(line: string, log: (line: string) => void): void {
  processLine = line;
  log(line);
}

/** A worker thread's backend line without what the process already said: undefined when it is the same backend. */
export function workerBackendNote(line: string): string | undefined {
  const bare = line.replace(`; ${PORTABLE_ADVICE}`, '');
  return bare === processLine?.replace(`; ${PORTABLE_ADVICE}`, '') ? undefined : bare;
}

/** One line for logs: `backend: wasm (@tensorflow/tfjs-backend-wasm, requested auto)`. */
export function describeBackend(info: BackendInfo): string {
  const n = info.native;
  const native = n.active ? `native kernels ${n.kernels.join(', ')} (${n.blas}, ${n.threads} thread${n.threads === 1 ? '' : 's'})` : `stock kernels${n.reason && n.reason !== 'not requested' ? ` (native unavailable: ${n.reason})` : ''}`;
  const advice = n.active && n.blas === 'portable' && loadAddon().addon?.blas === 'portable' ? `; ${PORTABLE_ADVICE}` : '';
  return `backend: ${info.active} (${info.provider}, requested ${info.requested}); ${native}${advice}`;
}
