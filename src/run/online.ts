// The online stage as a library call: cached artifacts -> bus -> actors -> monitor -> summary. Used by `run` and `experiment`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { redactSecrets, type Config } from '../config/index.js';
import { buildData } from '../data/build.js';
import { attachMonitor, startMonitor } from '../monitor/index.js';
import { responsesFile, responsesWriter } from '../monitor/responses_log.js';
import { createBus } from '../streams/index.js';
import { TimedBus } from '../streams/timed_bus.js';
import { ensureRewardModel, ensureSft } from '../train/stages.js';
import { evalPrompts, policyVocabSize, promptItems } from './artifacts.js';
import { startLocalCluster, type ClusterSummary } from './local_cluster.js';
import { clusterPorts } from './ports.js';
import { writeLearnerStart } from './learner_start.js';
import { journalPairs, PairJournal, pairJournalFile } from './pair_journal.js';
import { humanLabelling, labelToken } from './human_labels.js';
import { checkedProxyDir } from './proxy_dir.js';
import { ledgerFile } from './run_dir.js';
import { LedgeredLearnerPort } from './trained_ledger.js';

export interface OnlineOptions {
  log?: (line: string) => void;
  /** Serve the live dashboard (overrides monitor.dashboard). */
  dashboard?: boolean;
  /** Live status line on stderr (default on: redrawn in place on a terminal, a plain line every monitor.statusEveryMs otherwise). */
  statusLine?: boolean;
  /** Aborting ends the run early: actors drain, the learner checkpoints. */
  signal?: AbortSignal;
  /** Called once the dashboard is up. */
  onDashboard?: (url: string) => void;
  /**
   * Checkpoints built beforehand, used instead of ensureSft/ensureRewardModel: the experiment builds them once from its
   * base config and runs arms whose compute.seed (part of the stages' input hash) differs.
   */
  stages?: { sftDir: string; rmDir: string };
}

export interface OnlineResult {
  runId: string;
  runDir: string;
  summary: ClusterSummary;
  /** Headline numbers for the closing lines and the experiment table. */
  headline: Headline;
}

export interface Headline {
  mode: string;
  wallSeconds: number;
  samplesPerSecond: number;
  pairsPerSecond: number;
  stepsPerSecond: number;
  steps: number;
  version: number;
  sftGoldReward?: number;
  goldReward?: number;
  proxyReward?: number;
  winRateVsSft?: number;
  /** KL(policy || SFT) from the evaluator's samples: sequence log-ratio, and the per-token k3 estimate. */
  kl?: number;
  klK3?: number;
  responseTokens?: number;
  /** Share of wall-clock with a bus call in flight (concurrent calls once), in the run's busiest process; the monitor's own reads are not counted. */
  busCallShare?: number;
}

export function defaultRunId(now = new Date()): string {
  return `run-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
}

export function headlineOf(s: ClusterSummary): Headline {
  const secs = s.wallMs / 1000;
  const last = s.evals.at(-1);
  return {
    mode: s.mode,
    wallSeconds: secs,
    samplesPerSecond: s.samplesGenerated / secs,
    pairsPerSecond: s.pairs / secs,
    stepsPerSecond: (s.stepsThisLaunch ?? s.steps) / secs,
    steps: s.steps,
    version: s.version,
    sftGoldReward: last?.sftGoldReward,
    goldReward: last?.goldReward,
    proxyReward: last?.proxyReward,
    winRateVsSft: last?.winRateVsSft,
    kl: last?.kl,
    klK3: last?.klK3,
    responseTokens: last?.responseTokens,
    ...(s.busCallSeconds === undefined ? {} : { busCallShare: s.busCallSeconds / secs }),
  };
}

const f3 = (x: number | undefined): string => (x === undefined ? 'n/a' : x.toFixed(3));

export function formatHeadline(h: Headline): string[] {
  return [
    `mode ${h.mode}: ${h.steps} learner steps, policy version ${h.version}, ${h.wallSeconds.toFixed(1)} s`,
    `throughput: ${h.samplesPerSecond.toFixed(2)} samples/s, ${h.pairsPerSecond.toFixed(2)} pairs/s, ${h.stepsPerSecond.toFixed(3)} steps/s`,
    `gold reward ${f3(h.sftGoldReward)} (SFT) -> ${f3(h.goldReward)}; win rate vs SFT ${f3(h.winRateVsSft)} (gold judge); proxy reward ${f3(h.proxyReward)}; KL(policy || SFT) ${f3(h.kl)} nats (k3 ${f3(h.klK3)}); response ${h.responseTokens?.toFixed(1) ?? 'n/a'} tokens`,
  ];
}

/** Builds (or reuses) data, SFT and the proxy model, then runs the online stage in this process. */
export async function runOnline(cfg: Config, opts: OnlineOptions = {}): Promise<OnlineResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  // Checked before any work: a person-in-the-loop run without its token would fail only after the stages are built.
  const token = labelToken(cfg, process.env);
  const data = await buildData(cfg, { log });
  let stages = opts.stages;
  if (!stages) {
    const sft = await ensureSft(cfg, { log, data, signal: opts.signal });
    const rm = await ensureRewardModel(cfg, cfg.rm.kind, { log, data, sft, signal: opts.signal });
    if (sft.reused && rm.reused && data.reused) log('cached data, SFT and reward model reused: going straight to the online stage');
    stages = { sftDir: sft.dir, rmDir: rm.dir };
  }
  if (cfg.judge.proxyDir !== '') stages = { ...stages, rmDir: checkedProxyDir(cfg.judge.proxyDir) };

  const runId = cfg.run.id || defaultRunId();
  const runDir = join(cfg.run.dir, runId);
  mkdirSync(runDir, { recursive: true });
  // Secrets stay out of the record: the process already holds them.
  const record = redactSecrets(cfg);
  writeFileSync(join(runDir, 'config.json'), JSON.stringify(record.cfg, null, 2));
  if (record.redacted.length > 0) log(`config.json: ${record.redacted.join(', ')} left out (secrets)`);
  log(`online stage: mode ${cfg.run.mode}, run ${runId}, bus ${cfg.bus.kind}, outputs in ${runDir}`);

  // The actors' bus calls are timed: the headline reports the share of wall-clock they took.
  const raw = await createBus(cfg.bus, runId, { weightsDir: join(runDir, 'weights'), schema: { vocabSize: policyVocabSize(stages.sftDir) } });
  // What a replay needs outlives the process: the pairs the learner receives, its ledger of steps, and its start.
  writeLearnerStart(runDir, stages, cfg);
  const journal = new PairJournal(pairJournalFile(runDir));
  const bus = new TimedBus(journalPairs(raw, journal));
  const art = await clusterPorts(cfg, stages, { log });
  let cluster: Awaited<ReturnType<typeof startLocalCluster>> | undefined;
  // Steps come only after startLocalCluster returned (pairs need generation first), by when `cluster` is set; before
  // that the only export is the restored weights' announcement, made at the restored version.
  const learnerVersion = (): number => {
    if (cluster) return cluster.learner.version;
    if (learner.restoredVersion !== undefined) return learner.restoredVersion;
    throw new Error('the learner stepped before the cluster was wired');
  };
  const learner = new LedgeredLearnerPort(art.ports.learner, ledgerFile(runDir), learnerVersion, () => journal.sync());
  const statusLine = opts.statusLine === false ? false : process.stderr;
  const human = token === undefined ? undefined : humanLabelling(cfg, runDir, token, (ids) => art.tokenizer.decode(ids));
  // A person labels on the dashboard: judge.human serves it whatever monitor.dashboard says.
  const serve = (opts.dashboard ?? cfg.monitor.dashboard) || human !== undefined;
  let monitor: { stop(): Promise<void> };
  if (serve) {
    const m = await startMonitor(raw, cfg, { runDir, statusLine, log, ...(human ? { labels: human.routes } : {}) });
    if (human) log(`label page: ${m.url}label?token=<$${cfg.judge.humanTokenEnv}>&name=<your name> (judge.human ${cfg.judge.human})`);
    log(`dashboard: ${m.url}`);
    opts.onDashboard?.(m.url);
    monitor = m;
  } else {
    monitor = await attachMonitor(raw, cfg, { runDir, statusLine, log });
  }
  try {
    cluster = await startLocalCluster(cfg, bus, { ...art.ports, learner }, {
      prompts: promptItems(art.tokenizer, data.prompts.train),
      evalPrompts: evalPrompts(cfg, data.prompts.eval, art.tokenizer),
      checkpointDir: join(runDir, 'checkpoints'),
      onEvalResponses: responsesWriter(responsesFile(runDir)),
      ...(human ? { desk: human.desk } : {}),
    });
    const running = cluster;
    const onAbort = (): void => {
      log('stopping: draining actors and checkpointing');
      void running.stop();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const summary = { ...(await running.done), busCallSeconds: bus.busySeconds, busCalls: bus.calls };
    opts.signal?.removeEventListener('abort', onAbort);
    const headline = headlineOf(summary);
    writeFileSync(join(runDir, 'summary.json'), JSON.stringify({ runId, headline, summary }, null, 2));
    return { runId, runDir, summary, headline };
  } finally {
    await monitor.stop();
    await art.close();
    await bus.close();
    journal.close();
    human?.close();
  }
}
