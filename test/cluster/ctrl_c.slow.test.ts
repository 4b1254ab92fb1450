// Ctrl-C in a terminal: SIGINT reaches the launcher and every actor of its process group at once, then the launcher
// asks each actor to stop with SIGTERM. Every actor drains and the learner checkpoints what it trained.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { natsSkip } from '../helpers/nats_server.js';
import { prepareTinyArtifacts, runSets, spawnCluster, tempRunsDir, until } from './harness.js';
import { readLedger } from '../../src/run/trained_ledger.js';

describe('Ctrl-C on a cluster run', { skip: natsSkip() }, () => {
  before(() => prepareTinyArtifacts());

  it('SIGINT to the whole process group drains every actor and leaves a checkpoint of every trained step', async () => {
    const runs = tempRunsDir();
    const runDir = join(runs, 'ctrlc');
    const ledgerFile = join(runDir, 'trained_pairs.jsonl');
    // A run far longer than the test: it only ends by the signal.
    const sets = runSets(runs, { 'learner.totalSteps': 10_000, 'run.prompts': 4000, 'run.promptsPerSecond': 8 });
    // Its own process group, as a shell gives a foreground job: the group's id is the launcher's pid.
    const { child, output, exited } = spawnCluster(['--config', 'config/tiny.yaml', ...sets, '--run', 'ctrlc', '--generators', '1', '--judges', '1', '--no-evaluator'], { detached: true });
    try {
      await until('a first checkpoint', () => readLedger(ledgerFile).length >= 1 || child.exitCode !== null, 120_000);
      // Steps trained after the last checkpoint are held unacked: the stop must checkpoint them.
      const atSignal = readLedger(ledgerFile).at(-1)!.step;
      const statusStep = (): number => Math.max(0, ...[...output.err.matchAll(/^\[\d+s\] .*\| step (\d+) \|/gm)].map((m) => Number(m[1])));
      await until('a step past the checkpoint', () => statusStep() > atSignal, 60_000);
      process.kill(-child.pid!, 'SIGINT');
      const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 120_000).unref())]);
      assert.equal(code, 0, `launcher exit ${code}:\n${output.err.slice(-4000)}`);
      assert.ok(atSignal >= 1);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
    assert.doesNotMatch(output.err, /exiting without draining/, output.err.slice(-4000));
    assert.match(output.err, /^learner \| SIGINT: draining/m);
    assert.match(output.err, /^learner \| SIGTERM: already draining/m);
    const stopped = /^learner \| learner: stopped at step (\d+), version (\d+)/m.exec(output.err);
    assert.ok(stopped, output.err.slice(-4000));
    const steps = Number(stopped[1]);
    // The last ledger line is the checkpoint the stop wrote: every step the learner made is in it.
    const ledger = readLedger(ledgerFile);
    assert.equal(ledger.at(-1)!.step, steps);
    assert.equal(ledger.flatMap((e) => e.pairs).length, steps * 4);
    assert.match(output.out, new RegExp(`run ctrlc stopped before its end`));
    assert.match(output.out, new RegExp(`mode streaming: ${steps} learner steps, policy version ${stopped[2]}`));
  });
});
