// `rlhf-stream generate`: what a policy says to some prompts, with the sampling options.
import { readFileSync } from 'node:fs';
import type { Command } from '../command.js';
import { flag, UsageError, type ParsedArgs } from '../args.js';
import { CONFIG_FLAGS, startBackend } from '../common.js';
import { loadConfig } from '../../config/index.js';
import { formatPrompt } from '../../data/template.js';
import { disposeModel } from '../../kernels/gpt.js';
import { generate } from '../../kernels/sampling.js';
import { loadPolicy, withPeftAdapter } from '../../models/policy_source.js';

function num(args: ParsedArgs, name: string, def: number, ok: (v: number) => boolean, accepts: string): number {
  const raw = flag(args, name);
  if (raw === undefined) return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || !ok(v)) throw new UsageError(`--${name} must be ${accepts}; got ${JSON.stringify(raw)}`);
  return v;
}

/** Prompts from the positional arguments and --prompts FILE (one prompt a line; blank lines skipped). */
function promptsOf(args: ParsedArgs): string[] {
  const file = flag(args, 'prompts');
  const fromFile = file === undefined ? [] : readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const all = [...args.positional, ...fromFile];
  if (all.length === 0) throw new UsageError('generate needs prompts: give them as arguments or with --prompts FILE');
  return all;
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'print what a policy (Hugging Face folder or checkpoint) answers to prompts, with the sampling options',
  usage: [
    'rlhf-stream generate (--model DIR | --checkpoint DIR) [--prompts FILE] [--max-new-tokens 48] [--temperature 0.7]',
    '                     [--top-k 0] [--top-p 0.95] [--samples 1] [--seed 1] [--tokenizer DIR] [--adapter DIR] "prompt" ...',
    '',
    'Prompts go through the model\'s chat template when it has one (the tiny model\'s own prompt layout otherwise).',
    'Temperature 0 is greedy decoding. --adapter DIR applies a PEFT LoRA folder (e.g. one `export` wrote) to the model.',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'checkpoint', 'prompts', 'max-new-tokens', 'temperature', 'top-k', 'top-p', 'samples', 'seed', 'tokenizer', 'adapter'],
  async run(args) {
    const dir = flag(args, 'model') ?? flag(args, 'checkpoint');
    if (!dir) throw new UsageError('generate needs --model DIR (a Hugging Face folder) or --checkpoint DIR');
    const prompts = promptsOf(args);
    const opts = {
      maxNewTokens: num(args, 'max-new-tokens', 48, (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1'),
      temperature: num(args, 'temperature', 0.7, (v) => v >= 0, 'a number >= 0'),
      topK: num(args, 'top-k', 0, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0 (0 = off)'),
      topP: num(args, 'top-p', 0.95, (v) => v > 0 && v <= 1, 'in (0, 1]'),
      seed: num(args, 'seed', 1, Number.isInteger, 'an integer'),
    };
    const samples = num(args, 'samples', 1, (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
    await startBackend(loadConfig({ file: flag(args, 'config'), overrides: args.flags.get('set') ?? [] }));
    const loaded = await loadPolicy(dir, flag(args, 'tokenizer'));
    const { model, tokenizer } = loaded;
    try {
      const adapter = flag(args, 'adapter');
      if (adapter !== undefined) await withPeftAdapter(loaded, adapter);
      const rows = prompts.flatMap((p) => Array.from({ length: samples }, () => formatPrompt(tokenizer, p)));
      const out = generate(model, rows, { ...opts, eosId: tokenizer.special.eos, padId: tokenizer.special.pad });
      prompts.forEach((p, i) => {
        console.log(`### ${p}`);
        for (let k = 0; k < samples; k++) {
          const ids = out.tokens[i * samples + k]!;
          const text = tokenizer.decode(ids.at(-1) === tokenizer.special.eos ? ids.slice(0, -1) : ids).trim();
          console.log(`${samples > 1 ? `[${k + 1}] ` : ''}${text}${out.finished[i * samples + k] ? '' : ' …'}`);
        }
      });
      return 0;
    } finally {
      disposeModel(model);
    }
  },
};
