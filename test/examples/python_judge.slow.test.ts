// The example external judge in Python (examples/python-judge), written from docs/protocol.md alone with no NATS
// library (the raw client protocol over a socket, JetStream by request/reply, Debian's python3-msgpack), judges a
// whole run started with `cluster --judges 0`: its dead letter passes the TypeScript validator, the run ends on its
// pairs, the judge exits when the learner writes `end`, and the run's summary counts its pairs by its actor id.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { NatsBus } from '../../src/streams/nats/bus.js';
import type { DeadLetterMsg } from '../../src/streams/topics.js';
import { readLedger } from '../../src/run/trained_ledger.js';
import { natsSkip } from '../helpers/nats_server.js';
import { prepareTinyArtifacts, runSets, spawnCluster, tempRunsDir, testConfig, until } from '../cluster/harness.js';

/** A python3 that imports msgpack: the one on PATH, else the system's (Debian's python3-msgpack installs there). */
const PYTHON = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import msgpack']).status === 0);

function skipReason(): string | false {
  if (!PYTHON) return 'needs python3 with msgpack (Debian: python3-msgpack)';
  return natsSkip();
}

describe('the Python example judge, alone in a live run', { skip: skipReason() }, () => {
  before(() => prepareTinyArtifacts());

  it('judges a run started with --judges 0 to its end', async () => {
    const runs = tempRunsDir();
    const runDir = join(runs, 'pyjudge');
    const sets = runSets(runs, { 'learner.totalSteps': 6 });
    const { child, output, exited } = spawnCluster(['--config', 'config/tiny.yaml', ...sets, '--run', 'pyjudge', '--generators', '1', '--judges', '0', '--no-evaluator']);
    let judgeOut = '';
    let bus: NatsBus | undefined;
    const letters: DeadLetterMsg[] = [];
    try {
      const waits = /no judge processes: the run waits for judges to join, e\.g\. `rlhf-stream actor judge --config \S+ --nats (\S+) --run pyjudge`/;
      await until('the launcher saying it waits for judges', () => waits.test(output.err) || child.exitCode !== null, 120_000);
      const natsUrl = waits.exec(output.err)?.[1];
      assert.ok(natsUrl, output.err.slice(-3000));
      bus = await NatsBus.connect({ ...testConfig(runs).bus, kind: 'nats', servers: [natsUrl] }, 'pyjudge', { log: () => {} });
      // A group the Python judge must dead-letter: not msgpack at all.
      await bus.publishRaw('samples', new Uint8Array([0xc1, 0xc1]));
      const dead = bus.consume('dead', { durable: 'audit' });
      const reading = (async () => {
        for await (const d of dead) {
          letters.push(d.data);
          await d.ack();
        }
      })();
      const judge = spawn(PYTHON!, ['examples/python-judge/judge.py', '--nats', natsUrl, '--run', 'pyjudge', '--id', 'py-judge'], { stdio: ['ignore', 'pipe', 'pipe'] });
      judge.stdout.on('data', (b: Buffer) => (judgeOut += b.toString()));
      judge.stderr.on('data', (b: Buffer) => (judgeOut += b.toString()));
      const judgeExit = new Promise<number | null>((resolve) => judge.once('exit', resolve));
      await until(`the Python judge's dead letter (its output: ${judgeOut})`, () => letters.length >= 1 || judge.exitCode !== null, 60_000);
      await dead.stop();
      await reading;
      await bus.close();
      bus = undefined;
      const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 240_000).unref())]);
      assert.equal(code, 0, `launcher: ${output.err.slice(-3000)}\njudge: ${judgeOut.slice(-3000)}`);
      assert.equal(await judgeExit, 0, judgeOut.slice(-3000));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await bus?.close();
    }
    assert.match(judgeOut, /py-judge: run pyjudge, vocabulary 512, durable 'judges', maxDeliver 5/);
    assert.match(judgeOut, /py-judge: the run ended; exiting/);
    assert.equal(letters.length, 1, letters.map((l) => l.reason).join('\n'));
    assert.equal(letters[0]!.topic, 'samples');
    assert.match(letters[0]!.reason, /^samples: not a valid sample group: not valid msgpack/);
    assert.deepEqual([...letters[0]!.payload], [0xc1, 0xc1]);

    assert.match(output.out, /run pyjudge ended \(totalSteps\)/);
    const trained = readLedger(join(runDir, 'trained_pairs.jsonl')).flatMap((e) => e.pairs);
    assert.equal(trained.length, 6 * 4);
    assert.equal(new Set(trained.map((p) => p.pairId)).size, trained.length, 'no pair trained twice');
    const { summary } = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
    assert.ok(summary.metrics['py-judge'].judge_pairs_total >= trained.length, JSON.stringify(summary.metrics['py-judge']));
    assert.ok(summary.pairs >= trained.length, `summary pairs ${summary.pairs}`);
    assert.equal(summary.metrics.learner.learner_pairs_invalid_total ?? 0, 0, 'the learner accepted every Python pair');
    // The Python judge passes the behaviour log-probs on: the learner checked weight sync on its pairs and found it held.
    assert.ok(summary.metrics.learner.learner_sync_samples_checked_total > 0, JSON.stringify(summary.metrics.learner));
    assert.equal(summary.metrics.learner.learner_sync_samples_unchecked_total ?? 0, 0);
    assert.equal(summary.metrics.learner.learner_sync_warnings_total ?? 0, 0);
  });
});
