// A full disk under the checkpoint folder (a small tmpfs mounted by the test): the save fails with a clear error, the
// previous checkpoint stays whole and loadable, nothing half-written is left, and a save after space is freed commits.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckpointError, loadCheckpoint, saveCheckpoint, type CheckpointContents } from '../../src/checkpoint/checkpoint.js';

/** The skip reason where a tmpfs cannot be mounted (not root, or no mount permission), else false. */
function mountSkip(): string | false {
  if (process.platform !== 'linux') return 'tmpfs mounts are Linux only';
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs as a full disk';
  const probe = mkdtempSync(join(tmpdir(), 'rel-mount-probe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
  if (r.status === 0) spawnSync('umount', [probe]);
  rmSync(probe, { recursive: true, force: true });
  return r.status === 0 ? false : `cannot mount a tmpfs here: ${(r.stderr || r.error?.message || '').trim()}`;
}

/** A checkpoint of `floats` weights, all equal to `step`, with config and state saying the same step. */
const contents = (step: number, floats: number): CheckpointContents => ({
  weights: { w: { dtype: 'F32', shape: [floats], data: new Float32Array(floats).fill(step) } },
  config: { step },
  state: { step },
});

async function loadedStep(dir: string): Promise<number> {
  const ck = await loadCheckpoint(dir);
  const step = (ck.state as { step: number }).step;
  assert.equal((ck.config as { step: number }).step, step, 'config.json belongs to the same save as state.json');
  assert.ok((ck.weights.w!.data as Float32Array).every((x) => x === step), `weights belong to step ${step}`);
  return step;
}

/** Writes zeros into `file` until the file system is full. */
function fillUp(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

describe('storage faults', { skip: mountSkip() }, () => {
  it('a checkpoint written onto a full disk fails with a clear error; the previous checkpoint stays whole; freed space lets the next save commit', async () => {
    const mnt = mkdtempSync(join(tmpdir(), 'rel-fulldisk-'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    try {
      const dir = join(mnt, 'run', 'checkpoints');
      mkdirSync(join(mnt, 'run'));
      await saveCheckpoint(dir, contents(1, 32_768)); // 128 KiB of weights
      const filler = join(mnt, 'filler');
      fillUp(filler);
      const free = statfsSync(mnt).bavail * statfsSync(mnt).bsize;
      assert.ok(free < 128 * 1024, `the disk is full (${free} bytes free)`);
      await assert.rejects(
        saveCheckpoint(dir, contents(2, 32_768)),
        (err: Error) => err instanceof CheckpointError && /no space left to write checkpoint/.test(err.message) && err.message.includes(dir) && /ENOSPC/.test(err.message),
      );
      assert.equal(await loadedStep(dir), 1, 'the previous checkpoint loads whole');
      assert.deepEqual(readdirSync(join(mnt, 'run')).sort(), ['checkpoints'], 'no temp or aside folder left behind');
      // Full while the run goes on: every further save fails the same way and never touches the checkpoint.
      for (let step = 3; step <= 5; step++) await assert.rejects(saveCheckpoint(dir, contents(step, 32_768)), CheckpointError);
      assert.equal(await loadedStep(dir), 1);
      rmSync(filler);
      await saveCheckpoint(dir, contents(6, 32_768));
      assert.equal(await loadedStep(dir), 6);
      assert.deepEqual(readdirSync(join(mnt, 'run')).sort(), ['checkpoints']);
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
