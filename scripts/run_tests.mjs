// Runs the compiled test files under dist/test with Node's built-in test runner, then lists the slowest files.
// Usage: node scripts/run_tests.mjs [--unit] [substring ...]
//   --unit     only the unit tests: every file but *.slow.test.js (those start servers, child processes or a browser,
//              or train models); unit files run in seconds and may not start a nats-server (the test helper refuses).
//   substring  only files whose path contains one of them.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const unit = args.includes('--unit');
const filters = args.filter((a) => a !== '--unit');
// A compiled file whose source is gone (renamed or deleted since the last build) is left over in dist/: not run.
const hasSource = (f) => existsSync(f.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
const files = walk('dist/test')
  .sort()
  .filter(hasSource)
  .filter((f) => !unit || !f.endsWith('.slow.test.js'))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no ${unit ? 'unit ' : ''}test files matched ${JSON.stringify(filters)} under dist/test`);
  process.exit(1);
}
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
// Files run one at a time: the machine has 2 cores and many tests train small models or start nats-server.
const r = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    `--test-reporter=${reporter}`,
    '--test-reporter-destination=stdout',
    '--test-reporter=./scripts/slowest_reporter.mjs',
    '--test-reporter-destination=stdout',
    ...files,
  ],
  { stdio: 'inherit', env: unit ? { ...process.env, RLHF_UNIT_TESTS: '1' } : process.env },
);
process.exit(r.status ?? 1);
