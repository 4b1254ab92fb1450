// `rlhf-stream run`: the whole cluster in one process (in-process bus by default), with a live status line.
import { UsageError } from '../args.js';
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs, startBackend, sigintSignal } from '../common.js';
import { formatHeadline, runOnline } from '../../run/online.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'run data -> SFT -> reward model (cached) -> online DPO with every actor in this process',
  usage: [
    'rlhf-stream run [--config FILE] [--set section.key=value ...] [--dashboard] [--mode streaming|iterative|offline]',
    '',
    'Stages already built with the same inputs (data, tokenizer, SFT, reward model) are reused from run.cacheDir.',
    'With bus.kind=nats (and bus.servers) the same actors talk through NATS JetStream instead of the in-process bus.',
    'Ctrl-C stops the run cleanly: actors drain and the learner checkpoints.',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'adapter', 'dashboard', 'mode'],
  async run(args) {
    const mode = args.flags.get('mode')?.at(-1);
    if (mode) args.flags.set('set', [...(args.flags.get('set') ?? []), `run.mode=${mode}`]);
    const cfg = configFromArgs(args);
    if (cfg.judge.count === 0 && cfg.bus.kind === 'inprocess') {
      throw new UsageError('judge.count 0 needs bus.kind=nats, where judges from outside this process can join; with the in-process bus set judge.count to at least 1');
    }
    await startBackend(cfg);
    const ac = sigintSignal();
    try {
      const res = await runOnline(cfg, { dashboard: args.flags.has('dashboard') || undefined, signal: ac.signal });
      console.log(`run ${res.runId} finished; outputs in ${res.runDir} (summary.json, metrics.jsonl, report.md, checkpoints/)`);
      for (const line of formatHeadline(res.headline)) console.log(line);
      return 0;
    } finally {
      ac.dispose();
    }
  },
};
