// A crash while a checkpoint is written leaves the previous checkpoint intact and loadable: interrupted between the write
// and commit phases, between the commit's two renames, by SIGKILL at random points of a save loop, and inside a learner.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { Learner } from '../../src/actors/learner.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import type { LearnerPort, StepStats } from '../../src/actors/ports.js';
import { commitCheckpoint, loadCheckpoint, saveCheckpoint, writeCheckpointTemp, type CheckpointContents } from '../../src/checkpoint/checkpoint.js';
import { Rng } from '../../src/kernels/rng.js';
import type { PairMsg } from '../../src/streams/topics.js';
import { bus as makeBus, config, pair, until } from '../actors/fakes.js';
import { loadedStep, stepContents } from '../helpers/step_checkpoint.js';

/** A pid that no process has any more (a crashed saver's). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

describe('checkpoint crash safety', () => {
  it('a save interrupted between its write phase and its commit leaves the previous checkpoint loadable', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rel-ck-'));
    const dir = join(root, 'ck');
    await saveCheckpoint(dir, stepContents(1));
    const tmp = await writeCheckpointTemp(dir, stepContents(2));
    // The process dies here: the temp folder is complete but never renamed in.
    assert.ok(existsSync(tmp));
    assert.equal(await loadedStep(dir), 1);
    await saveCheckpoint(dir, stepContents(3));
    assert.equal(await loadedStep(dir), 3);
  });

  it('a save that died between the commit\'s two renames is recovered: the previous checkpoint is put back and loads', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rel-ck-'));
    const dir = join(root, 'ck');
    await saveCheckpoint(dir, stepContents(4));
    await writeCheckpointTemp(dir, stepContents(5));
    // What commitCheckpoint's first rename leaves when the process dies before the second: the old folder aside.
    const aside = join(root, `.ck.old-${deadPid()}-1`);
    renameSync(dir, aside);
    assert.equal(existsSync(dir), false);
    assert.equal(await loadedStep(dir), 4, 'the previous checkpoint is restored, not reported missing');
    assert.equal(existsSync(aside), false);
    // The next save after such a recovery commits normally.
    await saveCheckpoint(dir, stepContents(6));
    assert.equal(await loadedStep(dir), 6);
  });

  it('a save started after a crash between the renames does not lose the previous checkpoint either', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rel-ck-'));
    const dir = join(root, 'ck');
    await saveCheckpoint(dir, stepContents(7));
    renameSync(dir, join(root, `.ck.old-${deadPid()}-3`));
    const tmp = await writeCheckpointTemp(dir, stepContents(8));
    // Dies again before committing: the load must still find step 7.
    assert.equal(await loadedStep(dir), 7);
    await commitCheckpoint(tmp, dir);
    assert.equal(await loadedStep(dir), 8);
    assert.deepEqual(readdirSync(root).filter((n) => n.includes('.old-')), [], 'no folder is left aside');
  });

  it('SIGKILL at random points of a save loop: every load afterwards is a whole checkpoint, never older than the last committed one', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'rel-ck-kill-'));
    const dir = join(root, 'ck');
    const child = join(process.cwd(), 'dist', 'test', 'reliability', 'checkpoint_saver_child.js');
    const rng = new Rng(20240611);
    let step = 0;
    const kills = 12;
    const outcome = { betweenRenames: 0, asideLeft: 0, tempLeft: 0, newerThanReported: 0 };
    for (let k = 0; k < kills; k++) {
      const proc = spawn(process.execPath, [child, dir, String(step + 1)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let committed = -1;
      let err = '';
      proc.stdout.on('data', (b: Buffer) => {
        const lines = b.toString().trim().split('\n');
        committed = Number(lines.at(-1));
      });
      proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
      // Wait for at least one committed save, then kill after a random further delay (mid-write, mid-commit or between saves).
      await until(() => committed >= 0 || proc.exitCode !== null, 10_000, 'the first save of the child');
      assert.equal(proc.exitCode, null, err);
      await new Promise((r) => setTimeout(r, rng.int(40)));
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
      const left = readdirSync(root);
      if (!left.includes('ck')) outcome.betweenRenames++;
      if (left.some((n) => n.includes('.tmp-'))) outcome.tempLeft++;
      if (left.some((n) => n.includes('.old-'))) outcome.asideLeft++;
      const loaded = await loadedStep(dir);
      if (loaded > committed) outcome.newerThanReported++;
      assert.ok(loaded >= committed, `loaded step ${loaded} is older than the last committed ${committed}`);
      assert.ok(loaded <= committed + 1, `loaded step ${loaded} was never started (last committed ${committed})`);
      step = loaded;
    }
    t.diagnostic(`${kills} kills: ${outcome.betweenRenames} between the commit's renames (recovered), ${outcome.asideLeft} left the previous folder aside, ${outcome.tempLeft} left a temp folder, ${outcome.newerThanReported} after a commit not yet reported`);
    // Stale temp folders of the killed savers are swept by the next save.
    await saveCheckpoint(dir, stepContents(step + 1));
    assert.deepEqual(readdirSync(root).filter((n) => n !== 'ck'), [], 'leftover folders are removed');
  });
});

/** A learner port on real checkpoint files; `crashInSave` makes that save die after its write phase. */
class FileLearnerPort implements LearnerPort {
  steps = 0;
  saves = 0;
  crashInSave = 0;
  readonly trained: string[] = [];
  async step(pairs: PairMsg[]): Promise<StepStats> {
    this.steps++;
    this.trained.push(...pairs.map((p) => p.pairId));
    return { loss: 0.5, gradNorm: 1, lr: 1e-3, rewardMargin: 0, rewardAccuracy: 0.5 };
  }
  async exportWeights(): Promise<Uint8Array> {
    return new Uint8Array([this.steps, 0, 0, 0]);
  }
  async saveCheckpoint(dir: string, state: Record<string, unknown>): Promise<void> {
    this.saves++;
    const c: CheckpointContents = { weights: { w: { dtype: 'F32', shape: [4], data: new Float32Array(4).fill(this.steps) } }, config: { steps: this.steps }, state: { ...state, portSteps: this.steps } };
    if (this.saves === this.crashInSave) {
      await writeCheckpointTemp(dir, c);
      throw new Error('simulated crash between the checkpoint write and its commit');
    }
    await saveCheckpoint(dir, c);
  }
  async loadCheckpoint(dir: string): Promise<Record<string, unknown> | undefined> {
    if (!existsSync(dir) && !readdirSync(join(dir, '..')).some((n) => n.includes('.old-'))) return undefined;
    const ck = await loadCheckpoint(dir);
    this.steps = (ck.state as { portSteps: number }).portSteps;
    assert.ok((ck.weights.w!.data as Float32Array).every((x) => x === this.steps), 'weights match the saved step');
    return ck.state;
  }
  async close(): Promise<void> {}
}

describe('learner crash during a checkpoint', () => {
  it('the previous checkpoint survives, the restarted learner resumes from it and trains the uncovered pairs once', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rel-learner-ck-')), 'checkpoints');
    const cfg = config({ learner: { batchSize: 2, publishEvery: 1000, checkpointEvery: 2, totalSteps: 1000, maxPolicyLag: 1000 } }).learner;
    const bus = makeBus('test', { ackWaitMs: 300 });
    const portA = new FileLearnerPort();
    portA.crashInSave = 2;
    const a = new Learner({ bus, port: portA, clock: systemClock, metrics: new MetricsRegistry() }, { learnerId: 'l', config: cfg, checkpointDir: dir, heartbeatMs: 50 });
    a.start();
    for (let i = 0; i < 8; i++) await bus.publish('pairs', pair(`p${i}`, 0), { msgId: `p${i}` });
    await assert.rejects(a.finished, /simulated crash/);
    await a.stop().catch(() => undefined);
    assert.equal(bus.counters().acked.pairs, 4, 'only the first checkpoint\'s pairs were acked');

    const portB = new FileLearnerPort();
    const metricsB = new MetricsRegistry();
    const b = new Learner({ bus, port: portB, clock: systemClock, metrics: metricsB }, { learnerId: 'l', config: cfg, checkpointDir: dir, heartbeatMs: 50, starvedCheckpointMs: 200 });
    try {
      await b.init();
      assert.equal(b.step, 2, 'restored from the checkpoint at step 2, the one before the crash');
      assert.equal(portB.steps, 2);
      b.start();
      await until(() => (bus.counters().acked.pairs ?? 0) >= 8, 8000, 'every pair acked');
      assert.deepEqual([...portB.trained].sort(), ['p4', 'p5', 'p6', 'p7'], 'the pairs of the lost checkpoint are trained again, once');
      assert.equal(metricsB.snapshot().learner_restores_total, 1);
    } finally {
      await b.stop();
      await bus.close();
    }
  });
});
