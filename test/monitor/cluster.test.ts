// The monitor attached to a real local cluster (actors with fake compute ports): its numbers match the run's own summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCluster } from '../../src/run/local_cluster.js';
import { attachMonitor } from '../../src/monitor/index.js';
import { bus as makeBus, config, decode, FakeLearnerPort, FakePolicy, FakeScorer, prompts } from '../actors/fakes.js';

test('monitor totals, versions and lag agree with the cluster summary; the report is written', async () => {
  const bus = makeBus('mon-cluster');
  const cfg = config({
    run: { mode: 'streaming', prompts: 200 },
    generator: { count: 2, samplesPerPrompt: 4, promptsPerBatch: 2, maxNewTokens: 6 },
    judge: { count: 1, batchSize: 8 },
    learner: { batchSize: 4, publishEvery: 1, checkpointEvery: 2, totalSteps: 10, maxPolicyLag: 2, stalePairs: 'drop' },
    monitor: { intervalMs: 50 },
  });
  const dir = mkdtempSync(join(tmpdir(), 'monitor-cluster-'));
  const mon = await attachMonitor(bus, cfg, { runDir: dir, log: () => {} });
  try {
    const cluster = await startLocalCluster(
      cfg,
      bus,
      { policy: () => new FakePolicy(5), scorer: () => new FakeScorer(), learner: new FakeLearnerPort(15), decode },
      { prompts: prompts(20), checkpointDir: join(dir, 'ck') },
    );
    const s = await cluster.done;
    await mon.stop();
    const snap = mon.aggregator.snapshot();
    assert.equal(snap.totals.steps, s.steps);
    assert.equal(snap.totals.samples, s.samplesGenerated);
    assert.equal(snap.totals.pairs, s.pairs);
    assert.equal(snap.policy.version, s.version);
    const lag = snap.policy.lag!;
    assert.ok(lag.count >= s.pairsTrained, `lag observations ${lag.count}, pairs trained ${s.pairsTrained}`);
    assert.ok(lag.max! <= cfg.learner.maxPolicyLag + 10);
    assert.notEqual(snap.quality.loss, null);
    const roles = new Set(snap.actors.map((a) => a.role));
    for (const r of ['generator', 'judge', 'learner']) assert.ok(roles.has(r), `no ${r} in ${[...roles]}`);
    // Actors report 'stopped' in their last message: the monitor shows them stopped, not dead.
    assert.ok(snap.actors.filter((a) => a.role === 'generator').every((a) => a.liveness === 'stopped'), JSON.stringify(snap.actors.map((a) => [a.actorId, a.state])));
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.match(md, new RegExp(`\\| learner steps \\(total, mean/s\\) \\| ${s.steps} \\(`));
    assert.ok(existsSync(join(dir, 'policy_lag_hist.svg')));
  } finally {
    await mon.stop();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
