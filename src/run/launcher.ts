// Launches a multi-process run: prepares the artifacts, starts nats-server if needed, supervises one process per actor.
import { mkdirSync, writeFileSync } from 'node:fs';
import { policyVocabSize } from './artifacts.js';
import { join } from 'node:path';
import type { ClusterSummary } from './local_cluster.js';
import { redactSecrets, type Config } from '../config/index.js';
import { buildData } from '../data/build.js';
import { attachMonitor, startMonitor, type MetricsAggregator } from '../monitor/index.js';
import { NatsBus } from '../streams/nats/bus.js';
import { startNatsServer, type NatsServerHandle } from '../streams/nats/server.js';
import { ensureRewardModel, ensureSft } from '../train/stages.js';
import { summarizeRecords } from './records.js';
import { ledgerFile, runDirOf } from './run_dir.js';
import { readLedger } from './trained_ledger.js';
import { defaultRunId, headlineOf, type Headline } from './online.js';
import { decideOnExit } from './restart_policy.js';
import { NatsRunControl, type RunEnd } from './run_control.js';
import { publishRunInfo } from './run_info.js';
import { ensureRunConsumers } from './run_consumers.js';
import { actorSpecs, stopAll, Supervised } from './supervised.js';
import { planPlacement, tasksetAvailable, type PlacementPlan, type PlacementSpec } from './placement.js';
import { ACTOR_ROLES, type ActorRole } from './actor_process.js';

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
  /** Cores per role (`--placement`); roles left out run on every core. */
  placement?: PlacementSpec;
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
  placement: PlacementPlan;
  /** When the actors were launched (ms since the epoch): the summary's wall-clock and the evaluations count from here. */
  startedAt: number;
}

/** Builds (or reuses) data, SFT and the proxy model: actor processes only load them. */
export async function prepareArtifacts(cfg: Config, log: (line: string) => void, signal?: AbortSignal): Promise<{ vocabSize: number; sftDir: string }> {
  const data = await buildData(cfg, { log });
  const sft = await ensureSft(cfg, { log, data, signal });
  const rm = await ensureRewardModel(cfg, cfg.rm.kind, { log, data, sft, signal });
  if (sft.reused && rm.reused && data.reused) log('cached data, SFT and reward model reused');
  return { vocabSize: policyVocabSize(sft.dir), sftDir: sft.dir };
}

/** Runs the whole run as separate processes and returns when the learner ended it (or the signal stopped it). */
export async function launchCluster(cfg: Config, opts: LaunchOptions): Promise<LaunchResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const { vocabSize, sftDir } = await prepareArtifacts(cfg, log, opts.signal);
  if (opts.signal?.aborted) throw new LauncherError('stopped while preparing the artifacts');

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
  // Secrets stay out of the record (it is copied to other hosts): the actor processes get them in their environment.
  const record = redactSecrets(childCfg);
  writeFileSync(configFile, JSON.stringify(record.cfg, null, 2) + '\n');
  if (record.redacted.length > 0) log(`config.json: ${record.redacted.join(', ')} left out (secrets); actor processes get them through ${Object.keys(record.env).join(', ')}`);

  const t0 = Date.now();
  // A continued run: the steps its earlier launches checkpointed do not count towards this launch's rate.
  const stepsAtLaunch = readLedger(ledgerFile(runDir)).at(-1)?.step ?? 0;
  let bus: NatsBus | undefined;
  let monitor: { stop(): Promise<void>; aggregator: MetricsAggregator } | undefined;
  let placement: PlacementPlan | undefined;
  const children: Supervised[] = [];
  try {
    bus = await NatsBus.connect(childCfg.bus, runId, { schema: { vocabSize }, log });
    const control = await NatsRunControl.open(bus);
    const before = await control.end();
    if (before) throw new LauncherError(`run ${runId} already ended (${before.reason}, ${before.steps} steps); choose another run.id`);
    // What a client in another language reads to join: vocabulary, special ids, tokenizer, limits (docs/protocol.md).
    await publishRunInfo(control, childCfg, runId, sftDir);
    await ensureRunConsumers(bus, childCfg);

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
      const table = Object.fromEntries(
        children.map((c) => [c.spec.id, { role: c.spec.role, pid: c.proc?.pid ?? null, restarts: c.restarts, gone: c.gone ?? null, cores: placement?.byRole[c.spec.role].cores ?? null }]),
      );
      writeFileSync(join(runDir, 'processes.json'), JSON.stringify(table, null, 2) + '\n');
    };
    const onExit = async (c: Supervised, code: number | null, signal: NodeJS.Signals | null): Promise<void> => {
      const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
      // Actors exit by themselves once the learner wrote the end, which this process may not have polled yet.
      if (code === 0 && !ended && !stopping) ended = await control.end().catch(() => undefined);
      const peersLeft = children.filter((x) => x !== c && x.spec.role === c.spec.role && x.gone !== 'failed').length;
      const d = decideOnExit({ role: c.spec.role, code, runOver: ended !== undefined || stopping, restarts: c.restarts, maxRestarts, peersLeft });
      switch (d.action) {
        case 'let-go':
          if (d.why === 'clean exit') say(`${c.spec.id} ${how} before the end of the run; carrying on without it`);
          c.gone = 'exited';
          break;
        case 'restart':
          c.restarts = d.attempt;
          say(`${c.spec.id} ${how}; restarting it (${c.restarts}/${maxRestarts})`);
          c.start();
          break;
        case 'give-up':
          c.gone = 'failed';
          say(`${c.spec.id} ${how}; restarted ${maxRestarts} times already, giving up on it`);
          if (d.fatal) {
            fatal = new LauncherError(`the run cannot go on: ${c.spec.id} keeps failing (${how})`);
            wake.abort();
          }
      }
      writeProcesses();
    };
    const args = ['--config', configFile, '--nats', servers.join(','), '--run', runId];
    const specs = actorSpecs(opts.generators, opts.judges, opts.evaluator ?? true);
    const processes = Object.fromEntries(ACTOR_ROLES.map((r) => [r, specs.filter((s) => s.role === r).length])) as Record<ActorRole, number>;
    placement = planPlacement(opts.placement ?? {}, { processes, nativeThreads: cfg.compute.nativeThreads, taskset: opts.placement ? tasksetAvailable() : false });
    if (placement.warning) say(placement.warning);
    say(placement.describe);
    const plan = placement;
    for (const spec of specs) {
      const p = plan.byRole[spec.role];
      const placed = { prefix: plan.prefix(spec.role), args: p.nativeThreads === cfg.compute.nativeThreads ? [] : ['--set', `compute.nativeThreads=${p.nativeThreads}`] };
      const c = new Supervised(spec, args, say, onExit, placed, record.env);
      children.push(c);
      c.start();
    }
    writeProcesses();
    say(`launched ${children.length} actor processes for run ${runId} (${opts.generators} generators, ${opts.judges} judges); outputs in ${runDir}`);
    if (opts.judges === 0) {
      say(
        `no judge processes: the run waits for judges to join, e.g. \`rlhf-stream actor judge --config ${configFile} --nats ${servers.join(',')} --run ${runId}\` ` +
          'or a client of docs/protocol.md; samples wait in their stream until then',
      );
    }

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
    // Actors this launcher did not start (judges from outside) poll `end` themselves: the server they talk to stays up
    // until each says it stopped or goes quiet, for at most the grace period.
    if (ended) await waitForOutsiders(monitor.aggregator, new Set(children.map((c) => c.spec.id)), opts.stopGraceMs ?? 30_000, say);

    await monitor.stop();
    const streamed = monitor.aggregator.counterTotals();
    monitor = undefined;
    const pairsStored = await bus.messagesStored('pairs');
    const summary = summarizeRecords(runDir, cfg.run.mode, t0, Date.now() - t0, ended, { streamed, stepsAtLaunch, pairsStored });
    const headline = headlineOf(summary);
    const restarts = Object.fromEntries(children.filter((c) => c.restarts > 0).map((c) => [c.spec.id, c.restarts]));
    const placementRecord = { pinned: placement.pinned, describe: placement.describe, byRole: placement.byRole };
    writeFileSync(join(runDir, 'summary.json'), JSON.stringify({ runId, end: ended ?? null, restarts, placement: placementRecord, headline, summary }, null, 2) + '\n');
    return { runId, runDir, natsUrl: servers.join(','), end: ended, summary, headline, restarts, placement, startedAt: t0 };
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

function natsAuth(cfg: Config): { token?: string; user?: string; pass?: string } | undefined {
  if (cfg.bus.token) return { token: cfg.bus.token };
  if (cfg.bus.user) return { user: cfg.bus.user, pass: cfg.bus.pass };
  return undefined;
}

/** Waits while an actor seen on the metrics stream, not one of `ours`, still reports (alive or stale) and has not said `stopped`. */
async function waitForOutsiders(aggregator: MetricsAggregator, ours: ReadonlySet<string>, graceMs: number, say: (line: string) => void): Promise<void> {
  const outsiders = (): string[] => aggregator.snapshot().actors.filter((a) => !ours.has(a.actorId) && (a.liveness === 'alive' || a.liveness === 'stale')).map((a) => a.actorId);
  const deadline = Date.now() + graceMs;
  let told = false;
  for (let left = outsiders(); left.length > 0 && Date.now() < deadline; left = outsiders()) {
    if (!told) say(`waiting for ${left.join(', ')} (not started here) to see the end of the run`);
    told = true;
    await new Promise((r) => setTimeout(r, 200));
  }
}
