// `rlhf-stream cluster` on the tiny config: its own nats-server, each actor a process, the learner to totalSteps.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { natsSkip } from '../helpers/nats_server.js';
import { actorRecords, CACHE_DIR, CLI, prepareTinyArtifacts, runSets, spawnCluster, tempRunsDir, total, until } from './harness.js';
import { readLedger } from '../../src/run/trained_ledger.js';

const portOpen = (url: string): Promise<boolean> =>
  new Promise((resolve) => {
    const u = new URL(url);
    const s = createConnection({ host: u.hostname, port: Number(u.port) });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

describe('rlhf-stream cluster', { skip: natsSkip() }, () => {
  before(() => prepareTinyArtifacts());

  it('an actor refuses to start without the cached artifacts and says how to make them', () => {
    const r = spawnSync(process.execPath, [CLI, 'actor', 'generator', '--config', 'config/tiny.yaml', '--set', 'run.cacheDir=/nonexistent/cache', '--run', 'x', '--nats', 'nats://127.0.0.1:1'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error: data artifacts are missing or stale .*rlhf-stream cluster.*rlhf-stream run/);
    const bad = spawnSync(process.execPath, [CLI, 'actor', 'trainer', '--run', 'x'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /actor needs a role, one of source, generator, judge, learner, evaluator; got "trainer"/);
  });

  it('runs the tiny run with every actor in its own process to totalSteps, then stops its nats-server', async () => {
    const runs = tempRunsDir();
    // tiny.yaml with 12 steps instead of 6: the generators run ahead by the backlog limit (batchSize * publishEvery *
    // maxPolicyLag = 16 groups), so the first steps train SFT samples and only later ones those of published versions.
    const args = ['--config', 'config/tiny.yaml', ...runSets(runs, { 'learner.totalSteps': 12, 'run.prompts': 96 }), '--run', 'cl', '--generators', '2', '--judges', '2'];
    const { output, exited } = spawnCluster(args);
    const code = await exited;
    assert.equal(code, 0, output.err.slice(-4000));
    const runDir = join(runs, 'cl');

    // The launcher prepared nothing new (the cache was ready), started a server, forwarded prefixed actor logs.
    assert.match(output.err, /cached data, SFT and reward model reused/);
    assert.match(output.err, /nats-server started at (nats:\/\/127\.0\.0\.1:\d+)/);
    const url = /nats-server started at (nats:\/\/127\.0\.0\.1:\d+)/.exec(output.err)![1]!;
    assert.match(output.err, /^generator-1 \| generator generator-1 running in run cl/m);
    assert.match(output.err, /^learner \| learner: run done \(totalSteps\) at step 12, version 6/m);
    // The step runs in a worker thread, so a long one does not stop the learner process's metrics, acks and drain check;
    // its backend is the process's, so the line is not said again.
    assert.match(output.err, /^learner \| learner worker thread: started, same backend$/m);
    assert.match(output.out, /run cl ended \(totalSteps\)/);
    assert.match(output.out, /restarts after crashes: none/);
    assert.match(output.out, /mode streaming: 12 learner steps, policy version 6/);
    assert.equal(await portOpen(url), false, 'the launcher stopped its nats-server');

    // Only the newest bus.weightsKept (3) versions' same-host files are left.
    assert.deepEqual(readdirSync(join(runDir, 'weights')).sort(), ['cl-v4.bin', 'cl-v5.bin', 'cl-v6.bin']);

    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
    assert.equal(summary.end.reason, 'totalSteps');
    assert.equal(summary.summary.steps, 12);
    assert.equal(summary.summary.version, 6);
    assert.ok(summary.summary.samplesGenerated > 0 && summary.summary.pairs > 0);
    assert.ok(summary.summary.evals.length >= 1, 'the evaluator process reported');
    // Every actor process times its bus calls; the headline gives their sum over the wall-clock.
    const share = summary.headline.busCallShare;
    assert.ok(typeof share === 'number' && share > 0 && share < 5, `busCallShare ${share}`);
    assert.ok(Object.values(summary.summary.metrics as Record<string, Record<string, number>>).every((m) => m.bus_calls_total! > 0), 'each process counted its bus calls');
    assert.ok(existsSync(join(runDir, 'report.md')), 'the attached monitor wrote its report');

    // Seven processes, each wrote its record on exit after the end of the run.
    const recs = actorRecords(runDir);
    assert.deepEqual(recs.map((r) => r.actorId).sort(), ['evaluator', 'generator-0', 'generator-1', 'judge-0', 'judge-1', 'learner', 'source']);
    assert.ok(recs.every((r) => r.exit === 'end'), 'every actor left because the run ended');
    assert.ok(total(recs, 'generator_weight_loads_total') > 0, 'generators loaded published weights');
    const gens = recs.filter((r) => r.role === 'generator');
    assert.ok(gens.every((r) => (r.metrics.generator_samples_total ?? 0) > 0), 'both generators sampled');
    assert.equal(total(recs, 'learner_pairs_trained_total'), 12 * 4);

    // Every trained pair is in the ledger once, within maxPolicyLag (2 in tiny.yaml); some were sampled by version > 0.
    const ledger = readLedger(join(runDir, 'trained_pairs.jsonl'));
    const ids = ledger.flatMap((e) => e.pairs.map((p) => p.pairId));
    assert.equal(ids.length, 48);
    assert.equal(new Set(ids).size, ids.length, 'no pair trained twice');
    assert.ok(ledger.flatMap((e) => e.pairs).every((p) => p.lag <= 2 && p.weight === 1));
    assert.ok(ledger.flatMap((e) => e.pairs).some((p) => Math.min(...p.versions) > 0), 'pairs sampled after a weight swap were trained');
    assert.equal(ledger.at(-1)!.step, 12);
    assert.ok(existsSync(CACHE_DIR));
  });

  it('restarts an actor that crashed: kill -9 of the learner mid-run, the launcher brings it back and the run completes', async () => {
    const runs = tempRunsDir();
    const runDir = join(runs, 'sup');
    const sets = runSets(runs, { 'run.prompts': 400, 'run.promptsPerSecond': 6, 'learner.totalSteps': 16, 'bus.ackWaitMs': 3000 });
    const { child, output, exited } = spawnCluster(['--config', 'config/tiny.yaml', ...sets, '--run', 'sup', '--generators', '1', '--judges', '1', '--no-evaluator']);
    try {
      await until('a first checkpoint', () => readLedger(join(runDir, 'trained_pairs.jsonl')).length >= 1, 60_000);
      const table = JSON.parse(readFileSync(join(runDir, 'processes.json'), 'utf8')) as Record<string, { pid: number }>;
      process.kill(table.learner!.pid, 'SIGKILL');
      const code = await exited;
      assert.equal(code, 0, output.err.slice(-4000));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    assert.match(output.err, /learner killed by SIGKILL; restarting it \(1\/3\)/);
    assert.match(output.err, /learner \| learner: restored checkpoint at step \d+/);
    assert.match(output.out, /restarts after crashes: learner 1/);
    assert.match(output.out, /mode streaming: 16 learner steps/);
    const ids = readLedger(join(runDir, 'trained_pairs.jsonl')).flatMap((e) => e.pairs.map((p) => p.pairId));
    assert.equal(ids.length, 16 * 4);
    assert.equal(new Set(ids).size, ids.length, 'no pair trained twice');
  });
});

