// Stage manifests: each cached stage records a hash of its inputs so that a second call with the same inputs reuses it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const MANIFEST_FILE = 'manifest.json';

export interface Manifest {
  /** Stage name: sft, prefs, rm-bt, rm-pairwise. */
  stage: string;
  /** sha256 of the stage's inputs (config slice + upstream hashes). */
  hash: string;
  /** The inputs that were hashed, kept readable so a user can see why a stage re-ran. */
  inputs: unknown;
  /** Files the stage wrote, relative to its folder; all must exist for the artifact to count. */
  files: string[];
  /** Figures the stage measured (losses, accuracies, timings). */
  summary: Record<string, unknown>;
  createdAt: string;
}

/** JSON with object keys sorted, so that equal inputs always hash the same. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .filter((k) => obj[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function hashInputs(inputs: unknown): string {
  return createHash('sha256').update(stableJson(inputs)).digest('hex');
}

export function readManifest(dir: string): Manifest | undefined {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

/** The manifest if it matches `hash` and every file it lists still exists; otherwise undefined. */
export function freshManifest(dir: string, hash: string): Manifest | undefined {
  const m = readManifest(dir);
  if (!m || m.hash !== hash) return undefined;
  return m.files.every((f) => existsSync(join(dir, f))) ? m : undefined;
}

/** Written last and atomically (temp file + rename): a stage killed half-way leaves no manifest, so it re-runs. */
export function writeManifest(dir: string, m: Omit<Manifest, 'createdAt'>): Manifest {
  mkdirSync(dir, { recursive: true });
  const full: Manifest = { ...m, createdAt: new Date().toISOString() };
  const tmp = join(dir, `${MANIFEST_FILE}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(full, null, 2)}\n`);
  renameSync(tmp, join(dir, MANIFEST_FILE));
  return full;
}
