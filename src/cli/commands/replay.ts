// `rlhf-stream replay`: retrain a run's recorded steps from its starting checkpoint, exactly or with other settings.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError, flag } from '../args.js';
import type { Command } from '../command.js';
import { startBackend } from '../common.js';
import { LearnerStartError } from '../../run/learner_start.js';
import { PairJournalError } from '../../run/pair_journal.js';
import { ReplayError, replayRun, runConfig, type ReplayResult } from '../../run/replay.js';
import { ReplayPlanError } from '../../run/replay_plan.js';
import { LedgerError } from '../../run/trained_ledger.js';

/** A run folder that cannot be replayed is the user's to fix: one line, not a stack. */
async function orUsage<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if ([ReplayError, ReplayPlanError, LearnerStartError, PairJournalError, LedgerError].some((cls) => err instanceof cls)) throw new UsageError((err as Error).message);
    throw err;
  }
}

export const replayCommand: Command = {
  name: 'replay',
  summary: "retrain a run's recorded pairs in order from its starting checkpoint: check each version, or compare other settings",
  usage: [
    'rlhf-stream replay --run RUN_DIR [--set learner.key=value ...] [--eval] [--name NAME]',
    '',
    "A fresh learner starts from the run's SFT checkpoint and takes the run's learner steps again, each on the same pairs",
    'in the same order (trained_pairs.jsonl and pairs.log in the run folder), without generators or judges.',
    "With the run's own settings every version is checked against the original's sha256, and the run's last checkpoint",
    'tensor by tensor; the command fails when one differs. With --set (learner.loss=ipo, learner.beta=0.3, ...) it is a',
    'counterfactual on the same online data. --eval scores the versions the run evaluated with the same evaluator and',
    'writes gold reward with bootstrap intervals beside the original\'s. Output: RUN_DIR/replays/NAME/ (replay.json, report.md).',
  ].join('\n'),
  flags: ['run', 'set', 'eval', 'name'],
  async run(args) {
    const runArg = flag(args, 'run');
    if (!runArg) throw new UsageError('replay needs --run RUN_DIR (a run folder holding config.json, trained_pairs.jsonl and pairs.log)');
    const runDir = resolve(runArg);
    if (!existsSync(runDir)) throw new UsageError(`--run ${JSON.stringify(runArg)}: no such folder`);
    const overrides = args.flags.get('set') ?? [];
    const cfg = await orUsage(async () => runConfig(runDir, overrides));
    await startBackend(cfg);
    const name = flag(args, 'name');
    const r: ReplayResult = await orUsage(() => replayRun(runDir, { overrides, evaluate: args.flags.has('eval'), ...(name ? { name } : {}) }));
    const differ = r.versions.filter((v) => !v.equal);
    console.log(`replay: ${r.steps} steps, ${r.versions.length} versions; report in ${r.outDir}/report.md`);
    if (r.counterfactual) {
      console.log(`counterfactual (${r.overrides.join(' ')}): ${differ.length} of ${r.versions.length} versions differ from the original`);
      return 0;
    }
    const ckBad = r.checkpoint !== undefined && !r.checkpoint.equal;
    if (differ.length === 0 && !ckBad) {
      console.log(`every version equal to the original${r.checkpoint ? `; the checkpoint at step ${r.checkpoint.step} bit-identical` : ''}`);
      return 0;
    }
    console.log(`NOT equal: versions ${differ.map((v) => v.version).join(', ') || 'none'}${ckBad ? `; checkpoint tensors ${r.checkpoint!.differing.join(', ')}` : ''}`);
    return 1;
  },
};
