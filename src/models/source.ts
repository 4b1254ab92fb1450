// model.source: which local Hugging Face folder a run starts from, and an identity of its files for the stage caches.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Config } from '../config/index.js';
import { HfFolderError } from './hf_folder.js';

/**
 * What identifies the folder's contents without hashing gigabytes: the path, config.json's text, and the name, size and
 * modification time of every other file. A changed file changes the identity, so cached stages built on it are rebuilt.
 */
export function sourceIdentity(dir: string): Record<string, unknown> {
  const path = resolve(dir);
  let names: string[];
  try {
    names = readdirSync(path).sort();
  } catch (err) {
    throw new HfFolderError(`model.source ${JSON.stringify(dir)} is not a readable folder: ${(err as Error).message}`, { cause: err });
  }
  if (!names.includes('config.json')) throw new HfFolderError(`model.source ${path} has no config.json: model.source takes a local Hugging Face model folder, never a hub id`);
  const files = names
    .filter((n) => n !== 'config.json' && !n.startsWith('.'))
    .map((n) => {
      const st = statSync(join(path, n));
      return st.isFile() ? `${n}:${st.size}:${Math.round(st.mtimeMs)}` : undefined;
    })
    .filter((x) => x !== undefined);
  return { path, config: readFileSync(join(path, 'config.json'), 'utf8'), files };
}

/** Suffix of the cache folders (sft, prefs, rm) of runs from an imported model, so they never overwrite the tiny model's. */
export function modelTag(cfg: Config): string {
  const src = cfg.model.source;
  if (!src) return '';
  const name = basename(resolve(src)).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40);
  return `-${name}-${createHash('sha256').update(resolve(src)).digest('hex').slice(0, 8)}`;
}

/** The SFT stage's checkpoint folder: the policy a run starts from (the tiny model's, or one per imported model). */
export function sftDir(cfg: Config): string {
  return join(cfg.run.cacheDir, `sft${modelTag(cfg)}`);
}
