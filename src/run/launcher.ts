// Launches a multi-process run: prepares the artefacts, starts nats-server if needed, supervises one process per actor.
import { policyVocabSize } from './artifacts.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ClusterSummary } from './local_cluster.js';
import type { EvalReport } from '../actors/evaluator.js';
import type { Config } from '../config/index.js';
import { buildData } from '../data/build.js';
import { attachMonitor, startMonitor } from '../monitor/index.js';
import { NatsBus } from '../streams/nats/bus.js';
import { startNatsServer, type NatsServerHandle } from '../streams/nats/server.js';
import { ensureRewardModel, ensureSft } from '../train/stages.js';
import type { ActorRecord, ActorRole } from './actor_process.js';
import { actorsDir, runDirOf } from './run_dir.js';
import { defaultRunId, headlineOf, type Headline } from './online.js';
import { RunControl, type RunEnd } from './run_control.js';

export class LauncherError extends Error {
  override name = 'LauncherError';
}

export interface LaunchOptions {
  /** NATS server URLs of a running server; without them the launcher starts its own (storage under the run folder). */
  nats?: string[];
  generators: number;
  judges: number;
  /** Start the evaluator process (default true). */
  evaluator?: boolean;
  /** Serve the live dashboard (overrides monitor.dashboard). */
  dashboard?: boolean;
  /** The live status line on stderr (default true). */
  statusLine?: boolean;
  /** Times one actor is restarted after it crashed (exit code not 0, or killed) before the launcher gives up on it. */
  maxRestarts?: number;
  /** How long actors get to exit by themselves after the run ended, before SIGTERM (then SIGKILL after as long again). */
  stopGraceMs?: number;
  /** Aborting stops the run: every actor drains (the learner checkpoints), then the launcher returns. */
  signal?: AbortSignal;
  log?: (line: string) => void;
  onDashboard?: (url: string) => void;
}

export interface LaunchResult {
  runId: string;
  runDir: string;
  natsUrl: string;
  /** Undefined when the run was stopped before the learner ended it. */
  end: RunEnd | undefined;
  summary: ClusterSummary;
  headline: Headline;
  /** Restarts after crashes, by actor id. */
  restarts: Record<string, number>;
}

interface ActorSpec {
  id: string;
  role: ActorRole;
}

/** The compiled CLI entry next to this file, which every actor process runs. */
const CLI_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export function actorSpecs(generators: number, judges: number, evaluator: boolean): ActorSpec[] {
  // The learner first: it restores its checkpoint and opens the pairs consumer before pairs arrive; the source last.
  return [
    { id: 'learner', role: 'learner' },
    ...Array.from({ length: judges }, (_, i): ActorSpec => ({ id: `judge-${i}`, role: 'judge' })),
    ...Array.from({ length: generators }, (_, i): ActorSpec => ({ id: `generator-${i}`, role: 'generator' })),
    ...(evaluator ? [{ id: 'evaluator', role: 'evaluator' } as ActorSpec] : []),
    { id: 'source', role: 'source' },
  ];
}

/** Builds (or reuses) data, SFT and the proxy model: actor processes only load them. */
export async function prepareArtefacts(cfg: Config, log: (line: string) => void, signal?: AbortSignal): Promise<{ vocabSize: number }> {
  const data = await buildData(cfg, { log });
  const sft = await ensureSft(cfg, { log, data, signal });
  const rm = await ensureRewardModel(cfg, cfg.rm.kind, { log, data, sft, signal });
  if (sft.reused && rm.reused && data.reused) log('cached data, SFT and reward model reused');
  return { vocabSize: policyVocabSize(sft.dir) };
}

/** One supervised actor process; restarted after a crash, left alone after a clean exit. */
class Supervised {
  proc: ChildProcess | undefined;
  restarts = 0;
  /** Set once it exits for good: cleanly, or crashed past the restart limit. */
  gone: 'exited' | 'failed' | undefined;
  private exitWaiters: (() => void)[] = [];

  constructor(
    readonly spec: ActorSpec,
    private readonly args: string[],
    private readonly log: (line: string) => void,
    private readonly onExit: (s: Supervised, code: number | null, signal: NodeJS.Signals | null) => Promise<void>,
  ) {}

  start(): void {
    const proc = spawn(process.execPath, [CLI_MAIN, 'actor', this.spec.role, ...this.args, '--id', this.spec.id], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const prefix = `${this.spec.id} |`;
    for (const stream of [proc.stdout, proc.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.log(`${prefix} ${line}`));
    }
    proc.once('error', (err) => this.log(`${this.spec.id}: cannot start its process: ${err.message}`));
    proc.once('exit', (code, signal) => {
      this.proc = undefined;
      void this.onExit(this, code, signal).finally(() => {
        const ws = this.exitWaiters;
        this.exitWaiters = [];
        ws.forEach((w) => w());
      });
    });
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Resolves once the current process (if any) exited. */
  exited(): Promise<void> {
    if (!this.proc) return Promise.resolve();
    return new Promise((r) => this.exitWaiters.push(r));
  }

  kill(signal: NodeJS.Signals): void {
    this.proc?.kill(signal);
  }
}

const sumBy = (records: readonly ActorRecord[], name: string): number => records.reduce((s, r) => s + (r.metrics[name] ?? 0), 0);

/**
 * The run's summary from the records actor processes wrote on exit since `since` (this launch: a continued run's earlier
 * sessions do not count towards its rates); a restarted actor's incarnations all count.
 */
export function summarizeRecords(runDir: string, mode: ClusterSummary['mode'], since: number, wallMs: number, end: RunEnd | undefined): ClusterSummary {
  const dir = actorsDir(runDir);
  const records: ActorRecord[] = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ActorRecord)
        .filter((r) => r.startedAt >= since)
        .sort((a, b) => a.startedAt - b.startedAt)
    : [];
  const metrics: Record<string, Record<string, number>> = {};
  for (const r of records) {
    let key = r.actorId;
    for (let n = 2; metrics[key]; n++) key = `${r.actorId}#${n}`;
    metrics[key] = r.metrics;
  }
  const learners = records.filter((r) => r.role === 'learner');
  const last = learners.at(-1);
  const evals: EvalReport[] = records.filter((r) => r.role === 'evaluator').flatMap((r) => r.evals ?? []);
  return {
    mode,
    steps: end?.steps ?? last?.steps ?? 0,
    version: end?.version ?? last?.version ?? 0,
    promptsPublished: sumBy(records, 'source_prompts_total'),
    samplesGenerated: sumBy(records, 'generator_samples_total'),
    samplesScored: sumBy(records, 'judge_samples_scored_total'),
    pairs: sumBy(records, 'judge_pairs_total'),
    ties: sumBy(records, 'judge_ties_total'),
    pairsTrained: sumBy(records, 'learner_pairs_trained_total'),
    pairsDroppedStale: sumBy(records, 'learner_pairs_stale_dropped_total'),
    pairsDownweighted: sumBy(records, 'learner_pairs_downweighted_total'),
    evals,
    wallMs,
    metrics,
  };
}

/** Runs the whole run as separate processes and returns when the learner ended it (or the signal stopped it). */
export async function launchCluster(cfg: Config, opts: LaunchOptions): Promise<LaunchResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  if (cfg.run.mode !== 'streaming') throw new LauncherError(`cluster runs streaming mode only; got run.mode ${cfg.run.mode} (use \`rlhf-stream run\` for it)`);
  const { vocabSize } = await prepareArtefacts(cfg, log, opts.signal);
  if (opts.signal?.aborted) throw new LauncherError('stopped while preparing the artefacts');

  const runId = cfg.run.id || defaultRunId();
  const runDir = runDirOf(cfg, runId);
  mkdirSync(runDir, { recursive: true });
  let server: NatsServerHandle | undefined;
  if (!opts.nats || opts.nats.length === 0) {
    server = await startNatsServer({ storeDir: join(runDir, 'nats'), maxPayloadBytes: cfg.bus.maxPayloadBytes, auth: natsAuth(cfg) });
    log(`nats-server started at ${server.url} (JetStream storage in ${server.storeDir})`);
  }
  const servers = server ? [server.url] : opts.nats!;
  // What every actor process loads: the resolved config, so all of them agree on every setting.
  const childCfg: Config = {
    ...cfg,
    bus: { ...cfg.bus, kind: 'nats', servers },
    run: { ...cfg.run, id: runId },
    generator: { ...cfg.generator, count: opts.generators },
    judge: { ...cfg.judge, count: opts.judges },
  };
  const configFile = join(runDir, 'config.json');
  writeFileSync(configFile, JSON.stringify(childCfg, null, 2) + '\n');

  const t0 = Date.now();
  let bus: NatsBus | undefined;
  let monitor: { stop(): Promise<void> } | undefined;
  const children: Supervised[] = [];
  try {
    bus = await NatsBus.connect(childCfg.bus, runId, { schema: { vocabSize }, log });
    const control = await RunControl.open(bus);
    const before = await control.end();
    if (before) throw new LauncherError(`run ${runId} already ended (${before.reason}, ${before.steps} steps); choose another run.id`);

    // On by default, as for `run`: redrawn in place on a terminal, a plain line every monitor.statusEveryMs otherwise.
    const statusLine = opts.statusLine === false ? false : process.stderr;
    // Child lines clear the status line first, so they do not print over it.
    const say = statusLine && process.stderr.isTTY ? (l: string) => process.stderr.write(`\r\x1b[K${l}\n`) : log;
    if (opts.dashboard ?? cfg.monitor.dashboard) {
      const m = await startMonitor(bus, cfg, { runDir, statusLine, log: say });
      say(`dashboard: ${m.url}`);
      opts.onDashboard?.(m.url);
      monitor = m;
    } else {
      monitor = await attachMonitor(bus, cfg, { runDir, statusLine, log: say });
    }

    const maxRestarts = opts.maxRestarts ?? 3;
    let ended: RunEnd | undefined;
    let stopping = false;
    let fatal: LauncherError | undefined;
    const wake = new AbortController();
    const writeProcesses = (): void => {
      const table = Object.fromEntries(children.map((c) => [c.spec.id, { role: c.spec.role, pid: c.proc?.pid ?? null, restarts: c.restarts, gone: c.gone ?? null }]));
      writeFileSync(join(runDir, 'processes.json'), JSON.stringify(table, null, 2) + '\n');
    };
    const onExit = async (c: Supervised, code: number | null, signal: NodeJS.Signals | null): Promise<void> => {
      const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
      // Actors exit by themselves once the learner wrote the end, which this process may not have polled yet.
      if (code === 0 && !ended && !stopping) ended = await control.end().catch(() => undefined);
      if (ended || stopping) {
        c.gone = 'exited';
      } else if (code === 0 && c.spec.role !== 'learner' && c.spec.role !== 'source') {
        // A clean exit mid-run is an actor taken out on purpose (SIGTERM): the others carry on without it. The run
        // cannot end without its learner and source, so those come back whatever stopped them.
        say(`${c.spec.id} ${how} before the end of the run; carrying on without it`);
        c.gone = 'exited';
      } else if (c.restarts < maxRestarts) {
        c.restarts++;
        say(`${c.spec.id} ${how}; restarting it (${c.restarts}/${maxRestarts})`);
        c.start();
      } else {
        c.gone = 'failed';
        say(`${c.spec.id} ${how}; restarted ${maxRestarts} times already, giving up on it`);
        const peers = children.filter((x) => x.spec.role === c.spec.role && x.gone !== 'failed');
        if (c.spec.role === 'learner' || c.spec.role === 'source' || peers.length === 0) {
          fatal = new LauncherError(`the run cannot go on: ${c.spec.id} keeps failing (${how})`);
          wake.abort();
        }
      }
      writeProcesses();
    };
    const args = ['--config', configFile, '--nats', servers.join(','), '--run', runId];
    for (const spec of actorSpecs(opts.generators, opts.judges, opts.evaluator ?? true)) {
      const c = new Supervised(spec, args, say, onExit);
      children.push(c);
      c.start();
    }
    writeProcesses();
    say(`launched ${children.length} actor processes for run ${runId} (${opts.generators} generators, ${opts.judges} judges); outputs in ${runDir}`);

    const onAbort = (): void => wake.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) wake.abort();
    ended = await control.waitEnd(wake.signal);
    opts.signal?.removeEventListener('abort', onAbort);
    stopping = true;
    if (ended) say(`run ended (${ended.reason}): ${ended.steps} steps, version ${ended.version}; waiting for the actors to exit`);
    else say(fatal ? fatal.message : 'stopping: every actor drains, the learner checkpoints');
    if (!ended) children.forEach((c) => c.kill('SIGTERM'));
    await stopAll(children, opts.stopGraceMs ?? 30_000, say);
    writeProcesses();
    if (fatal) throw fatal;

    await monitor.stop();
    monitor = undefined;
    const summary = summarizeRecords(runDir, cfg.run.mode, t0, Date.now() - t0, ended);
    const headline = headlineOf(summary);
    const restarts = Object.fromEntries(children.filter((c) => c.restarts > 0).map((c) => [c.spec.id, c.restarts]));
    writeFileSync(join(runDir, 'summary.json'), JSON.stringify({ runId, end: ended ?? null, restarts, headline, summary }, null, 2) + '\n');
    return { runId, runDir, natsUrl: servers.join(','), end: ended, summary, headline, restarts };
  } finally {
    if (children.some((c) => c.running)) {
      children.forEach((c) => c.kill('SIGTERM'));
      await stopAll(children, opts.stopGraceMs ?? 30_000, log);
    }
    await monitor?.stop().catch((err: unknown) => log(`monitor: ${(err as Error).message}`));
    await bus?.close();
    await server?.stop();
  }
}

/** Waits for every actor to exit; SIGTERM after `graceMs`, SIGKILL after as long again. */
async function stopAll(children: readonly Supervised[], graceMs: number, log: (line: string) => void): Promise<void> {
  const all = Promise.all(children.map((c) => c.exited()));
  const wait = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      void all.then(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  if (await wait(graceMs)) return;
  const late = children.filter((c) => c.running);
  log(`sending SIGTERM to ${late.map((c) => c.spec.id).join(', ')}: still running ${graceMs} ms after the end`);
  late.forEach((c) => c.kill('SIGTERM'));
  if (await wait(graceMs)) return;
  children.filter((c) => c.running).forEach((c) => c.kill('SIGKILL'));
  await all;
}

function natsAuth(cfg: Config): { token?: string; user?: string; pass?: string } | undefined {
  if (cfg.bus.token) return { token: cfg.bus.token };
  if (cfg.bus.user) return { user: cfg.bus.user, pass: cfg.bus.pass };
  return undefined;
}
