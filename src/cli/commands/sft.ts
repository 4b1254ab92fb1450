// `rlhf-stream sft`: pre-train and instruction-tune the tiny policy (or reuse the cached checkpoint) and print its figures.
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs, startBackend, sigintSignal } from '../common.js';
import { ensureSft } from '../../train/stages.js';

/** A figure from the manifest: a loss with no validation window was NaN, which JSON stores as null. */
function figure(x: number | null, digits: number): string {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

/** The SFT figures as lines for the terminal. */
export function describeSft(dir: string, reused: boolean, summary: Record<string, unknown>): string {
  type Loss = { validLoss: number | null; validPerplexity: number | null };
  const pre = summary.pretrain as ({ steps: number; msPerStep: number } & Loss) | undefined;
  const ft = summary.finetune as { steps: number; msPerStep: number; epochs: Loss[] } | undefined;
  const lines = [`sft checkpoint in ${dir} (${reused ? 'reused: inputs unchanged' : 'trained now'})`];
  if (pre) lines.push(`  pre-training: ${pre.steps} steps, ${figure(pre.msPerStep, 0)} ms/step, corpus valid loss ${figure(pre.validLoss, 3)}, perplexity ${figure(pre.validPerplexity, 1)}`);
  if (ft) {
    ft.epochs.forEach((e, i) => lines.push(`  tuning epoch ${i + 1}: valid loss ${figure(e.validLoss, 3)}, perplexity ${figure(e.validPerplexity, 2)}`));
    lines.push(`  tuning: ${ft.steps} steps, ${figure(ft.msPerStep, 0)} ms/step`);
  }
  if (typeof summary.seconds === 'number') lines.push(`  time: ${(summary.seconds / 60).toFixed(1)} min`);
  return lines.join('\n');
}

export const sftCommand: Command = {
  name: 'sft',
  summary: 'pre-train the tiny policy on the corpus, then tune it on prompt/response pairs; checkpoint in <run.cacheDir>/sft',
  usage: 'rlhf-stream sft [--config FILE] [--set sft.key=value ...] [--force]',
  flags: [...CONFIG_FLAGS, 'force'],
  async run(args) {
    const cfg = configFromArgs(args);
    await startBackend(cfg);
    const ctl = sigintSignal();
    try {
      const r = await ensureSft(cfg, { log: (l) => console.error(l), signal: ctl.signal, force: args.flags.has('force') });
      console.log(describeSft(r.dir, r.reused, r.summary));
      return 0;
    } finally {
      ctl.dispose();
    }
  },
};
