// The whole recipe through the real CLI on the tiny config: data -> SFT -> reward model -> streaming DPO, then a cached rerun.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

function runCli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('rlhf-stream run on the tiny config trains, publishes versions and writes its records; a rerun reuses the cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlhf-run-'));
  const common = ['--config', 'config/tiny.yaml', '--set', `run.cacheDir=${join(dir, 'cache')}`, '--set', `run.dir=${join(dir, 'runs')}`];
  const first = runCli(['run', ...common, '--set', 'run.id=first']);
  assert.equal(first.code, 0, first.err);
  assert.match(first.err, /backend: wasm/);
  assert.match(first.out, /mode streaming: 6 learner steps, policy version 3/);
  const runDir = join(dir, 'runs', 'first');
  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
  assert.equal(summary.summary.steps, 6);
  assert.ok(summary.summary.pairsTrained >= 6 * 4, `pairs trained ${summary.summary.pairsTrained}`);
  assert.ok(summary.headline.samplesPerSecond > 0);
  assert.ok(summary.summary.evals.length >= 1, 'the evaluator reported');
  assert.ok(existsSync(join(runDir, 'metrics.jsonl')));
  assert.ok(existsSync(join(runDir, 'report.md')));
  // Every evaluation's answers with their scores, and the report showing SFT beside the final policy.
  const responses = readFileSync(join(runDir, 'responses.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(responses.length, summary.summary.evals.reduce((n: number, e: { prompts: number }) => n + e.prompts, 0), 'one row per prompt of every evaluation');
  assert.ok(responses.every((r: Record<string, unknown>) => typeof r.prompt === 'string' && typeof r.response === 'string' && typeof r.gold === 'number' && typeof r.proxy === 'number'));
  assert.match(readFileSync(join(runDir, 'report.md'), 'utf8'), /## Responses: SFT and the final policy/);
  assert.ok(readdirSync(join(runDir, 'checkpoints')).length > 0);

  const second = runCli(['run', ...common, '--set', 'run.id=second']);
  assert.equal(second.code, 0, second.err);
  assert.match(second.err, /going straight to the online stage/);
  assert.doesNotMatch(second.err, /pre-training on/);
});

test('a bad config value fails with a message naming the key and the accepted values', () => {
  const r = runCli(['run', '--set', 'judge.pairing=best']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /judge\.pairing must be one of max_min, max_random, random; got "best"/);
});
