// Reads a local Hugging Face model folder (config.json, model.safetensors or shards with model.safetensors.index.json,
// tokenizer.json, tokenizer_config.json, generation_config.json) into our parameter names and layout.
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { decodeSafetensors, SafetensorsError, type TensorRecord } from '../checkpoint/safetensors.js';
import { HfTokenizer, parseJsonObject } from '../data/hf_tokenizer.js';
import { gptParamShapes, type GptConfig } from '../kernels/gpt.js';
import { ModelFamilyError, type HfConfig, type ModelFamily } from './families/family.js';
import { familyOf } from './families/registry.js';

export class HfFolderError extends Error {
  override name = 'HfFolderError';
}

export type F32Weights = Record<string, { shape: number[]; data: Float32Array }>;

export interface HfModel {
  dir: string;
  modelType: string;
  family: ModelFamily;
  cfg: GptConfig;
  /** Our parameter names and layout, float32. */
  weights: F32Weights;
  tokenizer: HfTokenizer;
  hfConfig: HfConfig;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HfFolderError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parseJson(path: string, text: string): Record<string, unknown> {
  return parseJsonObject(text, path, HfFolderError);
}

async function readSafetensors(path: string): Promise<TensorRecord> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new HfFolderError(`weights file ${path} does not exist`);
    throw new HfFolderError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return decodeSafetensors(bytes, { source: path }).tensors;
  } catch (err) {
    if (err instanceof SafetensorsError) throw new HfFolderError(err.message, { cause: err });
    throw err;
  }
}

/** Every tensor of the folder: one model.safetensors, or the shards model.safetensors.index.json names (each listed tensor must be in its shard). */
export async function readHfTensors(dir: string): Promise<TensorRecord> {
  const indexPath = join(dir, 'model.safetensors.index.json');
  const indexText = await readText(indexPath);
  if (indexText === undefined) {
    const single = join(dir, 'model.safetensors');
    if (!(await exists(single))) {
      throw new HfFolderError(`${dir} has neither model.safetensors nor model.safetensors.index.json (only safetensors weights are read)`);
    }
    return readSafetensors(single);
  }
  const map = parseJson(indexPath, indexText)['weight_map'];
  if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new HfFolderError(`${indexPath} has no weight_map object`);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
      throw new HfFolderError(`${indexPath} maps ${JSON.stringify(name)} to ${JSON.stringify(shard)}; a shard is a file name in the folder`);
    }
    byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
  }
  const out: TensorRecord = {};
  for (const [shard, names] of byShard) {
    const path = join(dir, shard);
    if (!(await exists(path))) throw new HfFolderError(`shard ${shard} named by ${indexPath} (for ${names.length} tensors, e.g. ${JSON.stringify(names[0])}) does not exist`);
    const tensors = await readSafetensors(path);
    for (const name of names) {
      const t = tensors[name];
      if (!t) throw new HfFolderError(`${indexPath} puts tensor ${JSON.stringify(name)} in ${shard}, which does not hold it`);
      out[name] = t;
    }
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/**
 * HF tensors -> our names and layout (nanoGPT's from_pretrained): every parameter mapped, nn.Linear weights transposed,
 * shapes checked, and every tensor of the file used (or a known buffer), else an error listing what is wrong.
 */
export function mapHfWeights(family: ModelFamily, cfg: GptConfig, raw: TensorRecord, source: string): F32Weights {
  const tensors: TensorRecord = {};
  for (const [name, t] of Object.entries(raw)) tensors[family.canonicalName(name)] = t;
  const shapes = gptParamShapes(cfg, 'lm');
  const out: F32Weights = {};
  const used = new Set<string>();
  const problems: string[] = [];
  for (const m of family.tensors(cfg)) {
    const want = shapes[m.ours]!;
    const t = tensors[m.hf];
    const hfShape = m.transpose ? [want[1]!, want[0]!] : want;
    if (!t) {
      problems.push(`missing tensor ${JSON.stringify(m.hf)} (expected shape [${hfShape.join(', ')}])`);
      continue;
    }
    used.add(m.hf);
    if (t.dtype === 'I32') {
      problems.push(`tensor ${JSON.stringify(m.hf)} is I32; weights must be F32, F16 or BF16`);
      continue;
    }
    if (t.shape.length !== hfShape.length || t.shape.some((d, i) => d !== hfShape[i])) {
      problems.push(`tensor ${JSON.stringify(m.hf)} has shape [${t.shape.join(', ')}], expected [${hfShape.join(', ')}]`);
      continue;
    }
    const data = t.data as Float32Array;
    out[m.ours] = { shape: want, data: m.transpose ? transpose2d(data, hfShape[0]!, hfShape[1]!) : data };
  }
  for (const name of Object.keys(tensors)) {
    if (!used.has(name) && !family.ignorable(name, cfg)) problems.push(`unexpected tensor ${JSON.stringify(name)} [${tensors[name]!.shape.join(', ')}]`);
  }
  if (problems.length > 0) throw new HfFolderError(`${source} does not match its config.json: ${problems.join('; ')}`);
  return out;
}

/** The first eos id of generation_config.json, else config.json (either may hold a list). */
function eosIdOf(...sources: (Record<string, unknown> | undefined)[]): number | undefined {
  for (const s of sources) {
    const v = s?.['eos_token_id'];
    const id = Array.isArray(v) ? v[0] : v;
    if (typeof id === 'number' && Number.isInteger(id)) return id;
  }
  return undefined;
}

/** Loads a local Hugging Face model folder. Never a network id: the folder must exist. */
export async function loadHfFolder(dirIn: string): Promise<HfModel> {
  const dir = resolve(dirIn);
  const configPath = join(dir, 'config.json');
  const configText = await readText(configPath);
  if (configText === undefined) {
    throw new HfFolderError(`${dir} is not a Hugging Face model folder: ${configPath} does not exist (model.source takes a local folder, never a hub id)`);
  }
  const hfConfig = parseJson(configPath, configText);
  let family: ModelFamily;
  let cfg: GptConfig;
  try {
    family = familyOf(hfConfig['model_type']);
    cfg = family.toConfig(hfConfig, hfConfig['model_type'] as string);
  } catch (err) {
    if (err instanceof ModelFamilyError) throw new HfFolderError(`${configPath}: ${err.message}`, { cause: err });
    throw err;
  }
  const weights = mapHfWeights(family, cfg, await readHfTensors(dir), dir);
  const tokenizerText = await readText(join(dir, 'tokenizer.json'));
  if (tokenizerText === undefined) throw new HfFolderError(`${dir} has no tokenizer.json (tokenizers load from tokenizer.json only)`);
  const tokConfig = await readText(join(dir, 'tokenizer_config.json'));
  const genText = await readText(join(dir, 'generation_config.json'));
  const gen = genText === undefined ? undefined : parseJson(join(dir, 'generation_config.json'), genText);
  const tokenizer = new HfTokenizer(tokenizerText, tokConfig, { eosId: eosIdOf(gen, hfConfig) });
  return { dir, modelType: hfConfig['model_type'] as string, family, cfg, weights, tokenizer, hfConfig };
}
