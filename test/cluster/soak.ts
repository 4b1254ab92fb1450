// Soak run (not a test, not in CI): a multi-process run on one nats-server for `--minutes`, with a random fault every
// 30-60 s; prints each fault and, after a drain, where every pair ended up.
// Usage: node dist/test/cluster/soak.js [--minutes 30] [--seed 1] [--every 30-60]
import { join } from 'node:path';
import { Rng } from '../../src/kernels/rng.js';
import { startNatsServer } from '../../src/streams/nats/server.js';
import { accountPairs, actorRecords, ActorProc, checkEveryPairOnce, FAULT_SETS, prepareTinyArtifacts, runSets, sleep, startRun, tempRunsDir, waitAllExit, WireAudit } from './harness.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const FAULTS = ['kill -9 a generator', 'kill -9 the judge', 'kill -9 the learner', 'kill -9 nats-server'] as const;

async function main(): Promise<void> {
  const minutes = Number(arg('minutes', '30'));
  const rng = new Rng(Number(arg('seed', '1')));
  const [lo, hi] = arg('every', '30-60').split('-').map(Number) as [number, number];
  prepareTinyArtifacts();
  const server = await startNatsServer();
  const runId = `soak-${Date.now()}`;
  const runs = tempRunsDir();
  // A budget and a step count no soak reaches: the run goes on until it is stopped.
  const sets = runSets(runs, { ...FAULT_SETS, 'run.prompts': 1_000_000, 'run.promptsPerSecond': 4, 'learner.totalSteps': 1_000_000 });
  const audit = await WireAudit.start(server.url, runId);
  const procs = startRun(server.url, runId, sets, { generators: 2, judges: 1 });
  const all = [...procs.values()];
  const t0 = Date.now();
  const log = (line: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${line}`);
  const killed = new Set<ActorProc>();
  // An actor that exits by itself before the stop is a finding: say so at once, with what it printed last.
  const watch = (p: ActorProc): void => {
    void p.exited.then(({ code, signal }) => {
      if (!killed.has(p)) log(`${p.id} (pid ${p.proc.pid}) exited by itself (code ${code}, signal ${signal}):\n${p.output.slice(-3000)}`);
    });
  };
  all.forEach(watch);
  const restart = (id: string): void => {
    const old = procs.get(id)!;
    const p = new ActorProc(old.role, id, server.url, runId, sets);
    procs.set(id, p);
    all.push(p);
    watch(p);
  };
  const injected: string[] = [];
  try {
    while (Date.now() - t0 < minutes * 60_000) {
      await sleep((lo + rng.next() * (hi - lo)) * 1000);
      if (Date.now() - t0 >= minutes * 60_000) break;
      const fault = FAULTS[Math.floor(rng.next() * FAULTS.length)]!;
      injected.push(fault);
      if (fault === 'kill -9 nats-server') {
        server.kill9();
        await sleep(1500);
        await server.restart();
      } else {
        const id = fault === 'kill -9 a generator' ? `generator-${Math.floor(rng.next() * 2)}` : fault === 'kill -9 the judge' ? 'judge-0' : 'learner';
        killed.add(procs.get(id)!);
        procs.get(id)!.kill('SIGKILL');
        await procs.get(id)!.exited;
        await sleep(500);
        restart(id);
      }
      log(`${fault}; learner at step ${audit.learnerStep}`);
    }
    log('stopping: SIGTERM to every actor (each drains; the learner checkpoints and acks what it trained)');
    for (const p of procs.values()) {
      killed.add(p);
      p.kill('SIGTERM');
    }
    await waitAllExit(procs.values(), 120_000);
    const acc = await accountPairs(server.url, runId, join(runs, runId));
    const records = actorRecords(join(runs, runId));
    const c = checkEveryPairOnce({ runDir: join(runs, runId), audit, acc, records, all, seconds: (Date.now() - t0) / 1000 }, { auditMayMiss: true });
    const counts = FAULTS.map((f) => `${f} x${injected.filter((x) => x === f).length}`).join(', ');
    log(`faults injected: ${injected.length} (${counts})`);
    log(`learner steps ${audit.learnerStep}; pairs seen ${c.made}, trained once ${c.trained}, dead-lettered ${c.dead}, still stored ${c.remaining}; none trained twice, none lost`);
  } catch (err) {
    for (const p of all) if (p.running) p.kill('SIGKILL');
    throw err;
  } finally {
    await audit.close();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`soak failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
