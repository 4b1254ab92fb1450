// Three "hosts" on one machine for network fault tests: network namespaces joined to a bridge of their own, one
// nats-server cluster node per host, actor processes run inside a host; everything made here is removed on close.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { natsNames } from '../../src/streams/nats/names.js';
import type { TopicName } from '../../src/streams/topics.js';
import { natsServerAvailable } from '../helpers/nats_server.js';
import { ActorProc, sleep } from './harness.js';

export class NetHostsError extends Error {
  override name = 'NetHostsError';
}

export const HOSTS = ['a', 'b', 'c'] as const;
export type HostName = (typeof HOSTS)[number];

const NATS_PORT = 4222;
const ROUTE_PORT = 6222;

function ip(args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new NetHostsError(`ip ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new NetHostsError(`ip ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

function tryRun(cmd: string, args: string[]): { ok: boolean; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: !r.error && r.status === 0, err: r.error?.message ?? r.stderr.trim() };
}

/** The skip reason for a test that needs network namespaces (root, iproute2, nats-server), or false when they work here. */
export function netnsSkip(): string | false {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces and veth pairs (ip netns); run as root or in a container with CAP_NET_ADMIN';
  if (!tryRun('ip', ['-V']).ok) return 'needs iproute2 (the ip command; Debian: apt-get install iproute2)';
  if (!natsServerAvailable()) return 'needs the nats-server binary on PATH (Debian: apt-get install nats-server)';
  const probe = `rsprobe${process.pid}`;
  const made = tryRun('ip', ['netns', 'add', probe]);
  if (!made.ok) return `cannot create a network namespace here: ${made.err}`;
  const veth = tryRun('ip', ['-n', probe, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
  tryRun('ip', ['netns', 'del', probe]);
  if (!veth.ok) return `cannot create a veth pair here: ${veth.err}`;
  return false;
}

/** The skip reason for a test that needs `tc netem` (delay, jitter, loss), or false when the kernel has it. */
export function netemSkip(): string | false {
  const ns = netnsSkip();
  if (ns) return ns;
  const probe = `rsnetem${process.pid}`;
  tryRun('ip', ['netns', 'add', probe]);
  const r = tryRun('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
  tryRun('ip', ['netns', 'del', probe]);
  return r.ok ? false : `the kernel has no netem queueing discipline (CONFIG_NET_SCH_NETEM): tc says "${r.err}"`;
}

/** Namespaces of an earlier test process that died before its cleanup (SIGKILL): their names carry its pid. */
function removeOrphans(): void {
  for (const line of tryRun('ip', ['netns', 'list']).ok ? ip(['netns', 'list']).split('\n') : []) {
    const m = /^(rsnet(\d+)-\w+)/.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) {
      killAllIn(m[1]!, 'SIGKILL');
      tryRun('ip', ['netns', 'del', m[1]!]);
    }
  }
}

function pidsIn(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

function killAllIn(ns: string, signal: NodeJS.Signals): number[] {
  const pids = pidsIn(ns);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
  return pids;
}

/** A free /24 under 10.77/16: none of this machine's root-namespace addresses or routes may fall in it. */
function pickSubnet(): string {
  const used = ip(['-4', 'route', 'show']) + ip(['-4', 'addr', 'show']);
  for (let k = 0; k < 250; k++) {
    const s = (process.pid + k) % 250;
    if (!used.includes(`10.77.${s}.`)) return `10.77.${s}`;
  }
  throw new NetHostsError('no free 10.77.x.0/24 subnet in the root namespace');
}

/** One nats-server cluster node running inside a host. */
export interface HostNode {
  host: HostName;
  name: string;
  url: string;
  storeDir: string;
  proc: ChildProcess;
  output: string;
}

/**
 * Hosts a, b, c (namespaces `rsnet<pid>-a` ...), each with one veth to a bridge in namespace `rsnet<pid>-sw` and an
 * address 10.77.S.1..3; the test process itself reaches them through a fourth veth (10.77.S.254, the only address added
 * to the root namespace, removed on close). Partitions take a host's bridge port down: the host keeps its address,
 * its local nats-server and its processes, and every packet to or from the others is dropped.
 */
export class NetHosts {
  readonly nodes = new Map<HostName, HostNode>();
  private readonly actors: ActorProc[] = [];
  private closed = false;
  private readonly onExit = (): void => this.teardown();

  private constructor(
    readonly prefix: string,
    readonly subnet: string,
    private readonly workDir: string,
  ) {}

  ns(h: HostName | 'sw'): string {
    return `${this.prefix}-${h}`;
  }

  addr(h: HostName): string {
    return `${this.subnet}.${HOSTS.indexOf(h) + 1}`;
  }

  /** Client URLs, the given host's own node first (an actor talks to its local node while it can). */
  urls(first?: HostName): string[] {
    const order = first ? [first, ...HOSTS.filter((h) => h !== first)] : [...HOSTS];
    return order.map((h) => `nats://${this.addr(h)}:${NATS_PORT}`);
  }

  static async create(): Promise<NetHosts> {
    removeOrphans();
    const prefix = `rsnet${process.pid}`;
    const hosts = new NetHosts(prefix, pickSubnet(), mkdtempSync(join(tmpdir(), 'rlhf-nethosts-')));
    process.once('exit', hosts.onExit);
    try {
      hosts.build();
      await hosts.startNats();
    } catch (err) {
      await hosts.close();
      throw err;
    }
    return hosts;
  }

  private build(): void {
    const sw = this.ns('sw');
    ip(['netns', 'add', sw]);
    ip(['-n', sw, 'link', 'set', 'lo', 'up']);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    for (const h of HOSTS) {
      const ns = this.ns(h);
      ip(['netns', 'add', ns]);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      // eth0 inside the host; its peer `port-<h>` is the host's port on the bridge.
      ip(['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `port-${h}`, 'netns', sw]);
      ip(['-n', ns, 'addr', 'add', `${this.addr(h)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', sw, 'link', 'set', `port-${h}`, 'master', 'br0', 'up']);
    }
    // The test process's own way in: a veth from the root namespace to the bridge.
    const tap = `${this.prefix}t`.slice(0, 15);
    ip(['link', 'add', tap, 'type', 'veth', 'peer', 'name', 'port-test', 'netns', sw]);
    ip(['addr', 'add', `${this.subnet}.254/24`, 'dev', tap]);
    ip(['link', 'set', tap, 'up']);
    ip(['-n', sw, 'link', 'set', 'port-test', 'master', 'br0', 'up']);
  }

  private async startNats(): Promise<void> {
    for (const h of HOSTS) {
      const name = `n-${h}`;
      const storeDir = join(this.workDir, `js-${h}`);
      const routes = HOSTS.filter((o) => o !== h).map((o) => `"nats-route://${this.addr(o)}:${ROUTE_PORT}"`);
      const conf = join(this.workDir, `${h}.conf`);
      writeFileSync(
        conf,
        [
          `server_name: ${name}`,
          `listen: "${this.addr(h)}:${NATS_PORT}"`,
          `max_payload: ${8 * 1024 * 1024}`,
          `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
          `cluster { name: rlhf, listen: "${this.addr(h)}:${ROUTE_PORT}", routes: [${routes.join(', ')}] }`,
        ].join('\n') + '\n',
      );
      const proc = spawn('ip', ['netns', 'exec', this.ns(h), 'nats-server', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      const node: HostNode = { host: h, name, url: `nats://${this.addr(h)}:${NATS_PORT}`, storeDir, proc, output: '' };
      const keep = (b: Buffer): void => {
        node.output = (node.output + b.toString()).slice(-8000);
      };
      proc.stdout?.on('data', keep);
      proc.stderr?.on('data', keep);
      this.nodes.set(h, node);
    }
    const deadline = Date.now() + 30_000;
    for (const node of this.nodes.values()) {
      while (!/Server is ready/.test(node.output)) {
        if (node.proc.exitCode !== null) throw new NetHostsError(`nats-server on host ${node.host} exited (${node.proc.exitCode}):\n${node.output}`);
        if (Date.now() > deadline) throw new NetHostsError(`nats-server on host ${node.host} not ready within 30 s:\n${node.output}`);
        await sleep(100);
      }
    }
    // A stream can be made only once the cluster elected its JetStream meta leader.
    const nc = await connect({ servers: this.urls(), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    try {
      for (;;) {
        try {
          await (await nc.jetstreamManager()).getAccountInfo();
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new NetHostsError(`the 3-node cluster elected no JetStream leader within 30 s: ${(err as Error).message}`);
          await sleep(250);
        }
      }
    } finally {
      await nc.close();
    }
  }

  /** Starts `rlhf-stream actor <role>` inside host `h`, talking to that host's node first. */
  actor(h: HostName, role: string, id: string, runId: string, sets: string[]): ActorProc {
    const p = new ActorProc(role, id, this.urls(h).join(','), runId, sets, ['ip', 'netns', 'exec', this.ns(h)]);
    this.actors.push(p);
    return p;
  }

  /** Cuts host `h` off from the others (and from the test process): its bridge port goes down. */
  partition(h: HostName): void {
    ip(['-n', this.ns('sw'), 'link', 'set', `port-${h}`, 'down']);
  }

  heal(h: HostName): void {
    ip(['-n', this.ns('sw'), 'link', 'set', `port-${h}`, 'up']);
  }

  /** SIGSTOP (or SIGCONT) to every process running inside host `h`: a host that pauses. Returns the pids. */
  signalHost(h: HostName, signal: 'SIGSTOP' | 'SIGCONT'): number[] {
    return killAllIn(this.ns(h), signal);
  }

  /** `tc netem` on every host's link, both ways: e.g. ['delay', '150ms', '50ms', 'loss', '5%']. */
  netem(args: string[]): void {
    for (const h of HOSTS) {
      ip(['netns', 'exec', this.ns(h), 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', ...args]);
      ip(['netns', 'exec', this.ns('sw'), 'tc', 'qdisc', 'replace', 'dev', `port-${h}`, 'root', 'netem', ...args]);
    }
  }

  /** The node leading one of a run's streams (asked through every node the test process reaches). */
  async streamLeader(runId: string, topic: TopicName): Promise<string | undefined> {
    const nc = await connect({ servers: this.urls(), timeout: 5000 });
    try {
      const info = await (await nc.jetstreamManager()).streams.info(natsNames('rlhf', runId).stream(topic));
      return info.cluster?.leader;
    } finally {
      await nc.close();
    }
  }

  /** The host of a node, by its server name. */
  hostOf(nodeName: string | undefined): HostName | undefined {
    return [...this.nodes.values()].find((n) => n.name === nodeName)?.host;
  }

  /** Kills every process in the hosts, removes the namespaces, the root-namespace veth and the storage folders. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const h of HOSTS) killAllIn(this.ns(h), 'SIGCONT');
    for (const a of this.actors) if (a.running) a.kill('SIGKILL');
    for (const n of this.nodes.values()) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    const waitExit = (p: ChildProcess): Promise<void> =>
      p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
    await Promise.race([Promise.all([...this.actors.map((a) => waitExit(a.proc)), ...[...this.nodes.values()].map((n) => waitExit(n.proc))]), sleep(5000)]);
    this.teardown();
  }

  /** Synchronous, so it can also run from process 'exit' when a test dies without its `finally`. */
  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.onExit);
    for (const h of [...HOSTS, 'sw' as const]) {
      killAllIn(this.ns(h), 'SIGKILL');
      tryRun('ip', ['netns', 'del', this.ns(h)]);
    }
    // Deleting the sw namespace deleted port-test and so its root-namespace peer; this is for a partial build.
    tryRun('ip', ['link', 'del', `${this.prefix}t`.slice(0, 15)]);
    rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Leftovers of this object (for the cleanup test): namespaces or the root veth still present. */
  leftovers(): string[] {
    const list = tryRun('ip', ['netns', 'list']).ok ? ip(['netns', 'list']) : '';
    const out = [...HOSTS, 'sw' as const].map((h) => this.ns(h)).filter((n) => list.split('\n').some((l) => l.split(' ')[0] === n));
    if (tryRun('ip', ['link', 'show', `${this.prefix}t`.slice(0, 15)]).ok) out.push(`${this.prefix}t`);
    if (existsSync(this.workDir)) out.push(this.workDir);
    return out;
  }
}
