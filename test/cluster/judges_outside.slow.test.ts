// `rlhf-stream cluster --judges 0`: the run starts every actor but the judges, says it waits for judges to join, and a
// judge started by hand (as a user brings one written in another language) carries it to its end.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { natsSkip } from '../helpers/nats_server.js';
import { CLI, prepareTinyArtifacts, runSets, spawnCluster, tempRunsDir, until } from './harness.js';
import { readLedger } from '../../src/run/trained_ledger.js';

describe('a run judged only from outside', { skip: natsSkip() }, () => {
  before(() => prepareTinyArtifacts());

  it('cluster --judges 0 waits for a judge to join, then runs to its end', async () => {
    const runs = tempRunsDir();
    const runDir = join(runs, 'outside');
    const sets = runSets(runs, { 'learner.totalSteps': 4 });
    const { child, output, exited } = spawnCluster(['--config', 'config/tiny.yaml', ...sets, '--run', 'outside', '--generators', '1', '--judges', '0', '--no-evaluator']);
    let judgeOut = '';
    try {
      const waits = /no judge processes: the run waits for judges to join, e\.g\. `(rlhf-stream actor judge --config (\S+) --nats (\S+) --run outside)`/;
      await until('the launcher saying it waits for judges', () => waits.test(output.err) || child.exitCode !== null, 120_000);
      assert.match(output.err, waits, output.err.slice(-3000));
      const [, , configFile, natsUrl] = waits.exec(output.err)!;
      assert.equal(configFile, join(runDir, 'config.json'));
      // The generator fills the samples stream; with nobody judging, nothing is trained.
      await until('a generator sampling', () => /generator-0 \| generator generator-0 running/.test(output.err), 60_000);
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(existsSync(join(runDir, 'trained_pairs.jsonl')) ? readLedger(join(runDir, 'trained_pairs.jsonl')).length : 0, 0);
      assert.equal(child.exitCode, null, 'the run waits instead of ending');

      // The command the launcher printed, as a user would paste it.
      const judge = spawn(process.execPath, [CLI, 'actor', 'judge', '--config', configFile!, '--nats', natsUrl!, '--run', 'outside', '--id', 'judge-by-hand'], { stdio: ['ignore', 'pipe', 'pipe'] });
      judge.stdout.on('data', (b: Buffer) => (judgeOut += b.toString()));
      judge.stderr.on('data', (b: Buffer) => (judgeOut += b.toString()));
      const judgeExit = new Promise<number | null>((resolve) => judge.once('exit', resolve));
      const code = await exited;
      assert.equal(code, 0, output.err.slice(-4000));
      assert.equal(await judgeExit, 0, judgeOut.slice(-3000));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    assert.match(output.out, /run outside ended \(totalSteps\)/);
    assert.match(output.out, /actors: 1 generators, 0 judges/);
    assert.match(output.out, /mode streaming: 4 learner steps/);
    assert.equal(readLedger(join(runDir, 'trained_pairs.jsonl')).flatMap((e) => e.pairs).length, 4 * 4);
  });

  it('the in-process run refuses judge.count 0, saying why', () => {
    const r = spawnSync(process.execPath, [CLI, 'run', '--config', 'config/tiny.yaml', '--set', 'judge.count=0'], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /judge\.count 0 needs bus\.kind=nats/);
  });
});
