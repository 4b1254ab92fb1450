// Minimal argv parsing shared by the subcommands: --flag value, --flag=value, --bool, repeated --set.
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string[]>;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    let value: string;
    if (eq >= 0) value = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
    else value = 'true';
    const list = flags.get(name) ?? [];
    list.push(value);
    flags.set(name, list);
  }
  return { positional, flags };
}

export function flag(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.at(-1);
}

/** Rejects flags a subcommand does not know, naming the accepted ones. */
export function checkFlags(args: ParsedArgs, accepted: string[], command: string): void {
  for (const name of args.flags.keys()) {
    if (!accepted.includes(name)) {
      throw new UsageError(`unknown option --${name} for '${command}'; accepted: ${accepted.map((a) => `--${a}`).join(', ')}`);
    }
  }
}
