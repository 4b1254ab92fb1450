// A one-process run killed with SIGKILL after a checkpoint and started again under the same run.id: its bus (and the
// weight store in it) died with the process, but the learner resumes from the checkpoint, announces the restored
// weights, and the generators sample from them, so the run trains to its last step with no pair trained twice.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readLedger } from '../../src/run/trained_ledger.js';
import { CACHE_DIR, CLI, tempRunsDir, until } from '../cluster/harness.js';

test('a one-process run killed after a checkpoint and restarted under the same run.id trains to its last step, each pair once', async () => {
  const runs = tempRunsDir();
  // maxPolicyLag 1: pairs sampled from the base weights (version 0) are too stale for a learner restored at version 2.
  const args = ['run', '--config', 'config/tiny.yaml', '--set', `run.cacheDir=${CACHE_DIR}`, '--set', `run.dir=${runs}`, '--set', 'run.id=restart'];
  args.push('--set', 'learner.totalSteps=12', '--set', 'learner.maxPolicyLag=1', '--set', 'run.prompts=256');
  const runDir = join(runs, 'restart');
  const ledger = join(runDir, 'trained_pairs.jsonl');

  const first = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  first.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => first.once('exit', resolve));
  await until('the checkpoint at step 4', () => readLedger(ledger).some((e) => e.step >= 4), 240_000);
  first.kill('SIGKILL');
  await exited;
  const before = readLedger(ledger);
  const killedAt = Math.max(...before.map((e) => e.step));
  assert.ok(killedAt < 12, `killed before the end (at step ${killedAt}); stderr:\n${err}`);

  const second = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(second.status, 0, second.stderr);
  const after = readLedger(ledger);
  assert.equal(Math.max(...after.map((e) => e.step)), 12, 'the restarted run trained to learner.totalSteps');
  const ids = after.flatMap((e) => e.pairs.map((p) => p.pairId));
  assert.equal(new Set(ids).size, ids.length, 'no pair trained twice');
  // The restart announced the checkpoint's weights as a version of their own, at the checkpoint's step.
  const publishes = after.flatMap((e) => e.publishes ?? []);
  const restored = before.find((e) => e.step === Math.max(...before.map((x) => x.step)))!;
  assert.ok(
    publishes.some((p) => p.step === restored.step && p.version === restored.version + 1),
    `a version ${restored.version + 1} at step ${restored.step} among ${JSON.stringify(publishes.map((p) => [p.version, p.step]))}`,
  );
  assert.ok(existsSync(join(runDir, 'summary.json')), 'the restarted run wrote its summary');

  // Its records replay: every version, the restore's announcement included, and the last checkpoint equal.
  const replay = spawnSync(process.execPath, [CLI, 'replay', '--run', runDir], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(replay.status, 0, replay.stderr + replay.stdout);
  assert.match(replay.stdout, /every version equal to the original; the checkpoint at step 12 bit-identical/);
});
