// One actor process of a multi-process run, as the launcher supervises it: spawned, its output forwarded, restarted.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ActorRole } from './actor_process.js';

export interface ActorSpec {
  id: string;
  role: ActorRole;
}

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

/** The compiled CLI entry next to this file, which every actor process runs. */
const CLI_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** One supervised actor process; restarted after a crash, left alone after a clean exit. */
export class Supervised {
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
    /** How this process is placed: a command in front (taskset -c ...) and arguments after (--set compute.nativeThreads=N). */
    private readonly placed: { prefix: string[]; args: string[] } = { prefix: [], args: [] },
    /** Variables added to the process's environment: the secrets its config file leaves out. */
    private readonly env: Record<string, string> = {},
  ) {}

  start(): void {
    const argv = [process.execPath, CLI_MAIN, 'actor', this.spec.role, ...this.args, ...this.placed.args, '--id', this.spec.id];
    const [cmd, ...rest] = [...this.placed.prefix, ...argv];
    // taskset execs the command: the pid is the actor's own.
    const proc = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
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

/** Waits for every actor to exit; SIGTERM after `graceMs`, SIGKILL after as long again. */
export async function stopAll(children: readonly Supervised[], graceMs: number, log: (line: string) => void): Promise<void> {
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
