// The disaggregated pipeline benchmark: streaming against the paper's iterative loop with every actor in its own process
// over NATS (`rlhf-stream cluster`), generators placed on some cores and the learner, judge (and evaluator, source) on
// the others, as inference and training hardware are separate in an actor cluster. With 1 and 2 generator processes,
// modes alternating: wall-clock, time to the target gold win rate, final gold reward, sample throughput, each role's
// work share. Load averages are sampled throughout: the machine may be shared.
// Arms: `iterative` is the paper's loop (learner.phaseStart labelled: a phase trains once it is all labelled, so the
// training cores wait while the phase generates and the generators wait while it trains); `pipelined` is the same
// loop with learner.phaseStart arrival (a phase's first pass trains pairs as they are labelled); `streaming`.
// Run: node dist/bench/pipeline_cluster.js [--config FILE] [--set section.key=value ...] [--placement SPEC]
//        [--generators 1,2] [--seeds N] [--arms iterative,streaming,pipelined] [--eval after|during]
// --eval after (default): no evaluator process during the run; once it ended, the versions it published are scored from
// its NATS server as the evaluator would have scored them, timed at their publication (bench/posthoc_eval.ts). So the
// training cores hold only the learner and judge (and the source), as in a cluster with separate evaluation hardware.
// --eval during: the evaluator process runs beside the learner and judge on their cores, evaluating as versions come.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { flag, parseArgs } from '../src/cli/args.js';
import { configFromArgs, startBackend } from '../src/cli/common.js';
import type { Config } from '../src/config/index.js';

const ARMS = {
  iterative: { mode: 'iterative', phaseStart: 'labelled' },
  pipelined: { mode: 'iterative', phaseStart: 'arrival' },
  streaming: { mode: 'streaming', phaseStart: 'labelled' },
} as const;
type Arm = keyof typeof ARMS;
import { evalEvery } from '../src/experiment/plan.js';
import { evalPoints, secondsToTarget, workSeconds } from '../src/experiment/results.js';
import { launchCluster, prepareArtifacts } from '../src/run/launcher.js';
import { parsePlacement } from '../src/run/placement.js';
import { startNatsServer } from '../src/streams/nats/server.js';
import { evaluateAfterRun } from './posthoc_eval.js';

/** When the last actor process of the run became ready (its models loaded), from the records the processes wrote. */
function lastReady(runDir: string, since: number): number {
  const dir = join(runDir, 'actors');
  if (!existsSync(dir)) return Number.NaN;
  const ready = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { startedAt: number; readyAt?: number })
    .filter((r) => r.startedAt >= since && r.readyAt !== undefined)
    .map((r) => r.readyAt!);
  return ready.length > 0 ? Math.max(...ready) : Number.NaN;
}

const mean = (xs: number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((s, x) => s + x, 0) / xs.length);
const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

interface Row {
  mode: string;
  generators: number;
  seed: number;
  wall: number;
  /** Launch to the learner's end of the run: without the final evaluation and the processes' exit. */
  train: number;
  /** Every actor ready (models loaded) to the learner's end of the run: the online loop without process start-up. */
  loop: number;
  toTarget: number | null;
  gold: number;
  winRate: number;
  samplesPerS: number;
  steps: number;
  version: number;
  prompts: number;
  /** Work seconds per role over wall-clock (1.0 = one core busy the whole run). */
  generate: number;
  judge: number;
  learn: number;
  evaluate: number;
  load: number;
  /** Share of wall-clock with a bus call in flight, in the busiest actor process. */
  busShare: number;
  placement: string;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const base = configFromArgs(args);
  const cpus = availableParallelism();
  const placementText = flag(args, 'placement') ?? (cpus >= 2 ? 'generators=0,learner=1,judge=1,evaluator=1,source=1' : '');
  const placement = placementText ? parsePlacement(placementText, cpus) : undefined;
  const generatorCounts = (flag(args, 'generators') ?? '1,2').split(',').map(Number);
  const seeds = Number(flag(args, 'seeds') ?? 1);
  const evalWhen = flag(args, 'eval') ?? 'after';
  if (evalWhen !== 'after' && evalWhen !== 'during') throw new Error(`--eval must be after or during; got ${JSON.stringify(evalWhen)}`);
  const arms = (flag(args, 'arms') ?? 'iterative,streaming,pipelined').split(',') as Arm[];
  for (const a of arms) if (!Object.hasOwn(ARMS, a)) throw new Error(`--arms: unknown arm ${JSON.stringify(a)}; accepted: ${Object.keys(ARMS).join(', ')}`);
  const target = base.experiment.targetWinRate;
  await startBackend(base);
  await prepareArtifacts(base, (l) => console.error(l));
  const id = flag(args, 'id') ?? `pipeline-cluster-${Date.now().toString(36)}`;
  const outDir = join(base.run.dir, id);
  mkdirSync(outDir, { recursive: true });
  const rows: Row[] = [];
  const load0 = loadavg();
  for (const generators of generatorCounts) {
    for (let s = 0; s < seeds; s++) {
      // Arms rotate from seed to seed: a drift in the machine's load hits every arm.
      const order = arms.map((_, i) => arms[(i + s) % arms.length]!);
      for (const arm of order) {
        const { mode, phaseStart } = ARMS[arm];
        const run = { ...base.run, mode, dir: outDir, id: `${arm}-g${generators}-s${s}` };
        // As in the experiment: each mode gets experiment.evalsPerRun evaluations, which share the learner's cores.
        const everyVersions = base.experiment.evalsPerRun > 0 ? evalEvery({ ...base, run }, mode) : base.evaluator.everyVersions;
        const cfg: Config = {
          ...base,
          run,
          compute: { ...base.compute, seed: base.compute.seed + s },
          evaluator: { ...base.evaluator, everyVersions },
          learner: { ...base.learner, phaseStart },
          // Scored after the run, every version must still be stored then.
          ...(evalWhen === 'after' ? { bus: { ...base.bus, weightsKept: 1000 } } : {}),
        };
        const loads: number[] = [];
        const sampler = setInterval(() => loads.push(loadavg()[0]!), 2000);
        console.error(`-- ${cfg.run.id}`);
        let res;
        let points;
        // With --eval after, the run's own server outlives the run so that its versions can be scored.
        const server = evalWhen === 'after' ? await startNatsServer({ maxPayloadBytes: cfg.bus.maxPayloadBytes }) : undefined;
        try {
          try {
            res = await launchCluster(cfg, {
              generators,
              judges: 1,
              evaluator: evalWhen === 'during',
              statusLine: false,
              log: (l) => appendFileSync(join(outDir, `${cfg.run.id}.log`), l + '\n'),
              ...(placement ? { placement } : {}),
              ...(server ? { nats: [server.url] } : {}),
            });
          } finally {
            clearInterval(sampler);
          }
          points = server ? await evaluateAfterRun(cfg, [server.url], res.runId, res.startedAt, everyVersions) : evalPoints(res.summary.evals, res.startedAt);
        } finally {
          await server?.stop();
        }
        const sm = res.summary;
        const wall = sm.wallMs / 1000;
        const w = workSeconds(sm.metrics);
        const last = points.at(-1);
        const row: Row = {
          mode: arm,
          generators,
          seed: s,
          wall,
          train: res.end ? (res.end.ts - res.startedAt) / 1000 : Number.NaN,
          loop: res.end ? (res.end.ts - lastReady(res.runDir, res.startedAt)) / 1000 : Number.NaN,
          toTarget: secondsToTarget(points, target),
          gold: last?.goldReward ?? Number.NaN,
          winRate: last?.winRateVsSft ?? Number.NaN,
          samplesPerS: sm.samplesGenerated / wall,
          steps: sm.steps,
          version: sm.version,
          prompts: sm.promptsPublished,
          generate: w.generateSeconds / wall,
          judge: w.judgeSeconds / wall,
          learn: w.learnSeconds / wall,
          evaluate: w.evalSeconds / wall,
          load: mean(loads.length > 0 ? loads : [loadavg()[0]!]),
          busShare: res.headline.busCallShare ?? Number.NaN,
          placement: res.placement.describe,
        };
        rows.push(row);
        // Kept after every run: a later run failing (e.g. the shared cache rebuilt under it) loses nothing.
        writeFileSync(join(outDir, 'rows.json'), JSON.stringify(rows, null, 2) + '\n');
        console.error(`   ${arm}: ${f(wall)} s (run ended at ${f(row.train)} s), to win ${target}: ${row.toTarget === null ? 'not reached' : f(row.toTarget)} s, gold ${f(row.gold, 3)}, ${f(row.samplesPerS)} samples/s, load ${f(row.load, 2)}`);
      }
    }
  }
  const load1 = loadavg();
  console.log(`\ndisaggregated pipeline bench ${id} (${outDir}); ${cpus} cores; ${seeds} seed(s) per mode and generator count, alternating`);
  console.log(rows[0]?.placement ?? 'no runs');
  console.log(`load average: at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  console.log(
    evalWhen === 'after'
      ? '\nwall s: launch to every process gone; train s: launch to the learner ending the run; loop s: every actor ready to that end; evaluations scored after the run, timed at each version\'s publication'
      : '\nwall s: launch to every process gone (final evaluation included); train s: launch to the learner ending the run; loop s: every actor ready to that end',
  );
  console.log(`gens  mode        wall s  train s  loop s  to win>=${target} s  gold    win   samples/s  steps  prompts  generate  judge  learn  evaluate  load  bus calls`);
  for (const r of rows) {
    console.log(
      `${String(r.generators).padStart(4)}  ${r.mode.padEnd(10)} ${f(r.wall).padStart(7)} ${f(r.train).padStart(8)} ${f(r.loop).padStart(7)} ${(r.toTarget === null ? 'not reached' : f(r.toTarget)).padStart(14)}  ${f(r.gold, 3).padStart(6)} ${f(r.winRate, 2).padStart(5)} ` +
        `${f(r.samplesPerS).padStart(10)} ${String(r.steps).padStart(6)} ${String(r.prompts).padStart(8)} ${f(r.generate, 2).padStart(9)} ${f(r.judge, 2).padStart(6)} ${f(r.learn, 2).padStart(6)} ${f(r.evaluate, 2).padStart(9)} ${f(r.load, 1).padStart(5)} ${(f(100 * r.busShare, 1) + '%').padStart(10)}`,
    );
  }
  console.log('');
  for (const g of generatorCounts) {
    const of = (mode: string): Row[] => rows.filter((r) => r.generators === g && r.mode === mode);
    const st = of('streaming');
    if (st.length === 0) continue;
    for (const other of arms.filter((a) => a !== 'streaming')) {
      const it = of(other);
      if (it.length === 0) continue;
      const reachedBoth = st.every((r) => r.toTarget !== null) && it.every((r) => r.toTarget !== null);
      const tt = reachedBoth ? f(mean(it.map((r) => r.toTarget!)) / mean(st.map((r) => r.toTarget!)), 2) + 'x' : 'n/a (not every run reached it)';
      console.log(
        `${g} generator process(es): streaming vs ${other} wall-clock ${f(mean(it.map((r) => r.wall)) / mean(st.map((r) => r.wall)), 2)}x faster ` +
          `(to the run's end ${f(mean(it.map((r) => r.train)) / mean(st.map((r) => r.train)), 2)}x, online loop without start-up ${f(mean(it.map((r) => r.loop)) / mean(st.map((r) => r.loop)), 2)}x), time to win rate ${target} ${tt}, ` +
          `final gold ${f(mean(st.map((r) => r.gold)), 3)} vs ${f(mean(it.map((r) => r.gold)), 3)}, samples/s ${f(mean(st.map((r) => r.samplesPerS)))} vs ${f(mean(it.map((r) => r.samplesPerS)))}`,
      );
    }
  }
}

await main();
