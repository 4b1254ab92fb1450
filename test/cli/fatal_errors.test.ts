// A fatal error of the multi-process launcher reaches the user as one `error:` line and exit code 1, never a stack.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

test('a launcher error prints one error line, no stack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlhf-fatal-'));
  const r = spawnSync(process.execPath, [cli, 'cluster', '--config', 'config/tiny.yaml', '--set', 'run.mode=iterative', '--set', `run.dir=${dir}`, '--set', `run.cacheDir=${join(dir, 'cache')}`], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => !/^backend:/.test(l));
  assert.deepEqual(lines, ['error: cluster runs streaming mode only; got run.mode iterative (use `rlhf-stream run` for it)']);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
