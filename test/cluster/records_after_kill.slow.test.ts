// The run's summary after actors were killed with SIGKILL (they never wrote their records): what it counts matches the
// ledger of checkpoints and the metrics every actor published, by actor id.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { natsSkip } from '../helpers/nats_server.js';
import { prepareTinyArtifacts, runSets, spawnCluster, tempRunsDir, until } from './harness.js';
import { readLedger } from '../../src/run/trained_ledger.js';

describe('run records after SIGKILL', { skip: natsSkip() }, () => {
  before(() => prepareTinyArtifacts());

  it('summary.json counts the trained pairs of the ledger and the pairs of a judge killed before its record', async () => {
    const runs = tempRunsDir();
    const runDir = join(runs, 'killed');
    const ledgerFile = join(runDir, 'trained_pairs.jsonl');
    const sets = runSets(runs, { 'run.prompts': 400, 'run.promptsPerSecond': 6, 'learner.totalSteps': 16, 'bus.ackWaitMs': 3000 });
    const { child, output, exited } = spawnCluster(['--config', 'config/tiny.yaml', ...sets, '--run', 'killed', '--generators', '1', '--judges', '1', '--no-evaluator']);
    try {
      await until('a first checkpoint', () => readLedger(ledgerFile).length >= 1 || child.exitCode !== null, 120_000);
      const table = JSON.parse(readFileSync(join(runDir, 'processes.json'), 'utf8')) as Record<string, { pid: number }>;
      // Both die without writing their records: the judge after it paired groups, the learner after it trained.
      process.kill(table['judge-0']!.pid, 'SIGKILL');
      process.kill(table.learner!.pid, 'SIGKILL');
      const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 240_000).unref())]);
      assert.equal(code, 0, output.err.slice(-4000));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    assert.match(output.out, /restarts after crashes: (judge-0 1, learner 1|learner 1, judge-0 1)/);
    const trained = readLedger(ledgerFile).flatMap((e) => e.pairs);
    assert.equal(trained.length, 16 * 4);
    const { summary, headline } = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
    assert.equal(summary.steps, 16);
    assert.equal(summary.pairsTrained, trained.length, 'pairs trained as the ledger has them');
    // Every trained pair was made by a judge and stored on the pairs stream: the killed incarnation's pairs count too.
    assert.ok(summary.pairs >= trained.length, `pairs ${summary.pairs} < trained ${trained.length}`);
    // The judge's counters add its killed incarnation's last report to its second one's record.
    assert.ok(summary.metrics['judge-0'].judge_pairs_total > 0);
    assert.ok(Math.abs(headline.stepsPerSecond - 16 / headline.wallSeconds) < 1e-9);
  });
});
