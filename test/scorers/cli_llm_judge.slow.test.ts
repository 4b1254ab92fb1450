// `rlhf-stream run --set judge.scorer=llm-judge --set judge.url=...` against a local OpenAI-compatible server, on the tiny config.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startFakeLlm } from '../helpers/fake_llm.js';

const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const KEY = 'sk-cli-test-9f8e7d6c5b4a';

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

const servers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

test('rlhf-stream run with judge.scorer=llm-judge judges through the server; the key is sent and never written', async () => {
  const llm = await startFakeLlm();
  servers.push(llm);
  const dir = mkdtempSync(join(tmpdir(), 'rlhf-llm-judge-'));
  const r = await runCli(
    [
      'run', '--config', 'config/tiny.yaml',
      '--set', `run.cacheDir=${join(dir, 'cache')}`, '--set', `run.dir=${join(dir, 'runs')}`, '--set', 'run.id=judged',
      '--set', 'judge.scorer=llm-judge', '--set', `judge.url=${llm.url}`, '--set', 'judge.apiKeyEnv=TEST_JUDGE_KEY', '--set', 'llmJudge.model=fake-judge',
    ],
    { TEST_JUDGE_KEY: KEY },
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /mode streaming: 6 learner steps/);
  const summary = JSON.parse(readFileSync(join(dir, 'runs', 'judged', 'summary.json'), 'utf8')).summary;
  const judge = summary.metrics['judge-0'];
  assert.ok(judge.judge_groups_total > 0);
  // tiny.yaml has K = 4: 3 + 1 matches per group, each asked in both orders.
  assert.equal(judge.judge_comparisons_total, 4 * judge.judge_groups_total);
  assert.equal(llm.received.length, 2 * judge.judge_comparisons_total);
  assert.ok(llm.received.every((q) => q.headers.authorization === `Bearer ${KEY}` && (q.body as { model: string }).model === 'fake-judge'));
  for (const f of filesUnder(join(dir, 'runs'))) assert.ok(!readFileSync(f).includes(KEY), `${f} holds the key`);
  assert.ok(!r.out.includes(KEY) && !r.err.includes(KEY));
});

test('rlhf-stream run refuses llm-judge without a URL, and an unknown scorer name, saying what is accepted', async () => {
  const noUrl = await runCli(['run', '--config', 'config/tiny.yaml', '--set', 'judge.scorer=llm-judge'], {});
  assert.notEqual(noUrl.code, 0);
  assert.match(noUrl.err, /judge.scorer llm-judge needs judge.url, an http:\/\/ or https:\/\/ URL; got ""/);
  const unknown = await runCli(['run', '--config', 'config/tiny.yaml', '--set', 'judge.scorer=gpt4'], {});
  assert.match(unknown.err, /judge.scorer must be one of proxy, bt, pairwise, http-reward, llm-judge, module; got "gpt4"/);
});
