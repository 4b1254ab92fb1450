// `rlhf-stream sft` on the tiny config: it trains, saves its checkpoint and prints its figures, then reuses the checkpoint.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

test('sft on the tiny config prints its figures, a validation loss it could not measure as n/a', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlhf-sft-cmd-'));
  // The tiny corpus slice holds no pre-training validation window: that loss is NaN, stored as null in the manifest.
  const args = [cli, 'sft', '--config', 'config/tiny.yaml', '--set', `run.cacheDir=${join(dir, 'cache')}`];
  for (const reused of [false, true]) {
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 240_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`sft checkpoint in .+ \\(${reused ? 'reused' : 'trained now'}`));
    assert.match(r.stdout, /pre-training: 20 steps, \d+ ms\/step, corpus valid loss n\/a, perplexity n\/a/);
    assert.match(r.stdout, /tuning epoch 1: valid loss \d+\.\d{3}, perplexity \d+\.\d{2}/);
    assert.ok(existsSync(join(dir, 'cache', 'sft', 'model.safetensors')));
  }
});
