// `rlhf-stream config`: print the resolved config, or the schema as a table.
import { stringify } from 'yaml';
import { describeSchema } from '../../config/index.js';
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs } from '../common.js';

export const configCommand: Command = {
  name: 'config',
  summary: 'print the resolved configuration (or --doc: every key with default, bounds, description)',
  usage: 'rlhf-stream config [--config FILE] [--set section.key=value ...] [--doc]',
  flags: [...CONFIG_FLAGS, 'doc'],
  async run(args) {
    if (args.flags.has('doc')) console.log(describeSchema());
    else console.log(stringify(configFromArgs(args)));
    return 0;
  },
};
