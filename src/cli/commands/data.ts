// `rlhf-stream data`: build (or reuse) the corpus splits, instruction pairs, prompts and tokenizer, and print their sizes.
import { buildData, DataError, type DataArtifacts } from '../../data/build.js';
import { CorpusError } from '../../data/corpus.js';
import { TokenizerError } from '../../data/tokenizer.js';
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs } from '../common.js';

/** The sizes as an aligned table, for the terminal. */
export function describeData(a: DataArtifacts): string {
  const m = a.manifest;
  const rows = [['split', 'documents', 'sentences', 'characters', 'tokens']];
  for (const split of ['train', 'valid', 'test'] as const) {
    const s = m.corpus[split];
    rows.push([split, s.documents, s.sentences, s.characters, s.tokens].map(String));
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  const charsPerToken = m.corpus.train.tokens > 0 ? (m.corpus.train.characters / m.corpus.train.tokens).toFixed(2) : 'n/a';
  return [
    `data in ${a.dir} (${a.reused ? 'reused from cache' : 'built now'}; content ${m.contentHash.slice(0, 16)})`,
    ...table.map((l) => `  ${l}`),
    `  instructions: ${m.instructions.train} train, ${m.instructions.valid} valid pairs`,
    `  prompts (${m.task}): ${m.prompts.train} train, ${m.prompts.eval} eval`,
    `  tokenizer: vocabulary ${m.tokenizer.vocabSize}, ${charsPerToken} characters per token on train, trained in ${m.tokenizer.trainSeconds.toFixed(1)}s`,
  ].join('\n');
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'build (or reuse) corpus splits, instruction pairs, prompts and the tokenizer under <run.cacheDir>/data',
  usage: 'rlhf-stream data [--config FILE] [--set data.key=value ...] [--force]',
  flags: [...CONFIG_FLAGS, 'force'],
  async run(args) {
    const cfg = configFromArgs(args);
    try {
      const artifacts = await buildData(cfg, { log: (l) => console.error(l), force: args.flags.has('force') });
      console.log(describeData(artifacts));
      return 0;
    } catch (err) {
      // Bad inputs (missing package files, a vocabulary the corpus cannot fill) are one-line errors, not crashes.
      if (err instanceof DataError || err instanceof CorpusError || err instanceof TokenizerError) {
        console.error(`error: ${err.message}`);
        return 1;
      }
      throw err;
    }
  },
};
