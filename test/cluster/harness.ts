// Multi-process run tests: the tiny artifacts, actor processes, a wire audit of every id published, and the final accounting.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { loadConfig, type Config } from '../../src/config/index.js';
import type { ActorRecord } from '../../src/run/actor_process.js';
import { readLedger, type LedgerEntry } from '../../src/run/trained_ledger.js';
import { createCodec } from '../../src/streams/codec.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import type { DeadLetterMsg, MetricsMsg, PairMsg, PromptMsg, SampleGroupMsg, TopicName } from '../../src/streams/topics.js';

export const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

/** Shared by every cluster test file: the stages are hash-keyed, so a second file reuses what the first built. */
export const CACHE_DIR = join(tmpdir(), 'rlhf-stream-cluster-tests-cache');

/** Builds (or reuses) data, SFT and the BT reward model for config/tiny.yaml in CACHE_DIR. */
export function prepareTinyArtifacts(): void {
  const r = spawnSync(process.execPath, [CLI, 'train-rm', '--kind', 'bt', '--config', 'config/tiny.yaml', '--set', `run.cacheDir=${CACHE_DIR}`], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (r.status !== 0) throw new Error(`preparing the tiny artifacts failed (${r.status}):\n${r.stderr}`);
}

export function tempRunsDir(): string {
  return mkdtempSync(join(tmpdir(), 'rlhf-cluster-runs-'));
}

/** --set flags every actor of a test run shares. */
export function runSets(runsDir: string, extra: Record<string, string | number> = {}): string[] {
  const sets: Record<string, string | number> = {
    'run.cacheDir': CACHE_DIR,
    'run.dir': runsDir,
    'monitor.intervalMs': 250,
    ...extra,
  };
  return Object.entries(sets).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}

export function testConfig(runsDir: string, extra: Record<string, string | number> = {}): Config {
  const overrides: string[] = [];
  const sets = runSets(runsDir, extra);
  for (let i = 1; i < sets.length; i += 2) overrides.push(sets[i]!);
  return loadConfig({ file: 'config/tiny.yaml', overrides });
}

/** One `rlhf-stream actor` process with its output kept. */
export class ActorProc {
  readonly proc: ChildProcess;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly role: string,
    readonly id: string,
    natsUrl: string,
    runId: string,
    sets: string[],
    /** A command the process runs under, e.g. `ip netns exec <ns>` (it must exec the process, keeping its pid). */
    under: string[] = [],
  ) {
    const argv = [process.execPath, CLI, 'actor', role, '--config', 'config/tiny.yaml', ...sets, '--nats', natsUrl, '--run', runId, '--id', id];
    const [cmd, ...args] = [...under, ...argv];
    this.proc = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer): void => {
      this.output += b.toString();
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  kill(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Waits until the output contains `pattern` (the process announced something), or fails after `ms`. */
  async waitFor(pattern: RegExp, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.output)) {
      if (!this.running) throw new Error(`${this.id} exited before printing ${pattern}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`${this.id} did not print ${pattern} within ${ms} ms:\n${this.output}`);
      await sleep(100);
    }
  }
}

/** What a launched CLI has written so far, updated as it writes. */
export interface CliOutput {
  out: string;
  err: string;
}

/**
 * `rlhf-stream cluster ARGS` as a child process with its output gathered as it comes; `detached` gives it a process
 * group of its own, as a shell gives a foreground job (the group's id is its pid).
 */
export function spawnCluster(args: readonly string[], opts: { detached?: boolean } = {}): { child: ChildProcess; output: CliOutput; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'cluster', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  const output: CliOutput = { out: '', err: '' };
  child.stdout!.on('data', (b: Buffer) => (output.out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output.err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, output, exited };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 100 ms; throws with `what` after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Starts one actor process of a run; the default runs it on this host against `natsUrl`. */
export type Launch = (role: string, id: string, runId: string, sets: string[]) => ActorProc;

export const localLaunch =
  (natsUrl: string): Launch =>
  (role, id, runId, sets) =>
    new ActorProc(role, id, natsUrl, runId, sets);

/** Starts the processes of one run: learner, judges, generators, source (no evaluator: it costs seconds of start-up). */
export function startRun(natsUrl: string, runId: string, sets: string[], n: { generators: number; judges: number }, launch: Launch = localLaunch(natsUrl)): Map<string, ActorProc> {
  const procs = new Map<string, ActorProc>();
  const add = (role: string, id: string): void => void procs.set(id, launch(role, id, runId, sets));
  add('learner', 'learner');
  for (let i = 0; i < n.judges; i++) add('judge', `judge-${i}`);
  for (let i = 0; i < n.generators; i++) add('generator', `generator-${i}`);
  add('source', 'source');
  return procs;
}

/** Every actor exits by itself once the run ended; fails naming the ones that did not, with their output. */
export async function waitAllExit(procs: Iterable<ActorProc>, ms: number): Promise<void> {
  const list = [...procs];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const r = await Promise.race([Promise.all(list.map((p) => p.exited)), timeout]);
  clearTimeout(timer);
  if (r === 'timeout') {
    const late = list.filter((p) => p.running);
    late.forEach((p) => p.kill('SIGKILL'));
    throw new Error(`still running after ${ms} ms: ${late.map((p) => `${p.id}\n${p.output.slice(-3000)}`).join('\n---\n')}`);
  }
}

/**
 * Watches the run's subjects as a plain NATS subscriber: every publish is seen, retries and duplicates included
 * (JetStream stores a repeated msgId once; this audit counts what was sent).
 */
export class WireAudit {
  readonly prompts = new Map<string, number>();
  /** Group id -> publishes seen, with the generator and version of the last one. */
  readonly groups = new Map<string, { sends: number; generatorId: string; policyVersion: number }>();
  readonly pairs = new Map<string, number>();
  /** The learner's step as its metrics last reported it. */
  learnerStep = 0;
  /** Metrics reports of the learner seen so far (they stop arriving while the learner's host is cut off). */
  learnerReports = 0;
  /** Each learner report as it arrived: when the learner sent it and its step then. */
  readonly learnerTrace: Array<{ ts: number; step: number }> = [];
  private readonly subs: Subscription[] = [];
  private readonly codec = createCodec({ maxPayloadBytes: 64 * 1024 * 1024 });

  private constructor(private readonly nc: NatsConnection) {}

  static async start(natsUrl: string, runId: string, prefix = 'rlhf'): Promise<WireAudit> {
    // In the given order: a multi-host test names first a node it never cuts off.
    const nc = await connect({ servers: natsUrl.split(','), noRandomize: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const a = new WireAudit(nc);
    const names = natsNames(prefix, runId);
    const watch = (topic: TopicName, onMsg: (m: unknown) => void): void => {
      // Metrics travel on one subject per actor: the audit listens to all of them.
      const sub = nc.subscribe(names.streamSubjects(topic)[0]!);
      a.subs.push(sub);
      void (async () => {
        for await (const m of sub) onMsg(a.codec.decode(m.data));
      })();
    };
    watch('prompts', (m) => {
      const p = m as PromptMsg;
      const id = `${p.promptId}:${p.epoch}`;
      a.prompts.set(id, (a.prompts.get(id) ?? 0) + 1);
    });
    watch('samples', (m) => {
      const g = m as SampleGroupMsg;
      a.groups.set(g.groupId, { sends: (a.groups.get(g.groupId)?.sends ?? 0) + 1, generatorId: g.generatorId, policyVersion: g.policyVersion });
    });
    watch('pairs', (m) => {
      const p = m as PairMsg;
      a.pairs.set(p.pairId, (a.pairs.get(p.pairId) ?? 0) + 1);
    });
    watch('metrics', (m) => {
      const x = m as MetricsMsg;
      if (x.role === 'learner' && typeof x.values.learner_step_index === 'number') {
        a.learnerStep = x.values.learner_step_index;
        a.learnerReports++;
        a.learnerTrace.push({ ts: x.ts, step: x.values.learner_step_index });
      }
    });
    await nc.flush();
    return a;
  }

  groupsBy(generatorId: string): number {
    return [...this.groups.values()].filter((g) => g.generatorId === generatorId).length;
  }

  async close(): Promise<void> {
    this.subs.forEach((s) => s.unsubscribe());
    await this.nc.close();
  }
}

/** Every message still stored on a topic's stream, decoded (work topics: the ones nobody acked). */
export async function storedMessages<T>(bus: NatsBus, topic: TopicName): Promise<T[]> {
  const stream = natsNames(bus.cfg.prefix, bus.runId).stream(topic);
  const info = await bus.jsm.streams.info(stream);
  const out: T[] = [];
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    let data: Uint8Array | undefined;
    // Only "no message" means acked and removed (work topics keep gaps); a read that times out (a cluster still
    // settling after a fault) is asked again, never taken for a gap, or a stored message would look lost.
    for (let attempt = 1; data === undefined; attempt++) {
      try {
        data = (await bus.jsm.streams.getMessage(stream, { seq })).data;
      } catch (err) {
        if (/no message found/i.test((err as Error).message)) break;
        if (attempt >= 10) throw new Error(`reading ${stream} seq ${seq} failed ${attempt} times: ${(err as Error).message}`);
        await sleep(500);
      }
    }
    if (data === undefined) continue;
    const r = bus.decodeFor(topic, data);
    if (!r.ok) throw new Error(`stored ${topic} message ${seq} does not decode: ${r.reason}`);
    out.push(r.value as T);
  }
  return out;
}

export interface Accounting {
  /** Prompt ids (promptId:epoch) still stored, and those dead-lettered. */
  promptsStored: Set<string>;
  promptsDead: Set<string>;
  /** Pair ids in the ledger, with how many ledger lines list each. */
  trained: Map<string, number>;
  deadLettered: Map<string, string>;
  remaining: Set<string>;
  ledger: LedgerEntry[];
}

/** Where every pair ended up: trained into a checkpoint (ledger), dead-lettered (with its reason) or still stored. */
export async function accountPairs(natsUrl: string, runId: string, runDir: string): Promise<Accounting> {
  const cfg = loadConfig({ file: 'config/tiny.yaml', overrides: [`bus.servers=${natsUrl}`, 'bus.kind=nats'] });
  const bus = await NatsBus.connect(cfg.bus, runId, { log: () => {} });
  try {
    const ledger = readLedger(join(runDir, 'trained_pairs.jsonl'));
    const trained = new Map<string, number>();
    for (const e of ledger) for (const p of e.pairs) trained.set(p.pairId, (trained.get(p.pairId) ?? 0) + 1);
    const deadLettered = new Map<string, string>();
    for (const d of await storedMessages<DeadLetterMsg>(bus, 'dead')) {
      if (d.topic !== 'pairs') continue;
      const r = bus.decodeFor('pairs', d.payload);
      if (r.ok) deadLettered.set((r.value as PairMsg).pairId, d.reason);
    }
    const remaining = new Set((await storedMessages<PairMsg>(bus, 'pairs')).map((p) => p.pairId));
    const promptsStored = new Set((await storedMessages<PromptMsg>(bus, 'prompts')).map((p) => `${p.promptId}:${p.epoch}`));
    const promptsDead = new Set<string>();
    for (const d of await storedMessages<DeadLetterMsg>(bus, 'dead')) {
      const r = d.topic === 'prompts' ? bus.decodeFor('prompts', d.payload) : undefined;
      if (r?.ok) promptsDead.add(`${(r.value as PromptMsg).promptId}:${(r.value as PromptMsg).epoch}`);
    }
    return { promptsStored, promptsDead, trained, deadLettered, remaining, ledger };
  } finally {
    await bus.close();
  }
}

export function actorRecords(runDir: string): ActorRecord[] {
  const dir = join(runDir, 'actors');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ActorRecord);
}

export const total = (records: readonly ActorRecord[], name: string): number => records.reduce((s, r) => s + (r.metrics[name] ?? 0), 0);

/** Settings of the fault runs: totalSteps ends them; stale pairs are down-weighted, not dropped, so every pair has an id-level fate. */
export const FAULT_SETS = {
  'run.prompts': 400,
  'run.promptsPerSecond': 6,
  'learner.totalSteps': 16,
  'learner.stalePairs': 'downweight',
  'bus.ackWaitMs': 3000,
};

export interface FaultContext {
  procs: Map<string, ActorProc>;
  audit: WireAudit;
  runDir: string;
  /** Starts the actor `id` again (same role, same id), as an operator or supervisor would. */
  restart(id: string): ActorProc;
  ledgerLines(): number;
}

export interface FaultOutcome {
  runDir: string;
  audit: WireAudit;
  acc: Accounting;
  records: ActorRecord[];
  /** Every process of the run, restarted ones included, with its output. */
  all: ActorProc[];
  seconds: number;
}

/** One run with a fault injected by `inject` once it is under way; resolves after every actor exited. */
export async function faultRun(
  natsUrl: string,
  runId: string,
  n: { generators: number; judges: number },
  inject: (ctx: FaultContext) => Promise<void>,
  extra: Record<string, string | number> = {},
  launch: Launch = localLaunch(natsUrl),
  /** How long the actors may take to end after the fault step returns (more for runs across hosts on a busy machine). */
  exitWithinMs = 75_000,
): Promise<FaultOutcome> {
  const runs = tempRunsDir();
  const runDir = join(runs, runId);
  const sets = runSets(runs, { ...FAULT_SETS, ...extra });
  const audit = await WireAudit.start(natsUrl, runId);
  const t0 = Date.now();
  const procs = startRun(natsUrl, runId, sets, n, launch);
  const all = [...procs.values()];
  try {
    await inject({
      procs,
      audit,
      runDir,
      restart(id) {
        const old = procs.get(id)!;
        const p = launch(old.role, id, runId, sets);
        procs.set(id, p);
        all.push(p);
        return p;
      },
      ledgerLines: () => readLedger(join(runDir, 'trained_pairs.jsonl')).length,
    });
    await waitAllExit(procs.values(), exitWithinMs);
    const seconds = (Date.now() - t0) / 1000;
    const acc = await accountPairs(natsUrl, runId, runDir);
    return { runDir, audit, acc, records: actorRecords(runDir), all, seconds };
  } catch (err) {
    for (const p of all) if (p.running) p.kill('SIGKILL');
    // The fault step failed (a wait that timed out): what each process said is the way to its cause.
    if (err instanceof Error && !/still running after/.test(err.message)) {
      err.message += `\n${all.map((p) => `--- ${p.id} (pid ${p.proc.pid})\n${p.output.slice(-2000)}`).join('\n')}`;
    }
    throw err;
  } finally {
    await audit.close();
  }
}

/**
 * The exactly-once check by pair id: no pair in two checkpoints; every pair published was trained into a
 * checkpoint, dead-lettered with a reason, or is still stored (made after the learner's last step); no id in two of those.
 */
export function checkEveryPairOnce(o: FaultOutcome, opts: { auditMayMiss?: boolean } = {}): { made: number; trained: number; dead: number; remaining: number } {
  const { trained, deadLettered, remaining } = o.acc;
  const twice = [...trained].filter(([, n]) => n > 1).map(([id]) => id);
  if (twice.length > 0) throw new Error(`pairs trained into two checkpoints: ${twice.join(', ')}`);
  for (const id of trained.keys()) {
    if (deadLettered.has(id)) throw new Error(`pair ${id} was trained and dead-lettered`);
    if (remaining.has(id)) throw new Error(`pair ${id} was trained and is still stored`);
  }
  for (const id of deadLettered.keys()) if (remaining.has(id)) throw new Error(`pair ${id} was dead-lettered and is still stored`);
  for (const [id, reason] of deadLettered) if (!reason) throw new Error(`pair ${id} was dead-lettered without a reason`);
  const made = [...o.audit.pairs.keys()];
  const lost = made.filter((id) => !trained.has(id) && !deadLettered.has(id) && !remaining.has(id));
  if (lost.length > 0) throw new Error(`${lost.length} pairs published but neither trained, dead-lettered nor stored: ${lost.slice(0, 5).join(', ')}`);
  // The audit is a plain subscriber: while it reconnects after a server restart it can miss publishes, so the checks
  // that need it to have seen everything are made only when the server stayed up.
  if (!opts.auditMayMiss) {
    const unseen = [...trained.keys(), ...deadLettered.keys(), ...remaining].filter((id) => !o.audit.pairs.has(id));
    if (unseen.length > 0) throw new Error(`${unseen.length} pairs accounted for that were never seen published: ${unseen.slice(0, 5).join(', ')}`);
    // No prompt vanished with a killed process: each became a group, or is still stored, or was dead-lettered.
    const vanished = [...o.audit.prompts.keys()].filter((id) => !o.audit.groups.has(`g:${id}`) && !o.acc.promptsStored.has(id) && !o.acc.promptsDead.has(id));
    if (vanished.length > 0) throw new Error(`${vanished.length} prompts published but neither sampled, stored nor dead-lettered: ${vanished.slice(0, 5).join(', ')}`);
  }
  return { made: made.length, trained: trained.size, dead: deadLettered.size, remaining: remaining.size };
}
