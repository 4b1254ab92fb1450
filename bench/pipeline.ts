// The pipeline benchmark: streaming against the paper's iterative loop, colocated in one process, side by side in one
// experiment on the same cached data, SFT and proxy models. Per mode: wall-clock, time to the target gold win rate,
// final gold reward, the cores' busy share (whole machine and this process alone), each role's work and idle share,
// and the ceiling that equal work allows. Load averages are sampled throughout: the machine may be shared.
// Run: node dist/bench/pipeline.js [--config FILE] [--set section.key=value ...] [--id ID]
// (npm run bench:pipeline -- --set run.cacheDir=/work/cache)
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { flag, parseArgs } from '../src/cli/args.js';
import { configFromArgs, startBackend } from '../src/cli/common.js';
import { parseConfig } from '../src/config/index.js';
import { runExperiment } from '../src/experiment/run_experiment.js';
import type { ArmRun } from '../src/experiment/results.js';

const mean = (xs: number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((s, x) => s + x, 0) / xs.length);
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%` : 'n/a');
const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

interface ModeFigures {
  mode: string;
  runs: number;
  wall: number;
  toTarget: number;
  reached: number;
  gold: number;
  winRate: number;
  coreBusy: number;
  processShare: number;
  /** Work seconds per role summed over actors, divided by wall-clock. */
  generate: number;
  judge: number;
  learn: number;
  evaluate: number;
  samplesPerS: number;
  /** Seconds in bus calls / wall-clock (the run's headline). */
  busShare: number;
}

/** The bus-call share an arm's summary.json reports (NaN when absent). */
function busShare(experimentDir: string, r: ArmRun): number {
  // An arm's folder is relative to its task's folder, which is the experiment's own when it has one task.
  const file = [join(experimentDir, r.dir, 'summary.json'), join(experimentDir, r.task ?? '', r.dir, 'summary.json')].find((f) => existsSync(f));
  if (!file) return Number.NaN;
  const s = JSON.parse(readFileSync(file, 'utf8')) as { headline?: { busCallShare?: number } };
  return s.headline?.busCallShare ?? Number.NaN;
}

function figures(mode: string, runs: ArmRun[], dir: string): ModeFigures {
  const per = (g: (r: ArmRun) => number): number => mean(runs.map(g));
  const reached = runs.filter((r) => r.secondsToTarget !== null);
  return {
    mode,
    runs: runs.length,
    wall: per((r) => r.wallSeconds),
    toTarget: mean(reached.map((r) => r.secondsToTarget!)),
    reached: reached.length,
    gold: per((r) => r.goldReward),
    winRate: per((r) => r.winRateVsSft),
    coreBusy: per((r) => mean(r.coreBusy)),
    processShare: per((r) => r.processShare),
    generate: per((r) => r.generateSeconds / r.wallSeconds),
    judge: per((r) => r.judgeSeconds / r.wallSeconds),
    learn: per((r) => r.learnSeconds / r.wallSeconds),
    evaluate: per((r) => r.evalSeconds / r.wallSeconds),
    samplesPerS: per((r) => r.samplesPerSecond),
    busShare: per((r) => busShare(dir, r)),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const base = configFromArgs(args);
  const arms = base.experiment.arms.filter((a) => a === 'streaming' || a === 'iterative');
  // Only the two modes compared, no ablations: the figures are ratios of runs made side by side.
  const cfg = parseConfig({
    ...base,
    experiment: { ...base.experiment, arms: arms.length === 2 ? arms : ['iterative', 'streaming'], rmAblation: false, lengthPenalty: 0, ablationSeeds: 1, docsDir: '' },
  });
  await startBackend(cfg);
  const loads: number[] = [];
  const sampler = setInterval(() => loads.push(loadavg()[0]!), 5000);
  const load0 = loadavg();
  const id = flag(args, 'id') ?? `pipeline-${Date.now().toString(36)}`;
  let res;
  try {
    res = await runExperiment(cfg, { id, configPath: flag(args, 'config') ?? '(defaults)' });
  } finally {
    clearInterval(sampler);
  }
  const load1 = loadavg();
  const cores = availableParallelism();
  const rows = cfg.experiment.arms.map((m) => figures(m, res.runs.filter((r) => r.mode === m && r.group === 'main'), res.dir));
  console.log(`\npipeline bench, experiment ${res.id} (${res.resultsMd}); ${cores} cores; ${cfg.experiment.seeds} seed(s) per mode, alternating`);
  console.log(`load average: at start ${load0.map((x) => x.toFixed(2)).join(' ')}, mean of 1-min samples during ${f(mean(loads), 2)}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  console.log('\nmode        wall s  to win>=' + cfg.experiment.targetWinRate + ' s  reached  gold   win    cores busy  this process  samples/s  bus calls');
  for (const r of rows) {
    console.log(
      `${r.mode.padEnd(10)} ${f(r.wall).padStart(7)} ${f(r.toTarget).padStart(13)} ${`${r.reached}/${r.runs}`.padStart(8)}  ${f(r.gold, 3).padStart(6)} ${f(r.winRate, 2).padStart(5)} ` +
        `${pct(r.coreBusy).padStart(11)} ${pct(r.processShare).padStart(13)} ${f(r.samplesPerS, 2).padStart(10)} ${pct(r.busShare).padStart(10)}`,
    );
  }
  console.log('\nwork per role / wall-clock (summed over actors; 1.0 = one core busy the whole run); idle = 1 - that share of one core');
  console.log('mode        generate  judge  learn  evaluate   sum   ceiling at equal work (cores / sum)');
  for (const r of rows) {
    const sum = r.generate + r.judge + r.learn + r.evaluate;
    console.log(`${r.mode.padEnd(10)} ${f(r.generate, 2).padStart(9)} ${f(r.judge, 2).padStart(6)} ${f(r.learn, 2).padStart(6)} ${f(r.evaluate, 2).padStart(9)} ${f(sum, 2).padStart(6)}   ${f(cores / sum, 2)}x`);
  }
  const s = rows.find((r) => r.mode === 'streaming');
  const it = rows.find((r) => r.mode === 'iterative');
  if (s && it) {
    console.log(
      `\nstreaming vs iterative: wall-clock ${f(it.wall / s.wall, 2)}x faster, time to win rate ${cfg.experiment.targetWinRate}: ` +
        `${f(it.toTarget / s.toTarget, 2)}x, final gold reward ${f(s.gold, 3)} vs ${f(it.gold, 3)}`,
    );
  }
}

await main();
