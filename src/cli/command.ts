// The shape of one CLI subcommand.
import type { ParsedArgs } from './args.js';

export interface Command {
  name: string;
  /** One line for `rlhf-stream --help`. */
  summary: string;
  /** Full usage text for `rlhf-stream <name> --help`. */
  usage: string;
  /** Accepted --flags (without dashes); `help` is always accepted. */
  flags: string[];
  run(args: ParsedArgs): Promise<number>;
}
