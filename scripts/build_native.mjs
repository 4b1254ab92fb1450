// Builds the optional native GEMM addon (native/) with node-gyp; never fails the install: without it the pure-wasm path remains.
// Usage: node scripts/build_native.mjs [--quiet] [--portable]
//   --portable: builds the portable GEMM (no OpenBLAS) in a scratch copy into native/build-portable/rlhf_native.node,
//   leaving native/build alone; load it with RLHF_NATIVE_ADDON=native/build-portable/rlhf_native.node to compare.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const quiet = process.argv.includes('--quiet');
const portable = process.argv.includes('--portable');

/** node-gyp as npm runs it, else the copy bundled with npm next to this node binary. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((p) => p !== undefined && existsSync(p));
}

/** The node install prefix when it ships headers, so node-gyp needs no download (the machine may be offline). */
function findNodeDir() {
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

function build(dir, env) {
  const gyp = findNodeGyp();
  if (gyp === undefined) return 'node-gyp was not found';
  const nodedir = findNodeDir();
  const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const r = spawnSync(process.execPath, args, { cwd: dir, env, stdio: quiet ? 'pipe' : 'inherit', encoding: 'utf8' });
  if (r.error) return `node-gyp could not run: ${r.error.message}`;
  if (r.status !== 0) {
    const tail = (r.stderr ?? '').trim().split('\n').slice(-1)[0];
    return `node-gyp exited with status ${r.status}${tail ? ` (${tail})` : ''}`;
  }
  if (!existsSync(join(dir, 'build', 'Release', 'rlhf_native.node'))) return 'node-gyp succeeded but produced no rlhf_native.node';
  return undefined;
}

/** Whether a built addon links OpenBLAS (its `blas` export), or undefined when it does not load. */
function builtBlas(path) {
  const r = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(path)}).blas)`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

const ADVICE =
  'for full training speed install OpenBLAS (Debian/Ubuntu: apt-get install libopenblas-dev; Fedora: dnf install openblas-devel; ' +
  'macOS: brew install openblas) and run npm run build:native';

if (portable) {
  const scratch = mkdtempSync(join(tmpdir(), 'rlhf-native-portable-'));
  try {
    cpSync(nativeDir, scratch, { recursive: true, filter: (src) => !src.startsWith(join(nativeDir, 'build')) });
    const why = build(scratch, { ...process.env, RLHF_NATIVE_BLAS: 'portable' });
    if (why !== undefined) {
      console.log(`native kernels: portable build failed (${why})`);
      process.exit(1);
    }
    const out = join(nativeDir, 'build-portable');
    mkdirSync(out, { recursive: true });
    copyFileSync(join(scratch, 'build', 'Release', 'rlhf_native.node'), join(out, 'rlhf_native.node'));
    console.log(`native kernels: built the portable GEMM into ${join(out, 'rlhf_native.node')}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
} else {
  const why = build(nativeDir, process.env);
  const built = join(nativeDir, 'build', 'Release', 'rlhf_native.node');
  if (why !== undefined) {
    console.log(`native kernels: not built (${why}); the pure-wasm kernels remain in use`);
  } else if (builtBlas(built) === 'portable') {
    console.log(`native kernels: built ${built} with the portable GEMM (OpenBLAS was not found); ${ADVICE}`);
  } else {
    console.log(`native kernels: built ${built} (OpenBLAS)`);
  }
}
