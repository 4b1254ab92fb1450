#!/usr/bin/env node
// The composition root's entry: `rlhf-stream <command> [options]`.
import { CheckpointError } from '../checkpoint/checkpoint.js';
import { ConfigError } from '../config/index.js';
import { BackendError } from '../kernels/backend.js';
import { BusError } from '../streams/bus.js';
import { checkFlags, parseArgs, UsageError } from './args.js';
import { COMMANDS } from './commands/index.js';
import { LauncherError } from '../run/launcher.js';
import { RunControlError } from '../run/run_control.js';
import { HfFolderError } from '../models/hf_folder.js';
import { TokenizerError } from '../data/tokenizer.js';

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'rlhf-stream: streaming online RLHF (online iterative DPO against a proxy preference model)',
    '',
    'usage: rlhf-stream <command> [options]      rlhf-stream <command> --help',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --config FILE (YAML) and --set section.key=value; `rlhf-stream config --doc` lists the keys.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 1;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`unknown command ${JSON.stringify(name)}; commands are ${COMMANDS.map((c) => c.name).join(', ')}`);
    return 2;
  }
  const args = parseArgs(rest);
  if (args.flags.has('help') || rest.includes('-h')) {
    console.log(`${cmd.usage}\n\n${cmd.summary}`);
    return 0;
  }
  checkFlags(args, [...cmd.flags, 'help'], cmd.name);
  return cmd.run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error;
    // Expected user errors print one clear line; anything else keeps its stack for a bug report.
    // (A missing or corrupt checkpoint, a refused or unreachable NATS server, a run that already ended or whose actors
    // keep failing are the user's to fix, or already explained by the actors' own lines, not bugs.)
    const expected = [UsageError, ConfigError, BackendError, CheckpointError, BusError, HfFolderError, TokenizerError, LauncherError, RunControlError].some((cls) => e instanceof cls);
    if (expected) console.error(`error: ${e.message.split('\n')[0]}`);
    else console.error(e);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);
