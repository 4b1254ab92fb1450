// `rlhf-stream backend`: initialise the tensor backend and say which one runs.
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs, startBackend } from '../common.js';

export const backendCommand: Command = {
  name: 'backend',
  summary: 'initialise the tensor backend from config and print which one runs',
  usage: 'rlhf-stream backend [--config FILE] [--set compute.backend=wasm]',
  flags: CONFIG_FLAGS,
  async run(args) {
    const info = await startBackend(configFromArgs(args), (l) => console.log(l));
    for (const s of info.skipped) console.log(`  skipped: ${s}`);
    return 0;
  },
};
