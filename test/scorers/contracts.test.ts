// Each scorer's contract against a real server (or a real module file): http-reward in both request shapes, llm-judge, module, and the registry.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { HttpClient } from '../../src/scorers/http_client.js';
import { HttpRewardScorer } from '../../src/scorers/http_reward.js';
import { chatCompletionsUrl, DEFAULT_JUDGE_SYSTEM, DEFAULT_JUDGE_TEMPLATE, LlmJudgeScorer, verdictOf } from '../../src/scorers/llm_judge.js';
import { loadModuleScorer } from '../../src/scorers/module_scorer.js';
import { createScorerPort } from '../../src/scorers/registry.js';
import { MalformedReplyError, ScorerConfigError } from '../../src/scorers/scorer.js';
import { TextScorerPort } from '../../src/scorers/text_port.js';
import { startFakeLlm } from '../helpers/fake_llm.js';
import { startHttpServer, type TestServer } from '../helpers/http_server.js';

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});
const client = (): HttpClient => new HttpClient({ timeoutMs: 2000, maxRetries: 1, backoffMs: 1, maxBackoffMs: 5, maxInFlight: 4, breakerFailures: 0, breakerCooldownMs: 10, seed: 3 });
const codec = { prompt: (t: readonly number[]) => t.map((x) => String.fromCharCode(97 + x)).join(''), response: (t: readonly number[]) => t.map((x) => String.fromCharCode(97 + x)).join('') };

test('http-reward, rlhf-stream contract: {prompt, responses} -> {scores}', async () => {
  const s = await startHttpServer((r) => {
    const b = r.body as { prompt: string; responses: string[] };
    return { json: { scores: b.responses.map((y) => y.length) } };
  });
  servers.push(s);
  const scorer = new HttpRewardScorer(client(), { url: `${s.url}/score`, format: 'rlhf-stream' });
  assert.deepEqual(await scorer.score({ prompt: 'Say hi.', responses: ['hi', 'hello', ''] }), [2, 5, 0]);
  assert.deepEqual(s.received[0]!.body, { prompt: 'Say hi.', responses: ['hi', 'hello', ''] });
  assert.equal(s.received[0]!.path, '/score');
  assert.equal(scorer.id, `http-reward:${s.url}/score`);
});

test('http-reward, OpenRLHF remote RM contract: {query, prompts} -> {rewards}', async () => {
  const s = await startHttpServer((r) => {
    const b = r.body as { query: string[]; prompts: string[] };
    return { json: { rewards: b.query.map((q, i) => q.length - b.prompts[i]!.length), scores: [], extra_logs: {} } };
  });
  servers.push(s);
  const scorer = new HttpRewardScorer(client(), { url: `${s.url}/get_reward`, format: 'openrlhf' });
  assert.deepEqual(await scorer.score({ prompt: 'Q: ', responses: ['abc', 'a'] }), [3, 1]);
  assert.deepEqual(s.received[0]!.body, { query: ['Q: abc', 'Q: a'], prompts: ['Q: ', 'Q: '] });
});

test('http-reward: a reply with the wrong number of scores is malformed, quoting the reply', async () => {
  const s = await startHttpServer(() => ({ json: { scores: [1] } }));
  servers.push(s);
  const scorer = new HttpRewardScorer(client(), { url: s.url, format: 'rlhf-stream' });
  await assert.rejects(scorer.score({ prompt: 'p', responses: ['a', 'b'] }), (e: Error) => e instanceof MalformedReplyError && /"scores" has 1 scores for 2 responses.*\{\\"scores\\":\[1\]\}/.test(e.message));
});

test('llm-judge: asks both orders through /v1/chat/completions; agreement decides, a disagreement is a tie', async () => {
  const s = await startFakeLlm();
  servers.push(s);
  const judge = new LlmJudgeScorer(client(), { url: s.url, model: 'judge-1', template: DEFAULT_JUDGE_TEMPLATE, system: DEFAULT_JUDGE_SYSTEM, maxTokens: 4, temperature: 0 });
  assert.equal(await judge.compare('Write.', 'banana', 'kiwi'), 1);
  assert.equal(await judge.compare('Write.', 'kiwi', 'banana'), 0);
  const asked = s.received.slice(0, 2).map((r) => r.body as { model: string; messages: { role: string; content: string }[]; temperature: number });
  assert.equal(asked[0]!.model, 'judge-1');
  assert.equal(asked[0]!.messages[0]!.role, 'system');
  const users = asked.map((b) => b.messages[1]!.content);
  assert.ok(users.some((u) => /\[Response A\]\nbanana\n/.test(u)) && users.some((u) => /\[Response A\]\nkiwi\n/.test(u)), 'both orders asked');
  s.rule = () => 'A'; // pure position bias
  assert.equal(await judge.compare('Write.', 'banana', 'kiwi'), 0.5);
  assert.equal(verdictOf('Response B is better.'), 'B');
  assert.equal(verdictOf('**A**'), 'A');
  assert.throws(() => verdictOf('Both are fine'), /no verdict/);
  assert.equal(chatCompletionsUrl('http://h:1/v1/'), 'http://h:1/v1/chat/completions');
  assert.equal(chatCompletionsUrl('http://h:1'), 'http://h:1/v1/chat/completions');
});

test('llm-judge through the text port: K = 4 responses ranked by the tournament with 4 comparisons (8 calls)', async () => {
  const s = await startFakeLlm();
  servers.push(s);
  const judge = new LlmJudgeScorer(client(), { url: `${s.url}/v1`, model: '', template: DEFAULT_JUDGE_TEMPLATE, system: '', maxTokens: 4, temperature: 0 });
  const port = new TextScorerPort(judge, codec);
  // responses decode to 'aab', 'b', 'aaa', 'ab' (2, 0, 3, 1 letters a).
  const scores = await port.score([1, 2], [[0, 0, 1], [1], [0, 0, 0], [0, 1]]);
  assert.equal(scores.indexOf(Math.max(...scores)), 2);
  assert.equal(scores.indexOf(Math.min(...scores)), 1);
  assert.equal(port.comparisons, 4);
  assert.equal(s.received.length, 8);
  assert.ok(!('model' in (s.received[0]!.body as object)), 'an empty model is left out');
  assert.equal((s.received[0]!.body as { messages: unknown[] }).messages.length, 1, 'an empty system message is left out');
});

const dir = mkdtempSync(join(tmpdir(), 'rlhf-scorer-module-'));
const file = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

test('module: a pointwise .mjs and a pairwise .ts module are loaded, probed and used', async () => {
  const js = await loadModuleScorer({ path: file('len.mjs', 'export function score(prompt, responses) { return responses.map((r) => r.length); }\n'), kind: 'pointwise', exportName: '' });
  assert.equal(js.kind, 'pointwise');
  if (js.kind === 'pointwise') assert.deepEqual(await js.score({ prompt: 'p', responses: ['ab', 'a'] }), [2, 1]);
  const ts = await loadModuleScorer({
    path: file('cmp.ts', 'export async function longer(prompt: string, a: string, b: string): Promise<number> {\n  return a.length > b.length ? 1 : 0;\n}\n'),
    kind: 'pairwise',
    exportName: 'longer',
  });
  assert.equal(ts.kind, 'pairwise');
  if (ts.kind === 'pairwise') assert.equal(await ts.compare('p', 'long', 'x'), 1);
  assert.equal(ts.id, 'module:cmp.ts#longer');
});

test('module: a missing export, a non-function, a wrong arity and a wrong result shape are refused at start-up', async () => {
  await assert.rejects(loadModuleScorer({ path: join(dir, 'nope.mjs'), kind: 'pointwise', exportName: '' }), /does not exist/);
  await assert.rejects(loadModuleScorer({ path: file('a.mjs', 'export const rank = () => [];\n'), kind: 'pointwise', exportName: '' }), (e: Error) => e instanceof ScorerConfigError && /no export named "score".*its exports are rank/.test(e.message));
  await assert.rejects(loadModuleScorer({ path: file('b.mjs', 'export const score = 3;\n'), kind: 'pointwise', exportName: '' }), /must be a function; got number/);
  await assert.rejects(loadModuleScorer({ path: file('c.mjs', 'export function compare(p, a, b, c) { return 1; }\n'), kind: 'pairwise', exportName: '' }), /takes 4 parameters/);
  await assert.rejects(loadModuleScorer({ path: file('d.mjs', 'export function score(p, ys) { return [1]; }\n'), kind: 'pointwise', exportName: '' }), /start-up check.*must return 2 finite numbers for 2 responses; got \[1\]/);
  await assert.rejects(loadModuleScorer({ path: file('e.mjs', 'export function compare() { return "A"; }\n'), kind: 'pairwise', exportName: '' }), /P\(a better than b\), a number in \[0, 1\]; got "A"/);
  await assert.rejects(loadModuleScorer({ path: file('f.mjs', 'export function score( { oops\n'), kind: 'pointwise', exportName: '' }), /could not be loaded/);
});

test('module: a scorer that throws or returns junk for one group is a malformed reply (that group is dead-lettered)', async () => {
  const m = await loadModuleScorer({ path: file('g.mjs', "export function score(p, ys) { if (p === 'bad') throw new Error('cannot score bad'); return ys.map(() => (p === 'nan' ? NaN : 1)); }\n"), kind: 'pointwise', exportName: '' });
  assert.equal(m.kind, 'pointwise');
  if (m.kind !== 'pointwise') return;
  await assert.rejects(m.score({ prompt: 'bad', responses: ['a'] }), (e: Error) => e instanceof MalformedReplyError && /score\(\) threw: cannot score bad/.test(e.message));
  await assert.rejects(m.score({ prompt: 'nan', responses: ['a'] }), /got \[null\]/);
});

test('registry: names build their scorer; config refuses unknown names and incomplete settings with what is accepted', async () => {
  assert.throws(() => parseConfig({ judge: { scorer: 'gpt4' } }), /judge.scorer must be one of proxy, bt, pairwise, http-reward, llm-judge, module; got "gpt4"/);
  assert.throws(() => parseConfig({ judge: { scorer: 'llm-judge' } }), /judge.scorer llm-judge needs judge.url/);
  assert.throws(() => parseConfig({ judge: { scorer: 'pairwise' } }), /needs the pairwise proxy model, but rm.kind .* is bt/);
  assert.throws(() => parseConfig({ judge: { scorer: 'llm-judge', url: 'http://x' }, llmJudge: { template: 'which? {prompt}' } }), /missing \{response_a\}, \{response_b\}/);
  assert.throws(() => parseConfig({ judge: { scorer: 'module' } }), /needs scorerModule.path/);
  assert.throws(() => parseConfig({ judge: { scorer: 'http-reward', url: 'https://me:sk-123@rm.example/score' } }), /must not carry credentials/);
  assert.throws(() => parseConfig({ judge: { apiKeyEnv: 'sk-abc' } }), /judge.apiKeyEnv must be a string matching/);
  assert.equal(parseConfig({}).judge.scorer, 'proxy');
  const proxy = { modelId: 'proxy', score: async () => [0], close: async () => {} };
  const ctx = { proxy: () => proxy, codec, seed: 1, env: {} as Record<string, string | undefined> };
  assert.equal(await createScorerPort(parseConfig({}), ctx), proxy);
  assert.equal(await createScorerPort(parseConfig({ judge: { scorer: 'bt' } }), ctx), proxy);
  const cfg = parseConfig({ judge: { scorer: 'http-reward', url: 'http://127.0.0.1:9/score', apiKeyEnv: 'RM_KEY' } });
  await assert.rejects(createScorerPort(cfg, ctx), /judge.apiKeyEnv names RM_KEY, which is not set/);
  const port = await createScorerPort(cfg, { ...ctx, env: { RM_KEY: 'k-123456' } });
  assert.equal(port.modelId, 'http-reward:http://127.0.0.1:9/score');
  await assert.rejects(createScorerPort({ ...cfg, judge: { ...cfg.judge, scorer: 'oracle' as never } }, ctx), /must be one of proxy, bt, pairwise, http-reward, llm-judge, module; got "oracle"/);
});
