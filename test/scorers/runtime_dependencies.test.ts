// What src/ imports at run time (the module scorer's TypeScript transpiler among it) is installed by a production install.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The packages a source file imports at run time: static and dynamic imports of bare names, type-only imports left out. */
function runtimePackages(text: string): string[] {
  const out = new Set<string>();
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const add = (spec: string): void => {
    if (spec.startsWith('.') || spec.startsWith('node:') || spec.startsWith('/')) return;
    const parts = spec.split('/');
    out.add(spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  };
  for (const m of code.matchAll(/^\s*(import|export)\s+(type\s+)?[^'";]*?\bfrom\s+['"]([^'"]+)['"]/gm)) if (!m[2]) add(m[3]!);
  for (const m of code.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) add(m[1]!);
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) add(m[1]!);
  return [...out].filter((p) => !builtinModules.includes(p));
}

test('runtime dependencies: the import reader sees static, dynamic and side-effect imports and skips type-only ones', () => {
  const text = [
    "import { a } from 'pkg-a/sub';",
    "import type { B } from 'pkg-b';",
    "import '@scope/c/register';",
    "const ts = await import('typescript');",
    "import { readFileSync } from 'node:fs';",
    "import { x } from './local.js';",
    "import { join } from 'path';",
  ].join('\n');
  assert.deepEqual(runtimePackages(text).sort(), ['@scope/c', 'pkg-a', 'typescript']);
});

test('runtime dependencies: every package src/ imports is in dependencies, not only devDependencies (a .ts scorer module needs typescript)', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const deps = new Set(Object.keys(pkg.dependencies ?? {}));
  const missing: string[] = [];
  for (const file of sources(join(ROOT, 'src'))) {
    for (const p of runtimePackages(readFileSync(file, 'utf8'))) if (!deps.has(p)) missing.push(`${p} (imported by ${file.slice(ROOT.length)})`);
  }
  assert.deepEqual(missing, [], 'packages a production install (npm ci --omit=dev) would lack');
});
