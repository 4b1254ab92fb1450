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
  const args = [cli, 'cluster', '--config', 'config/tiny.yaml', '--run', 'fatal-run', '--no-evaluator', '--set', `run.dir=${dir}`, '--set', `run.cacheDir=${join(dir, 'cache')}`];
  const first = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 240_000 });
  assert.equal(first.status, 0, first.stderr);
  // The same run id again: the launcher refuses to continue a run that already ended.
  const again = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(again.status, 1, again.stderr);
  const errors = again.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, again.stderr);
  assert.match(errors[0]!, /^error: run fatal-run already ended \(.+\); choose another run\.id$/);
  assert.doesNotMatch(again.stderr, /\n\s+at /);
});
