// Multi-process run tests: the tiny artefacts, actor processes, a wire audit of every id published, and the final accounting.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { loadConfig, type Config } from '../../src/config/index.js';
import type { ActorRecord } from '../../src/cli/actor_process.js';
import { readLedger, type LedgerEntry } from '../../src/cli/trained_ledger.js';
import { createCodec } from '../../src/streams/codec.js';
import { natsNames, NatsBus } from '../../src/streams/nats_bus.js';
import type { DeadLetterMsg, PairMsg, PromptMsg, SampleGroupMsg, TopicName } from '../../src/streams/topics.js';

export const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

/** Shared by every cluster test file: the stages are hash-keyed, so a second file reuses what the first built. */
export const CACHE_DIR = join(tmpdir(), 'rlhf-stream-cluster-tests-cache');

/** Builds (or reuses) data, SFT and the BT reward model for config/tiny.yaml in CACHE_DIR. */
export function prepareTinyArtefacts(): void {
  const r = spawnSync(process.execPath, [CLI, 'train-rm', '--kind', 'bt', '--config', 'config/tiny.yaml', '--set', `run.cacheDir=${CACHE_DIR}`], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (r.status !== 0) throw new Error(`preparing the tiny artefacts failed (${r.status}):\n${r.stderr}`);
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
  ) {
    this.proc = spawn(process.execPath, [CLI, 'actor', role, '--config', 'config/tiny.yaml', ...sets, '--nats', natsUrl, '--run', runId, '--id', id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 100 ms; throws with `what` after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Starts the processes of one run: learner, judges, generators, source (no evaluator: it costs seconds of start-up). */
export function startRun(natsUrl: string, runId: string, sets: string[], n: { generators: number; judges: number }): Map<string, ActorProc> {
  const procs = new Map<string, ActorProc>();
  const add = (role: string, id: string): void => void procs.set(id, new ActorProc(role, id, natsUrl, runId, sets));
  add('learner', 'learner');
  for (let i = 0; i < n.judges; i++) add('judge', `judge-${i}`);
  for (let i = 0; i < n.generators; i++) add('generator', `generator-${i}`);
  add('source', 'source');
  return procs;
}

/** Every actor exits by itself once the run ended; fails naming the ones that did not, with their output. */
export async function waitAllExit(procs: Iterable<ActorProc>, ms: number): Promise<void> {
  const list = [...procs];
  const timer = sleep(ms).then(() => 'timeout' as const);
  const r = await Promise.race([Promise.all(list.map((p) => p.exited)), timer]);
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
  private readonly subs: Subscription[] = [];
  private readonly codec = createCodec({ maxPayloadBytes: 64 * 1024 * 1024 });

  private constructor(private readonly nc: NatsConnection) {}

  static async start(natsUrl: string, runId: string, prefix = 'rlhf'): Promise<WireAudit> {
    const nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const a = new WireAudit(nc);
    const names = natsNames(prefix, runId);
    const watch = (topic: TopicName, onMsg: (m: unknown) => void): void => {
      const sub = nc.subscribe(names.subject(topic));
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
    let data: Uint8Array;
    try {
      data = (await bus.jsm.streams.getMessage(stream, { seq })).data;
    } catch {
      continue; // acked and removed (work topics keep gaps)
    }
    const r = bus.decodeFor(topic, data);
    if (!r.ok) throw new Error(`stored ${topic} message ${seq} does not decode: ${r.reason}`);
    out.push(r.value as T);
  }
  return out;
}

export interface Accounting {
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
    return { trained, deadLettered, remaining, ledger };
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
