// `rlhf-stream train-rm`: build preference data from the SFT policy and train the proxy model(s), then compare them on held-out pairs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, flag } from '../args.js';
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs, startBackend, sigintSignal } from '../common.js';
import { buildData } from '../../data/build.js';
import { ensureRewardModel, ensureSft, RM_KINDS, type RmKind, type StageResult } from '../../train/stages.js';
import { refitOnLabels } from '../../train/refit_on_labels.js';
import { labelsFile, readLabels } from '../../run/label_log.js';

const NAMES: Record<RmKind, string> = { bt: 'Bradley-Terry', pairwise: 'pairwise' };

const pct = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');

/** Held-out accuracy against the gold labels per kind, and pairwise minus BT when both exist. */
export function describeComparison(results: Partial<Record<RmKind, StageResult>>): string {
  const rows = [['proxy model', 'held-out acc', 'hard-half acc', 'at init', 'train acc', 'ms/step', 'checkpoint']];
  for (const kind of RM_KINDS) {
    const r = results[kind];
    if (!r) continue;
    const s = r.summary;
    const ms = typeof s.msPerStep === 'number' ? s.msPerStep.toFixed(0) : 'n/a';
    rows.push([NAMES[kind], pct(s.heldOutAccuracy), pct(s.hardHalfAccuracy), pct(s.initHeldOutAccuracy), pct(s.trainAccuracy), ms, `${r.dir}${r.reused ? ' (reused)' : ''}`]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => '  ' + row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const bt = results.bt?.summary.heldOutAccuracy;
  const pw = results.pairwise?.summary.heldOutAccuracy;
  if (typeof bt === 'number' && typeof pw === 'number') {
    const d = 100 * (pw - bt);
    lines.push(
      `  pairwise - BT: ${d >= 0 ? '+' : ''}${d.toFixed(1)} points on ${String(results.bt!.summary.heldOutPairs)} held-out pairs ` +
        '(the paper, RewardBench: pairwise 85.7 vs BT 83.6, +2.1)',
    );
  }
  return ['held-out accuracy against gold labels (pairs from prompts never trained on):', ...lines].join('\n');
}

export const trainRmCommand: Command = {
  name: 'train-rm',
  summary: 'sample preference pairs from the SFT policy, label them with the gold judge, train the BT and/or pairwise proxy model',
  usage: 'rlhf-stream train-rm [--kind bt|pairwise|both] [--labels runs/<id>] [--config FILE] [--set rm.key=value ...] [--force]',
  flags: [...CONFIG_FLAGS, 'kind', 'force', 'labels'],
  async run(args) {
    const cfg = configFromArgs(args);
    const kindArg = flag(args, 'kind') ?? 'both';
    if (kindArg !== 'both' && !(RM_KINDS as readonly string[]).includes(kindArg)) {
      throw new UsageError(`--kind must be one of bt, pairwise, both; got ${JSON.stringify(kindArg)}`);
    }
    const kinds: RmKind[] = kindArg === 'both' ? [...RM_KINDS] : [kindArg as RmKind];
    await startBackend(cfg);
    const ctl = sigintSignal();
    try {
      const log = (l: string): void => console.error(l);
      // Data and SFT are resolved once for every kind asked for; --force applies to the reward models only.
      const data = await buildData(cfg, { log });
      const sft = await ensureSft(cfg, { log, data, signal: ctl.signal });
      const results: Partial<Record<RmKind, StageResult>> = {};
      for (const kind of kinds) {
        results[kind] = await ensureRewardModel(cfg, kind, { log, data, sft, signal: ctl.signal, force: args.flags.has('force') });
      }
      console.log(describeComparison(results));
      const labelsRun = flag(args, 'labels');
      if (labelsRun !== undefined) {
        const file = labelsFile(labelsRun);
        if (!existsSync(file)) throw new UsageError(`--labels ${labelsRun}: there is no ${file}; a run with judge.human=mix or only writes it as people label`);
        const labels = { records: readLabels(file), from: file };
        for (const kind of kinds) {
          const r = await refitOnLabels(cfg, kind, sft.dir, labels, join(labelsRun, `rm-${kind}-labels`), { log, signal: ctl.signal });
          console.log(`rm-${kind} refitted on ${r.humanPairs} pairs labelled by people plus ${r.originalPairs} original pairs: held-out accuracy ${pct(results[kind]!.summary.heldOutAccuracy)} -> ${pct(r.summary.heldOutAccuracy)}; checkpoint in ${r.dir}`);
        }
      }
      return 0;
    } finally {
      ctl.dispose();
    }
  },
};
