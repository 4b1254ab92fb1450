// `rlhf-stream cluster`: the whole run with every actor in its own process over NATS, supervised from here.
import { flag, UsageError, type ParsedArgs } from '../args.js';
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs, startBackend } from '../common.js';
import { launchCluster } from '../../run/launcher.js';
import { formatHeadline } from '../../run/online.js';
import { stopSignal } from './actor.js';
import { availableParallelism } from 'node:os';
import { parsePlacement, PlacementError, type PlacementSpec } from '../../run/placement.js';

function count(args: ParsedArgs, name: string, fallback: number, min: number): number {
  const text = flag(args, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > 256) throw new UsageError(`--${name} must be an integer in [${min}, 256]; got ${JSON.stringify(text)}`);
  return n;
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'run data -> SFT -> reward model (cached) here, then online DPO with each actor in its own process over NATS',
  usage: [
    'rlhf-stream cluster [--config FILE] [--set section.key=value ...] [--nats URL] [--generators N] [--judges N]',
    '                    [--run RUN_ID] [--no-evaluator] [--dashboard] [--max-restarts N] [--placement ROLE=CORES,...]',
    '',
    '  --nats           NATS server URL(s), comma-separated; without it a nats-server is started for the run',
    '                   (JetStream storage in <run.dir>/<run id>/nats) and stopped at the end',
    '  --generators     generator processes (default generator.count)',
    '  --judges         judge processes (default judge.count); 0: the run waits for judges started by hand or\n' +
    '                   written in another language (docs/protocol.md)',
    '  --run            run id (default run.id, else derived from the time)',
    '  --no-evaluator   no evaluator process',
    '  --dashboard      serve the live dashboard (monitor.host:monitor.port)',
    '  --max-restarts   times a crashed actor is restarted (default 3)',
    '  --placement      cores per role, e.g. generators=0,learner=1,judge=1 (cores: 0, 0-3, 0+2): each process is',
    '                   started under `taskset -c` and runs as many GEMM threads (compute.nativeThreads) as its',
    '                   role has cores, split between the role\'s processes; roles left out use every core',
    '',
    'Stages already built with the same inputs are reused from run.cacheDir. One learner, one prompt source and the',
    'evaluator run beside the generators and judges, each as `rlhf-stream actor <role>`; their output is forwarded',
    'here with the actor id in front. More generators or judges can join a running run with `rlhf-stream actor',
    'generator --config <run dir>/config.json --run RUN_ID`. The run ends when the learner reaches learner.totalSteps',
    '(or the prompt budget is spent and the pipeline drained). run.mode iterative and offline run in phases: the',
    'learner opens each phase in the run\'s control bucket once it published the version trained on the one before,',
    'the source then releases the phase\'s prompts, and the run ends after the last phase. Ctrl-C stops the run: every actor drains and the',
    'learner checkpoints; the same --run continues it later.',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'adapter', 'nats', 'generators', 'judges', 'run', 'no-evaluator', 'dashboard', 'max-restarts', 'placement'],
  async run(args) {
    const cfg = configFromArgs(args);
    // The desk where groups wait for a person lives in the process of the judges and the dashboard.
    if (cfg.judge.human !== 'off') throw new UsageError(`judge.human is ${JSON.stringify(cfg.judge.human)}: a person labels only in one-process runs (rlhf-stream run); use judge.human=off for cluster`);
    const runId = flag(args, 'run');
    if (runId !== undefined) {
      if (!/^[A-Za-z0-9_-]+$/.test(runId)) throw new UsageError(`--run must match [A-Za-z0-9_-]+; got ${JSON.stringify(runId)}`);
      cfg.run.id = runId;
    }
    const nats = flag(args, 'nats')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const generators = count(args, 'generators', cfg.generator.count, 1);
    const judges = count(args, 'judges', cfg.judge.count, 0);
    const maxRestarts = count(args, 'max-restarts', 3, 0);
    let placement: PlacementSpec | undefined;
    const placementText = flag(args, 'placement');
    if (placementText !== undefined) {
      try {
        placement = parsePlacement(placementText, availableParallelism());
      } catch (err) {
        if (err instanceof PlacementError) throw new UsageError(`--placement: ${err.message}`);
        throw err;
      }
    }
    await startBackend(cfg);
    const stop = stopSignal();
    try {
      const res = await launchCluster(cfg, {
        nats,
        generators,
        judges,
        evaluator: !args.flags.has('no-evaluator'),
        dashboard: args.flags.has('dashboard') || undefined,
        maxRestarts,
        ...(placement ? { placement } : {}),
        signal: stop.signal,
      });
      const restarts = Object.entries(res.restarts);
      console.log(`run ${res.runId} ${res.end ? `ended (${res.end.reason})` : 'stopped before its end'}; outputs in ${res.runDir} (summary.json, metrics.jsonl, report.md, trained_pairs.jsonl, checkpoints/, actors/)`);
      console.log(res.placement.describe);
      console.log(`actors: ${generators} generators, ${judges} judges; restarts after crashes: ${restarts.length === 0 ? 'none' : restarts.map(([id, n]) => `${id} ${n}`).join(', ')}`);
      for (const line of formatHeadline(res.headline)) console.log(line);
      // Stopped on purpose (Ctrl-C / SIGTERM) is not a failure: the run can be continued with the same --run.
      return 0;
    } finally {
      stop.dispose();
    }
  },
};
