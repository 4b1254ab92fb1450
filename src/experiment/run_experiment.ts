// The experiment: cached stages once, then every (arm, seed) run through the online stage, then results.md/json and plots.
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { parseConfig, redactSecrets, type Config } from '../config/index.js';
import { buildData } from '../data/build.js';
import { adversarialSummary } from '../gold/adversarial.js';
import { createGoldJudge, taskAgreement } from '../gold/index.js';
import { runOnline } from '../run/online.js';
import { ensureRewardModel, ensureSft, type RmKind, type StageResult } from '../train/stages.js';
import { CpuSampler } from './cpu_sampler.js';
import { armConfig, planArms } from './plan.js';
import { renderMarkdown, renderPlots, type GoldJudgeCheck, type ReportContext, type StageInfo } from './report.js';
import { EXAMPLE_PROMPTS } from '../monitor/report_responses.js';
import { promptEvals, runExamples } from './frontier.js';
import { aggregate, armRun, workSeconds, type ArmAggregate, type ArmRun } from './results.js';
import { experimentTasks, withTask, writeTaskIndex, type TaskResult } from './tasks_index.js';

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

/** Where a task's docs copy goes: results.md and results/ for a single task, results-<task>.md and results/<task>/ for several. */
export interface DocsTarget {
  dir: string;
  md: string;
  plots: string;
}

export function docsTarget(cfg: Config, task?: string): DocsTarget | undefined {
  const d = cfg.experiment.docsDir;
  if (!d) return undefined;
  return task ? { dir: d, md: `results-${task}.md`, plots: `results/${task}` } : { dir: d, md: RESULTS_MD, plots: 'results' };
}

/** Writes results.json, results.md and the plots into `dir` (and the docs copy when asked); returns their paths. */
function writeOutputs(ctx: ReportContext, dir: string, docs: DocsTarget | undefined): Pick<ExperimentResult, 'resultsMd' | 'resultsJson' | 'plots' | 'docsMd'> {
  const plots = renderPlots(ctx);
  const plotsDir = join(dir, PLOTS_DIR);
  mkdirSync(plotsDir, { recursive: true });
  for (const [name, svg] of Object.entries(plots)) writeFileSync(join(plotsDir, name), svg);
  const names = Object.keys(plots);
  const resultsMd = join(dir, RESULTS_MD);
  writeFileSync(resultsMd, renderMarkdown(ctx, PLOTS_DIR, names));
  const resultsJson = join(dir, RESULTS_JSON);
  const { cfg, ...rest } = ctx;
  writeFileSync(resultsJson, JSON.stringify({ ...rest, config: redactSecrets(cfg).cfg, aggregates: aggregate(ctx.runs) }, null, 2));
  let docsMd: string | undefined;
  if (docs) {
    const docsPlots = join(docs.dir, docs.plots);
    mkdirSync(docsPlots, { recursive: true });
    for (const n of names) copyFileSync(join(plotsDir, n), join(docsPlots, n));
    docsMd = join(docs.dir, docs.md);
    writeFileSync(docsMd, renderMarkdown(ctx, docs.plots, names));
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
  const tasks = experimentTasks(cfg);
  if (tasks.length === 1) return failIfAnyFailed(await runTask(withTask(cfg, tasks[0]!), dir, id, docsTarget(cfg), opts), [tasks[0]!]);
  const done: TaskResult[] = [];
  const index = (): ExperimentResult => writeTaskIndex(cfg, dir, id, done, (performance.now() - t0) / 1000, opts.configPath ?? '(in-process config)');
  for (const task of tasks) {
    if (opts.signal?.aborted) break;
    const res = await runTask(withTask(cfg, task), join(dir, task), id, docsTarget(cfg, task), opts);
    done.push({ task, result: res, ctx: res.context });
    index();
  }
  return failIfAnyFailed(index(), done.map((t) => t.task), done.flatMap((t) => t.ctx.failed ?? []));
}

export class ExperimentError extends Error {
  override name = 'ExperimentError';
}

/** After every output is written: an experiment with a failed run ends in an error that names it (so the exit code says so). */
function failIfAnyFailed<R extends ExperimentResult>(r: R & { context?: ReportContext }, tasks: string[], failures = r.context?.failed ?? []): R {
  if (failures.length > 0) {
    throw new ExperimentError(`${failures.length} run(s) of task(s) ${tasks.join(', ')} failed (${failures.map((f) => `${f.id}: ${f.error}`).join('; ')}); the other runs' results are in ${r.resultsMd}`);
  }
  return r;
}

/** One task's experiment: its stages, every planned arm, and its results.md in `dir`. */
async function runTask(cfg: Config, dir: string, id: string, docs: DocsTarget | undefined, opts: ExperimentOptions): Promise<ExperimentResult & { context: ReportContext }> {
  const t0 = performance.now();
  const armsDir = join(dir, 'arms');
  mkdirSync(armsDir, { recursive: true });
  const logFile = join(dir, 'experiment.log');
  const say = opts.log ?? ((l: string) => console.error(l));
  const log = (line: string): void => {
    appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
    say(line);
  };
  const plan = planArms(cfg);
  log(`experiment ${id}, task ${cfg.data.task}: ${plan.length} runs (${[...new Set(plan.map((p) => p.arm))].join(', ')}); outputs in ${dir}`);

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
  const goldJudge = cfg.experiment.judgeCheckPrompts > 0 ? await checkGoldJudge(cfg, log) : undefined;

  const runs: ArmRun[] = [];
  const failed: { id: string; error: string }[] = [];
  const context = (): ReportContext => ({
    failed,
    id,
    configPath: opts.configPath ?? '(in-process config)',
    cfg,
    stages,
    runs,
    planned: plan.length,
    wallSeconds: (performance.now() - t0) / 1000,
    machine: machine(),
    generatedAt: new Date().toISOString(),
    goldJudge,
  });
  let out = writeOutputs(context(), dir, undefined);
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
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // One failed run must not cost the rest of a long experiment: it is logged, listed in results.md, and the experiment exits non-zero.
      failed.push({ id: s.id, error: (err as Error).message });
      log(`run ${s.id} FAILED: ${(err as Error).stack ?? String(err)}; going on with the next run`);
      out = writeOutputs(context(), dir, undefined);
      continue;
    } finally {
      cpu = sampler.stop();
    }
    // summary.json is written as the cluster finishes (before ports and workers close), wallMs after the cluster started.
    const startMs = statSync(join(res.runDir, 'summary.json')).mtimeMs - res.summary.wallMs;
    const run = { ...armRun(s, relative(dir, res.runDir), res.summary, startMs, cpu, cfg.experiment.targetWinRate, promptEvals(res.runDir)), examples: runExamples(res.runDir, EXAMPLE_PROMPTS), task: cfg.data.task };
    runs.push(run);
    log(
      `run ${s.id} done: ${run.wallSeconds.toFixed(1)} s, ${run.steps} steps, gold ${run.goldReward.toFixed(3)} (SFT ${run.sftGoldReward.toFixed(3)}), ` +
        `win rate ${run.winRateVsSft.toFixed(3)}, KL ${run.kl.toFixed(3)}, ${run.responseTokens.toFixed(1)} tokens, cores busy ${run.coreBusy.map((b) => b.toFixed(2)).join('/')}`,
    );
    out = writeOutputs(context(), dir, undefined);
  }
  const ctx = context();
  out = writeOutputs(ctx, dir, docs);
  log(`experiment ${id} finished: ${runs.length}/${plan.length} runs in ${(ctx.wallSeconds / 60).toFixed(1)} min; ${out.resultsMd}${out.docsMd ? ` (copied to ${out.docsMd})` : ''}`);
  return { id, dir, runs, aggregates: aggregate(runs), ...out, wallSeconds: ctx.wallSeconds, context: ctx };
}

/** The gold judge every arm is scored by, checked once per task: agreement with the task's human pairs, adversarial suite. */
async function checkGoldJudge(cfg: Config, log: (line: string) => void): Promise<GoldJudgeCheck> {
  const judge = await createGoldJudge(cfg.data.task, { cacheDir: cfg.run.cacheDir, log });
  try {
    const agreement = (await taskAgreement(judge)).map(({ file, agreed, pairs }) => ({ file, agreed, pairs }));
    const { realMedian, rows } = await adversarialSummary(judge, cfg.experiment.judgeCheckPrompts);
    log(`gold judge ${cfg.data.task}: agrees with people on ${agreement.map((a) => `${a.agreed}/${a.pairs} (${a.file})`).join(', ')}`);
    return { task: cfg.data.task, agreement, realMedian, adversarial: rows };
  } finally {
    await judge.close();
  }
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
  if (!Array.isArray((saved as { runs?: unknown }).runs)) {
    throw new ExperimentReportError(`${path} indexes several tasks; re-render each task's folder (${dir}/<task>) instead`);
  }
  const cfg = parseConfig(saved.config);
  const runs = saved.runs.map((r): ArmRun => {
    if (typeof r.generateSeconds === 'number') return r;
    const summary = JSON.parse(readFileSync(join(dir, r.dir, 'summary.json'), 'utf8')) as { summary: { metrics: Record<string, Record<string, number>> } };
    return { ...r, ...workSeconds(summary.summary.metrics) };
  });
  const { config: _config, ...rest } = saved;
  const ctx: ReportContext = { ...rest, cfg, runs };
  const multi = experimentTasks(cfg).length > 1;
  const out = writeOutputs(ctx, dir, docsTarget(cfg, multi ? cfg.data.task : undefined));
  return { id: ctx.id, dir, runs, aggregates: aggregate(runs), ...out, wallSeconds: ctx.wallSeconds };
}
