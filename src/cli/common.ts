// Helpers shared by subcommands: config loading from --config/--set, backend start-up with a log line.
import { resolve } from 'node:path';
import { loadConfig, type Config } from '../config/index.js';
import { describeBackend, initBackend, sayBackend, type BackendInfo } from '../kernels/backend.js';
import { flag, type ParsedArgs } from './args.js';

/** --model DIR is short for --set model.source=DIR: start from a local Hugging Face model folder. */
export const CONFIG_FLAGS = ['config', 'set', 'model'];

export function configFromArgs(args: ParsedArgs): Config {
  const model = flag(args, 'model');
  const adapter = flag(args, 'adapter');
  // --adapter DIR (run, cluster): train on from a PEFT LoRA folder, e.g. one `export` wrote.
  const overrides = [
    ...(args.flags.get('set') ?? []),
    ...(model !== undefined ? [`model.source=${resolve(model)}`] : []),
    ...(adapter !== undefined ? ['learner.adapter=lora', `learner.lora.from=${resolve(adapter)}`] : []),
  ];
  return loadConfig({ file: flag(args, 'config'), overrides });
}

export async function startBackend(cfg: Config, log: (line: string) => void = (l) => console.error(l)): Promise<BackendInfo> {
  const info = await initBackend(cfg.compute.backend, { native: cfg.compute.nativeKernels, nativeThreads: cfg.compute.nativeThreads });
  sayBackend(describeBackend(info), log);
  return info;
}

/**
 * Ctrl-C as an AbortSignal for a command that stops cleanly (drains, checkpoints): the first SIGINT aborts, a second
 * one, with the handler gone, ends the process as usual. dispose() when the command returns.
 */
export function sigintSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  return { signal: ac.signal, dispose: () => void process.off('SIGINT', onSigint) };
}
