// The experiment: cached stages once, then every (arm, seed) run through the online stage, then results.md/json and plots.
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { parseConfig, type Config } from '../config/index.js';
import { buildData } from '../data/build.js';
import { runOnline } from '../run/online.js';
import { ensureRewardModel, ensureSft, type RmKind, type StageResult } from '../train/stages.js';
import { CpuSampler } from './cpu_sampler.js';
import { armConfig, planArms } from './plan.js';
import { renderMarkdown, renderPlots, type ReportContext, type StageInfo } from './report.js';
import { aggregate, armRun, workSeconds, type ArmAggregate, type ArmRun } from './results.js';

export interface ExperimentOptions {
  /** The config file named on the command line, quoted in results.md. */
  configPath?: string;
  /** Experiment id (default: from run.id, else the time). */
  id?: string;
  log?: (line: string) => void;
  /** Aborting stops the arm in flight; the results written so far stay. */
  signal?: AbortSignal;
}

export interface ExperimentResult {
  id: string;
  dir: string;
  runs: ArmRun[];
  aggregates: ArmAggregate[];
  resultsMd: string;
  resultsJson: string;
  plots: string[];
  /** Where results.md was copied (docsDir), if it was. */
  docsMd?: string;
  wallSeconds: number;
}

export const RESULTS_MD = 'results.md';
export const RESULTS_JSON = 'results.json';
export const PLOTS_DIR = 'plots';

export function defaultExperimentId(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

function num(summary: Record<string, unknown>, key: string): number {
  const v = summary[key];
  return typeof v === 'number' ? v : Number.NaN;
}

function rmInfo(r: StageResult): StageInfo['rm'][string] {
  const s = r.summary;
  return {
    dir: r.dir,
    hash: r.hash,
    heldOutAccuracy: num(s, 'heldOutAccuracy'),
    hardHalfAccuracy: num(s, 'hardHalfAccuracy'),
    initHeldOutAccuracy: num(s, 'initHeldOutAccuracy'),
    trainPairs: num(s, 'trainPairs'),
    heldOutPairs: num(s, 'heldOutPairs'),
  };
}

function machine(): string {
  const c = cpus();
  return `${c.length} core${c.length === 1 ? '' : 's'} (${c[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.versions.node}`;
}

/** Writes results.json, results.md and the plots into `dir` (and the docs copy when asked); returns their paths. */
function writeOutputs(ctx: ReportContext, dir: string, docsDir: string): Pick<ExperimentResult, 'resultsMd' | 'resultsJson' | 'plots' | 'docsMd'> {
  const plots = renderPlots(ctx);
  const plotsDir = join(dir, PLOTS_DIR);
  mkdirSync(plotsDir, { recursive: true });
  for (const [name, svg] of Object.entries(plots)) writeFileSync(join(plotsDir, name), svg);
  const names = Object.keys(plots);
  const resultsMd = join(dir, RESULTS_MD);
  writeFileSync(resultsMd, renderMarkdown(ctx, PLOTS_DIR, names));
  const resultsJson = join(dir, RESULTS_JSON);
  const { cfg, ...rest } = ctx;
  writeFileSync(resultsJson, JSON.stringify({ ...rest, config: cfg, aggregates: aggregate(ctx.runs) }, null, 2));
  let docsMd: string | undefined;
  if (docsDir) {
    const docsPlots = join(docsDir, 'results');
    mkdirSync(docsPlots, { recursive: true });
    for (const n of names) copyFileSync(join(plotsDir, n), join(docsPlots, n));
    docsMd = join(docsDir, RESULTS_MD);
    writeFileSync(docsMd, renderMarkdown(ctx, 'results', names));
  }
  return { resultsMd, resultsJson, plots: names.map((n) => join(plotsDir, n)), docsMd };
}

/**
 * Builds (or reuses) data, SFT and the proxy models from `cfg` (its compute.seed), then runs every planned arm in turn
 * on the same stages, each with its own online seed, sampling /proc/stat meanwhile. Results are rewritten after every
 * run, so a stopped experiment still leaves tables for the runs that finished.
 */
export async function runExperiment(cfg: Config, opts: ExperimentOptions = {}): Promise<ExperimentResult> {
  const t0 = performance.now();
  const id = opts.id ?? (cfg.run.id || defaultExperimentId());
  const dir = join(cfg.run.dir, `experiment-${id}`);
  const armsDir = join(dir, 'arms');
  mkdirSync(armsDir, { recursive: true });
  const logFile = join(dir, 'experiment.log');
  const say = opts.log ?? ((l: string) => console.error(l));
  const log = (line: string): void => {
    appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
    say(line);
  };
  const plan = planArms(cfg);
  log(`experiment ${id}: ${plan.length} runs (${[...new Set(plan.map((p) => p.arm))].join(', ')}); outputs in ${dir}`);

  const stagesT0 = performance.now();
  const data = await buildData(cfg, { log });
  const sft = await ensureSft(cfg, { log, data, signal: opts.signal });
  const kinds: RmKind[] = cfg.experiment.rmAblation ? ['bt', 'pairwise'] : ['bt'];
  const rms: Partial<Record<RmKind, StageResult>> = {};
  for (const k of kinds) rms[k] = await ensureRewardModel(cfg, k, { log, data, sft, signal: opts.signal });
  const stages: StageInfo = {
    sftDir: sft.dir,
    sftHash: sft.hash,
    rm: Object.fromEntries(Object.entries(rms).map(([k, r]) => [k, rmInfo(r)])),
    seconds: (performance.now() - stagesT0) / 1000,
  };
  for (const [k, r] of Object.entries(stages.rm)) log(`proxy ${k}: held-out accuracy ${r.heldOutAccuracy.toFixed(3)} (hard half ${r.hardHalfAccuracy.toFixed(3)})`);

  const runs: ArmRun[] = [];
  const context = (): ReportContext => ({
    id,
    configPath: opts.configPath ?? '(in-process config)',
    cfg,
    stages,
    runs,
    planned: plan.length,
    wallSeconds: (performance.now() - t0) / 1000,
    machine: machine(),
    generatedAt: new Date().toISOString(),
  });
  let out = writeOutputs(context(), dir, '');
  for (const [i, s] of plan.entries()) {
    if (opts.signal?.aborted) break;
    const acfg = armConfig(cfg, s, armsDir);
    log(`run ${i + 1}/${plan.length}: ${s.id} (mode ${s.mode}, seed ${s.seed}, proxy ${s.rmKind}, length penalty ${s.lengthPenalty})`);
    const sampler = new CpuSampler(cfg.experiment.cpuSampleMs);
    sampler.start();
    let res;
    let cpu;
    try {
      res = await runOnline(acfg, { log: (l) => log(`  [${s.id}] ${l}`), statusLine: false, dashboard: false, signal: opts.signal, stages: { sftDir: sft.dir, rmDir: rms[s.rmKind]!.dir } });
    } finally {
      cpu = sampler.stop();
    }
    // summary.json is written as the cluster finishes (before ports and workers close), wallMs after the cluster started.
    const startMs = statSync(join(res.runDir, 'summary.json')).mtimeMs - res.summary.wallMs;
    const run = armRun(s, relative(dir, res.runDir), res.summary, startMs, cpu, cfg.experiment.targetWinRate);
    runs.push(run);
    log(
      `run ${s.id} done: ${run.wallSeconds.toFixed(1)} s, ${run.steps} steps, gold ${run.goldReward.toFixed(3)} (SFT ${run.sftGoldReward.toFixed(3)}), ` +
        `win rate ${run.winRateVsSft.toFixed(3)}, KL ${run.kl.toFixed(3)}, ${run.responseTokens.toFixed(1)} tokens, cores busy ${run.coreBusy.map((b) => b.toFixed(2)).join('/')}`,
    );
    out = writeOutputs(context(), dir, '');
  }
  const ctx = context();
  out = writeOutputs(ctx, dir, cfg.experiment.docsDir);
  log(`experiment ${id} finished: ${runs.length}/${plan.length} runs in ${(ctx.wallSeconds / 60).toFixed(1)} min; ${out.resultsMd}${out.docsMd ? ` (copied to ${out.docsMd})` : ''}`);
  return { id, dir, runs, aggregates: aggregate(runs), ...out, wallSeconds: ctx.wallSeconds };
}

export class ExperimentReportError extends Error {
  override name = 'ExperimentReportError';
}

/**
 * Writes results.md, results.json and the plots of a finished experiment folder again from its results.json (and each
 * run's summary.json for figures an older results.json lacks), with the docs copy its config asks for. For report
 * changes after a long run: the numbers come from the run's own records.
 */
export function rerenderExperiment(dir: string): ExperimentResult {
  const path = join(dir, RESULTS_JSON);
  let saved: Omit<ReportContext, 'cfg'> & { config: unknown };
  try {
    saved = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ExperimentReportError(`cannot read ${path} (the folder of a finished experiment holds it): ${(err as Error).message}`);
  }
  const cfg = parseConfig(saved.config);
  const runs = saved.runs.map((r): ArmRun => {
    if (typeof r.generateSeconds === 'number') return r;
    const summary = JSON.parse(readFileSync(join(dir, r.dir, 'summary.json'), 'utf8')) as { summary: { metrics: Record<string, Record<string, number>> } };
    return { ...r, ...workSeconds(summary.summary.metrics) };
  });
  const { config: _config, ...rest } = saved;
  const ctx: ReportContext = { ...rest, cfg, runs };
  const out = writeOutputs(ctx, dir, cfg.experiment.docsDir);
  return { id: ctx.id, dir, runs, aggregates: aggregate(runs), ...out, wallSeconds: ctx.wallSeconds };
}
