// `rlhf-stream experiment`: offline vs iterative vs streaming DPO (and the proxy / length-penalty ablations) on equal budgets, several seeds.
import type { Command } from '../command.js';
import { flag } from '../args.js';
import { CONFIG_FLAGS, configFromArgs, startBackend, sigintSignal } from '../common.js';
import { rerenderExperiment, runExperiment } from '../../experiment/run_experiment.js';

export const experimentCommand: Command = {
  name: 'experiment',
  summary: 'compare offline, iterative (the paper) and streaming online DPO on equal budgets over seeds; writes results.md, results.json and plots',
  usage: [
    'rlhf-stream experiment [--config FILE] [--set section.key=value ...] [--id ID]',
    'rlhf-stream experiment --report DIR     (writes results.md, results.json and plots of a finished experiment folder again)',
    '',
    'Builds (or reuses from run.cacheDir) the data, the SFT model and the proxy models once, then runs every arm',
    '(experiment.arms x experiment.seeds, then the pairwise-proxy and length-penalty ablations) from that same SFT model.',
    'Outputs go to <run.dir>/experiment-<id>/: results.md, results.json, plots/*.svg, experiment.log and arms/<run>/',
    '(each run\'s metrics.jsonl, report.md, summary.json). With experiment.docsDir set, results.md and the plots are',
    'also copied there (results.md and results/*.svg). Ctrl-C stops the run in flight and keeps the results so far.',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'id', 'report'],
  async run(args) {
    const report = flag(args, 'report');
    if (report) {
      const res = rerenderExperiment(report);
      console.log(`experiment ${res.id}: ${res.runs.length} runs re-rendered into ${res.resultsMd}${res.docsMd ? ` and ${res.docsMd}` : ''}`);
      return 0;
    }
    const cfg = configFromArgs(args);
    await startBackend(cfg);
    const ac = sigintSignal();
    try {
      // The report names the command that made it: the config file and every --set that changed it.
      const sets = (args.flags.get('set') ?? []).map((s) => ` --set ${s}`).join('');
      const res = await runExperiment(cfg, { configPath: `${flag(args, 'config') ?? '(defaults)'}${sets}`, id: flag(args, 'id'), signal: ac.signal });
      console.log(`experiment ${res.id}: ${res.runs.length} runs in ${(res.wallSeconds / 60).toFixed(1)} min; results in ${res.resultsMd}${res.docsMd ? ` and ${res.docsMd}` : ''}`);
      return 0;
    } finally {
      ac.dispose();
    }
  },
};
