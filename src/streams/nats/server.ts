// Starts a local nats-server with JetStream on a free port and its own storage folder (tests, bench, `cluster`).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusError } from '../bus.js';

export interface NatsServerOptions {
  auth?: { token?: string; user?: string; pass?: string };
  /** JetStream storage folder; a fresh temporary one (removed on stop) when omitted. */
  storeDir?: string;
  port?: number;
  /** Largest message the server accepts (its default is 1 MiB; weights chunks and sample groups may be larger). */
  maxPayloadBytes?: number;
  binary?: string;
  /** Further nats-server config lines (an authorization block with per-role users, tls { ... }, cluster { ... }). */
  extraConfig?: string;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
}

export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  /** SIGTERM, then SIGKILL after 5 s; removes the folders it created. */
  stop(): Promise<void>;
  /** Kills the server at once (a crash); the storage folder stays for restart(). */
  kill9(): void;
  /** Starts the server again on the same port and storage folder. */
  restart(): Promise<void>;
}

/** True when the nats-server binary can be run. */
export function natsServerAvailable(binary = 'nats-server'): boolean {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

const quote = (s: string): string => JSON.stringify(s);

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = opts.binary ?? 'nats-server';
  if (!natsServerAvailable(binary)) throw new BusError(`cannot run ${binary}; install nats-server (Debian: apt-get install nats-server) or put it on PATH`);
  const port = opts.port ?? (await freePort());
  const workDir = mkdtempSync(join(tmpdir(), 'rlhf-nats-'));
  const storeDir = opts.storeDir ?? join(workDir, 'js');
  // A config file, because max_payload and authorization have no command-line flags in 2.9.
  const lines = [
    `listen: "${opts.host ?? '127.0.0.1'}:${port}"`,
    `max_payload: ${opts.maxPayloadBytes ?? 8 * 1024 * 1024}`,
    `jetstream { store_dir: ${quote(storeDir)} }`,
  ];
  const auth = opts.auth;
  if (auth?.token) lines.push(`authorization { token: ${quote(auth.token)} }`);
  else if (auth?.user) lines.push(`authorization { user: ${quote(auth.user)}, password: ${quote(auth.pass ?? '')} }`);
  if (opts.extraConfig) lines.push(opts.extraConfig);
  const confFile = join(workDir, 'nats.conf');
  writeFileSync(confFile, lines.join('\n') + '\n');

  let child: ChildProcess | undefined;
  let output = '';
  const launch = async (): Promise<void> => {
    output = '';
    // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and the server must outlive the
    // actors' drain (the learner's checkpoint acks go through it); whoever started it stops it.
    const proc = spawn(binary, ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child = proc;
    // Out of the group, it would outlive a starter that exits without stopping it (a second Ctrl-C exits at once).
    const orphaned = (): void => void proc.kill('SIGTERM');
    process.once('exit', orphaned);
    proc.once('exit', () => process.off('exit', orphaned));
    const keep = (b: Buffer): void => {
      output = (output + b.toString()).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new BusError(`nats-server exited with code ${proc.exitCode} while starting on port ${port}:\n${output}`);
      // JetStream is ready shortly after the listener: the log line says so.
      if ((await accepts(port)) && /Server is ready/.test(output)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new BusError(`nats-server did not accept connections on port ${port} within 10 s:\n${output}`);
  };
  const exited = (proc: ChildProcess): Promise<void> =>
    proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', () => r()));

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    async stop() {
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited(proc);
        clearTimeout(timer);
      }
      // Removes the config and, when the caller gave none, the storage folder inside it.
      rmSync(workDir, { recursive: true, force: true });
    },
    kill9() {
      child?.kill('SIGKILL');
    },
    async restart() {
      if (child) await exited(child);
      await launch();
    },
  };
}
