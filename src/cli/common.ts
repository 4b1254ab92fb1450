// Helpers shared by subcommands: config loading from --config/--set, backend start-up with a log line.
import { loadConfig, type Config } from '../config/index.js';
import { describeBackend, initBackend, type BackendInfo } from '../kernels/backend.js';
import { flag, type ParsedArgs } from './args.js';

export const CONFIG_FLAGS = ['config', 'set'];

export function configFromArgs(args: ParsedArgs): Config {
  return loadConfig({ file: flag(args, 'config'), overrides: args.flags.get('set') ?? [] });
}

export async function startBackend(cfg: Config, log: (line: string) => void = (l) => console.error(l)): Promise<BackendInfo> {
  const info = await initBackend(cfg.compute.backend, { native: cfg.compute.nativeKernels, nativeThreads: cfg.compute.nativeThreads });
  log(describeBackend(info));
  return info;
}
