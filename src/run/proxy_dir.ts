// judge.proxyDir: a proxy model folder given by hand (a refit from train-rm --labels), checked before the run loads it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/index.js';

const FILES = ['model.safetensors', 'config.json', 'tokenizer.json'];

export function checkedProxyDir(dir: string): string {
  const missing = FILES.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) throw new ConfigError(`judge.proxyDir ${JSON.stringify(dir)} must be a proxy model folder (as train-rm --labels writes); it lacks ${missing.join(', ')}`);
  return dir;
}
