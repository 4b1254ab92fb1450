// Builds the optional native GEMM addon (native/) with node-gyp; never fails the install: without it the pure-wasm path remains.
// Usage: node scripts/build_native.mjs [--quiet]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const quiet = process.argv.includes('--quiet');

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

function build() {
  const gyp = findNodeGyp();
  if (gyp === undefined) return 'node-gyp was not found';
  const nodedir = findNodeDir();
  const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const r = spawnSync(process.execPath, args, { cwd: nativeDir, stdio: quiet ? 'pipe' : 'inherit', encoding: 'utf8' });
  if (r.error) return `node-gyp could not run: ${r.error.message}`;
  if (r.status !== 0) {
    const tail = (r.stderr ?? '').trim().split('\n').slice(-1)[0];
    return `node-gyp exited with status ${r.status}${tail ? ` (${tail})` : ''}`;
  }
  if (!existsSync(join(nativeDir, 'build', 'Release', 'rlhf_native.node'))) return 'node-gyp succeeded but produced no rlhf_native.node';
  return undefined;
}

const why = build();
if (why === undefined) {
  console.log('native kernels: built native/build/Release/rlhf_native.node');
} else {
  console.log(`native kernels: not built (${why}); the pure-wasm kernels remain in use`);
}
