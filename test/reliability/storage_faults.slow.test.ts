// Storage limits: a full disk under the checkpoint folder (a small tmpfs mounted by the test) fails the save with a clear
// error and keeps the previous checkpoint whole; a work stream given a byte or age limit, or discard old, is refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DiscardPolicy } from 'nats';
import { CheckpointError, loadCheckpoint, saveCheckpoint, type CheckpointContents } from '../../src/checkpoint/checkpoint.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import { config } from '../actors/fakes.js';
import { loadedStep, stepContents } from '../helpers/step_checkpoint.js';
import { natsSkip, sharedNatsServer } from '../helpers/nats_server.js';

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
      await saveCheckpoint(dir, stepContents(1, 32_768)); // 128 KiB of weights
      const filler = join(mnt, 'filler');
      fillUp(filler);
      const free = statfsSync(mnt).bavail * statfsSync(mnt).bsize;
      assert.ok(free < 128 * 1024, `the disk is full (${free} bytes free)`);
      await assert.rejects(
        saveCheckpoint(dir, stepContents(2, 32_768)),
        (err: Error) => err instanceof CheckpointError && /no space left to write checkpoint/.test(err.message) && err.message.includes(dir) && /ENOSPC/.test(err.message),
      );
      assert.equal(await loadedStep(dir), 1, 'the previous checkpoint loads whole');
      assert.deepEqual(readdirSync(join(mnt, 'run')).sort(), ['checkpoints'], 'no temp or aside folder left behind');
      // Full while the run goes on: every further save fails the same way and never touches the checkpoint.
      for (let step = 3; step <= 5; step++) await assert.rejects(saveCheckpoint(dir, stepContents(step, 32_768)), CheckpointError);
      assert.equal(await loadedStep(dir), 1);
      rmSync(filler);
      await saveCheckpoint(dir, stepContents(6, 32_768));
      assert.equal(await loadedStep(dir), 6);
      assert.deepEqual(readdirSync(join(mnt, 'run')).sort(), ['checkpoints']);
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});

describe('a work stream with a limit that drops messages', { skip: natsSkip() }, () => {
  const server = sharedNatsServer();
  const busCfg = () => config({ bus: { kind: 'nats', servers: [server.url], ackWaitMs: 2000 } }).bus;

  for (const [what, change] of [
    ['max_bytes', { max_bytes: 64 * 1024 }],
    ['max_age', { max_age: 600 * 1e9 }],
    ['discard', { discard: DiscardPolicy.Old }],
  ] as const) {
    it(`the samples stream given ${what} by an operator: a process joining the run refuses it, naming the limit, instead of letting samples vanish`, async () => {
      const runId = `limit-${what}-${Date.now()}`;
      const first = await NatsBus.connect(busCfg(), runId, { log: () => {} });
      const stream = natsNames('rlhf', runId).stream('samples');
      try {
        const cfg = (await first.jsm.streams.info(stream)).config;
        await first.jsm.streams.update(stream, { ...cfg, ...change });
        await assert.rejects(NatsBus.connect(busCfg(), runId, { log: () => {} }), (err: Error) => {
          assert.match(err.message, new RegExp(`stream ${stream} exists with ${what}`));
          assert.match(err.message, /must never drop what it stores/);
          return true;
        });
      } finally {
        await first.close();
      }
    });
  }
});
