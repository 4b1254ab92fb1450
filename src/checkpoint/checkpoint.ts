// Checkpoint folders (weights, config, tokenizer, optimizer, state), written atomically and loaded with full checks.
import { constants as fsc } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type TensorRecord } from './safetensors.js';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** The checkpoint folder does not exist: nothing was saved there yet (a fresh start, not a fault). */
export class NoCheckpointError extends CheckpointError {
  override name = 'NoCheckpointError';
}

export interface CheckpointContents {
  weights: TensorRecord;
  config: unknown;
  /** tokenizer.json text. */
  tokenizer?: string;
  /** tokenizer_config.json text (special tokens, chat template) of a tokenizer imported with a model. */
  tokenizerConfig?: string;
  optimizer?: TensorRecord;
  /** step, version, anything JSON. */
  state?: Record<string, unknown>;
  /** Further text files by name (e.g. generation_config.json of an exported model); written, not read back. */
  extraFiles?: Record<string, string>;
}

export const CHECKPOINT_FILES = {
  weights: 'model.safetensors',
  config: 'config.json',
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
  optimizer: 'optimizer.safetensors',
  state: 'state.json',
} as const;

const TMP_TAG = '.tmp-';
const OLD_TAG = '.old-';
let counter = 0;

/** Side folders of `target` live next to it, so renames stay on one file system: `.<name>.tmp-<pid>-<n>`. */
function sidePath(target: string, tag: string): string {
  counter += 1;
  return join(dirname(target), `.${basename(target)}${tag}${process.pid}-${counter}`);
}

async function writeDurably(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a folder so the names in it (new files, renames) survive a power cut. */
async function syncDir(path: string): Promise<void> {
  const fh = await open(path, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp folders left next to `target` by saves whose process has died (a crash before the rename). */
async function removeStaleTemps(target: string): Promise<void> {
  const prefix = `.${basename(target)}${TMP_TAG}`;
  for (const name of await readdir(dirname(target))) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)) await rm(join(dirname(target), name), { recursive: true, force: true });
  }
}

/** Folders a dead process's save renamed aside (`.<name>.old-<pid>-<n>`): a crash came between the commit's two renames. */
async function deadAsides(target: string): Promise<string[]> {
  const prefix = `.${basename(target)}${OLD_TAG}`;
  let names: string[];
  try {
    names = await readdir(dirname(target));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => n.startsWith(prefix))
    .filter((n) => {
      const pid = Number(n.slice(prefix.length).split('-')[0]);
      return Number.isInteger(pid) && pid !== process.pid && !isAlive(pid);
    })
    .map((n) => join(dirname(target), n));
}

/**
 * Undoes a save that died between renaming the old checkpoint aside and renaming the new one in: with `target` missing,
 * the newest folder left aside (by its weights file's time) is renamed back; folders aside that a newer committed
 * checkpoint replaced are removed. Without this a restart would find no checkpoint and start over.
 */
async function recoverInterruptedSave(target: string): Promise<void> {
  const asides = await deadAsides(target);
  if (asides.length === 0) return;
  const written = async (dir: string): Promise<number> => {
    try {
      return (await stat(join(dir, CHECKPOINT_FILES.weights))).mtimeMs;
    } catch {
      return -1;
    }
  };
  const times = await Promise.all(asides.map(written));
  const order = asides.map((dir, i) => ({ dir, t: times[i]! })).sort((a, b) => b.t - a.t);
  if (!(await exists(target))) {
    try {
      await rename(order[0]!.dir, target);
      await syncDir(dirname(target));
    } catch (err) {
      // Another process recovered it first.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !(await exists(target))) throw err;
    }
    order.shift();
  }
  for (const { dir } of order) await rm(dir, { recursive: true, force: true });
}

/**
 * Phase 1 of a save: writes every file into a fresh temp folder next to `dir` and fsyncs it.
 * Returns the temp folder; nothing at `dir` has changed yet.
 */
export async function writeCheckpointTemp(dir: string, c: CheckpointContents): Promise<string> {
  const target = resolve(dir);
  await mkdir(dirname(target), { recursive: true });
  await removeStaleTemps(target);
  await recoverInterruptedSave(target);
  const tmp = sidePath(target, TMP_TAG);
  await mkdir(tmp);
  try {
    await writeDurably(join(tmp, CHECKPOINT_FILES.weights), encodeSafetensors(c.weights, { format: 'pt' }));
    await writeDurably(join(tmp, CHECKPOINT_FILES.config), JSON.stringify(c.config, null, 2) + '\n');
    if (c.tokenizer !== undefined) await writeDurably(join(tmp, CHECKPOINT_FILES.tokenizer), c.tokenizer);
    if (c.tokenizerConfig !== undefined) await writeDurably(join(tmp, CHECKPOINT_FILES.tokenizerConfig), c.tokenizerConfig);
    if (c.optimizer !== undefined) await writeDurably(join(tmp, CHECKPOINT_FILES.optimizer), encodeSafetensors(c.optimizer));
    if (c.state !== undefined) await writeDurably(join(tmp, CHECKPOINT_FILES.state), JSON.stringify(c.state, null, 2) + '\n');
    for (const [name, text] of Object.entries(c.extraFiles ?? {})) {
      if (basename(name) !== name || name.startsWith('.')) throw new CheckpointError(`extra checkpoint file ${JSON.stringify(name)} must be a plain file name`);
      await writeDurably(join(tmp, name), text);
    }
    await syncDir(tmp);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new CheckpointError(`no space left to write checkpoint ${target} (${(err as Error).message}); the previous checkpoint, if any, is kept`, { cause: err });
    }
    throw err;
  }
  return tmp;
}

/**
 * Phase 2 of a save: moves the temp folder to `dir`. A folder cannot be renamed over a non-empty one,
 * so an existing checkpoint is first renamed aside, then the new one renamed in, and only then is the
 * old one removed; if the second rename fails the old one is put back.
 */
export async function commitCheckpoint(tmp: string, dir: string): Promise<void> {
  const target = resolve(dir);
  let aside: string | undefined;
  if (await exists(target)) {
    aside = sidePath(target, OLD_TAG);
    await rename(target, aside);
  }
  try {
    await rename(tmp, target);
  } catch (err) {
    if (aside !== undefined) await rename(aside, target);
    throw err;
  }
  await syncDir(dirname(target));
  if (aside !== undefined) await rm(aside, { recursive: true, force: true });
}

/** Writes a checkpoint folder atomically: readers see the old checkpoint or the new one, never a mix. */
export async function saveCheckpoint(dir: string, c: CheckpointContents): Promise<void> {
  const tmp = await writeCheckpointTemp(dir, c);
  try {
    await commitCheckpoint(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function decodeFile(path: string, bytes: Buffer): TensorRecord {
  try {
    return decodeSafetensors(bytes, { source: path }).tensors;
  } catch (err) {
    if (err instanceof SafetensorsError) throw new CheckpointError(err.message, { cause: err });
    throw err;
  }
}

function parseJsonFile(path: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CheckpointError(`${path} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/** Lists every missing, extra or mis-shaped tensor against the expected names and shapes. */
function checkNames(path: string, weights: TensorRecord, names: Record<string, number[]>): void {
  const problems: string[] = [];
  for (const [name, shape] of Object.entries(names)) {
    const t = weights[name];
    if (t === undefined) problems.push(`missing tensor ${JSON.stringify(name)} (expected shape [${shape.join(', ')}])`);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push(`tensor ${JSON.stringify(name)} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
  }
  for (const [name, t] of Object.entries(weights)) {
    if (!(name in names)) problems.push(`unexpected tensor ${JSON.stringify(name)} with shape [${t.shape.join(', ')}]`);
  }
  if (problems.length > 0) throw new CheckpointError(`${path} does not match the model: ${problems.join('; ')}`);
}

/**
 * Reads a checkpoint folder. With `expect.names`, the weights must hold exactly those tensors with those
 * shapes. Every failure is a CheckpointError naming the file and what is wrong.
 */
export async function loadCheckpoint(dir: string, expect: { names?: Record<string, number[]> } = {}): Promise<CheckpointContents> {
  const target = resolve(dir);
  await recoverInterruptedSave(target);
  let info;
  try {
    info = await stat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CheckpointError(`cannot open checkpoint ${target}: ${(err as Error).message}`, { cause: err });
    throw new NoCheckpointError(`checkpoint folder ${target} does not exist${await asideHint(target)}`);
  }
  if (!info.isDirectory()) throw new CheckpointError(`checkpoint ${target} is not a folder`);
  const path = (f: string) => join(target, f);
  const weightsBytes = await readOptional(path(CHECKPOINT_FILES.weights));
  if (weightsBytes === undefined) throw new CheckpointError(`checkpoint ${target} has no ${CHECKPOINT_FILES.weights}`);
  const configBytes = await readOptional(path(CHECKPOINT_FILES.config));
  if (configBytes === undefined) throw new CheckpointError(`checkpoint ${target} has no ${CHECKPOINT_FILES.config}`);
  const weights = decodeFile(path(CHECKPOINT_FILES.weights), weightsBytes);
  if (expect.names !== undefined) checkNames(path(CHECKPOINT_FILES.weights), weights, expect.names);
  const out: CheckpointContents = { weights, config: parseJsonFile(path(CHECKPOINT_FILES.config), configBytes) };
  const tokenizerBytes = await readOptional(path(CHECKPOINT_FILES.tokenizer));
  if (tokenizerBytes !== undefined) {
    parseJsonFile(path(CHECKPOINT_FILES.tokenizer), tokenizerBytes); // a corrupt tokenizer must fail here, not at first use
    out.tokenizer = tokenizerBytes.toString('utf8');
  }
  const tokConfigBytes = await readOptional(path(CHECKPOINT_FILES.tokenizerConfig));
  if (tokConfigBytes !== undefined) {
    parseJsonFile(path(CHECKPOINT_FILES.tokenizerConfig), tokConfigBytes);
    out.tokenizerConfig = tokConfigBytes.toString('utf8');
  }
  const optimizerBytes = await readOptional(path(CHECKPOINT_FILES.optimizer));
  if (optimizerBytes !== undefined) out.optimizer = decodeFile(path(CHECKPOINT_FILES.optimizer), optimizerBytes);
  const stateBytes = await readOptional(path(CHECKPOINT_FILES.state));
  if (stateBytes !== undefined) {
    const state = parseJsonFile(path(CHECKPOINT_FILES.state), stateBytes);
    if (state === null || typeof state !== 'object' || Array.isArray(state)) {
      throw new CheckpointError(`${path(CHECKPOINT_FILES.state)} must hold a JSON object; got ${JSON.stringify(state)?.slice(0, 80)}`);
    }
    out.state = state as Record<string, unknown>;
  }
  return out;
}

/** If a save died between its two renames, the previous checkpoint sits renamed aside: say where. */
async function asideHint(target: string): Promise<string> {
  const prefix = `.${basename(target)}${OLD_TAG}`;
  let names: string[];
  try {
    names = await readdir(dirname(target));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    return ` (could not look for an interrupted save: ${(err as Error).message})`;
  }
  const aside = names.filter((n) => n.startsWith(prefix));
  if (aside.length === 0) return '';
  return ` (a save was interrupted; the previous checkpoint is at ${aside.map((n) => join(dirname(target), n)).join(', ')})`;
}
