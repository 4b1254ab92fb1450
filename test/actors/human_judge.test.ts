// A judge that waits for people (judge.human) behind the real /label HTTP routes: a label in time makes the pair, the rest
// fall back to the scorer after the timeout, a late label is recorded and not paired twice, and the token is enforced.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { shownPair } from '../../src/actors/human_desk.js';
import { Judge, pairIdOf } from '../../src/actors/judge.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { loadConfig } from '../../src/config/index.js';
import { deriveSeed } from '../../src/kernels/rng.js';
import { MetricsAggregator } from '../../src/monitor/aggregator.js';
import { serveDashboard } from '../../src/monitor/dashboard.js';
import { humanLabelling, labelToken } from '../../src/run/human_labels.js';
import { labelsFile, readLabels } from '../../src/run/label_log.js';
import type { PairMsg, SampleGroupMsg } from '../../src/streams/topics.js';
import { bus as makeBus, config, decode, FakeScorer, sampleGroup, until } from './fakes.js';

const TOKEN = 'label-token-0123';

const group = (id: string, firsts: number[]): SampleGroupMsg => sampleGroup({ groupId: `g:${id}`, promptId: id, policyVersion: 0, firsts });

async function allPairs(bus: ReturnType<typeof makeBus>, n: number): Promise<PairMsg[]> {
  const out: PairMsg[] = [];
  const sub = bus.consume('pairs', { durable: 'reader' });
  for await (const d of sub) {
    out.push(d.data);
    await d.ack();
    if (out.length === n) break;
  }
  await sub.stop();
  return out;
}

test('judge.human=mix: a label in time makes the pair as human:<name>, the others fall back, a late label is kept but not paired', async () => {
  const bus = makeBus('test');
  const cfg = config({ judge: { batchSize: 12, human: 'mix', humanShare: 1, humanTimeoutMs: 1500 } });
  const runDir = mkdtempSync(join(tmpdir(), 'human-judge-'));
  const human = humanLabelling(cfg, runDir, TOKEN, decode);
  const metrics = new MetricsRegistry();
  const seed = deriveSeed(cfg.compute.seed, 'judge');
  // Score = first token id: the scorer's ranking is known.
  const judge = new Judge({ bus, scorer: new FakeScorer((r) => r[0] ?? 0), clock: systemClock, metrics, desk: human.desk }, { judgeId: 'j0', config: cfg.judge, seed, samplesPerPrompt: 3 });
  const server = await serveDashboard(new MetricsAggregator({ runId: 'test', intervalMs: 100, windowMs: 1000, historyLength: 10 }), { host: '127.0.0.1', port: 0, labels: human.routes });
  const auth = { Authorization: `Bearer ${TOKEN}` };
  try {
    // Without the token, or with another, nothing is served.
    const none = await fetch(`${server.url}label`);
    assert.equal(none.status, 401);
    assert.match(await none.text(), /labelling needs the token \(environment variable RLHF_STREAM_LABEL_TOKEN\)/);
    const wrong = await fetch(`${server.url}api/label/next?name=alice`, { headers: { Authorization: 'Bearer not-the-token!' } });
    assert.equal(wrong.status, 403);
    const post = await fetch(`${server.url}api/label`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 401);
    assert.equal((await fetch(`${server.url}label?token=${TOKEN}`)).status, 200);

    for (const [id, firsts] of [['a', [3, 7, 1]], ['b', [5, 2, 9]], ['c', [4, 6, 8]]] as const) await bus.publish('samples', group(id, [...firsts]));
    judge.start();
    await until(() => human.desk.stats().waiting === 3, 3000, 'three groups waiting');
    const next = (await (await fetch(`${server.url}api/label/next?name=alice`, { headers: auth })).json()) as { task: { groupId: string; a: { sampleId: string }; b: { sampleId: string } } };
    const t = next.task;
    assert.equal(t.groupId, 'g:a');
    const bad = await fetch(`${server.url}api/label`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'alice', groupId: t.groupId, choice: 'left', a: t.a.sampleId, b: t.b.sampleId }) });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /choice must be one of a, b, tie, skip; got "left"/);
    // Alice prefers B, whatever the scorer says.
    const ok = await fetch(`${server.url}api/label`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'alice', groupId: t.groupId, choice: 'b', a: t.a.sampleId, b: t.b.sampleId }) });
    assert.deepEqual(await ok.json(), { result: 'accepted' });

    // b and c wait out the timeout and are paired by the scorer.
    await until(() => judge.groupsSettled === 3, 5000, 'three groups settled');
    assert.equal(human.desk.stats().fallbacks, 2);
    const shown = shownPair(seed, 'g:b', 3);
    const late = await fetch(`${server.url}api/label`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'bob', groupId: 'g:b', choice: 'a', a: `g:b:${shown.a}`, b: `g:b:${shown.b}` }) });
    assert.deepEqual(await late.json(), { result: 'late' });
    // A second answer for the same group is refused: the late label was taken once.
    const again = await fetch(`${server.url}api/label`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'bob', groupId: 'g:b', choice: 'a', a: `g:b:${shown.a}`, b: `g:b:${shown.b}` }) });
    assert.equal(again.status, 404);

    await judge.stop();
    assert.equal(bus.counters().published.pairs, 3, 'one pair per group: the late label made none');
    assert.equal(bus.counters().acked.samples, 3);
    const pairs = new Map((await allPairs(bus, 3)).map((p) => [p.pairId, p]));
    const a = pairs.get(pairIdOf('g:a'))!;
    assert.equal(a.judgeId, 'human:alice');
    assert.equal(a.chosen.sampleId, t.b.sampleId);
    assert.equal(a.rejected.sampleId, t.a.sampleId);
    assert.equal(pairs.get(pairIdOf('g:b'))!.judgeId, 'j0');
    assert.equal(pairs.get(pairIdOf('g:c'))!.judgeId, 'j0');

    const records = readLabels(labelsFile(runDir));
    assert.deepEqual(
      records.map((r) => [r.groupId, r.judgeId, r.late, r.chosenSampleId]),
      [
        ['g:a', 'human:alice', false, t.b.sampleId],
        ['g:b', 'human:bob', true, `g:b:${shown.a}`],
      ],
    );
    const snap = metrics.snapshot();
    assert.equal(snap.judge_human_pairs_total, 1);
    assert.equal(snap.judge_human_fallback_total, 2);
    assert.equal(snap.judge_pairs_total, 3);
    const scores = [3, 7, 1];
    const agrees = scores[Number(t.b.sampleId.at(-1))]! > scores[Number(t.a.sampleId.at(-1))]!;
    assert.equal(records[0]!.proxyAgrees, agrees);
    assert.equal(snap.judge_human_agreed_total ?? 0, agrees ? 1 : 0);
  } finally {
    await server.close();
    human.close();
    await bus.close();
  }
});

test('judge.human=only: a stopping judge hands unlabelled groups back to the stream', async () => {
  const bus = makeBus('test');
  const cfg = config({ judge: { batchSize: 12, human: 'only' } });
  const human = humanLabelling(cfg, mkdtempSync(join(tmpdir(), 'human-judge-')), TOKEN, decode);
  const judge = new Judge({ bus, scorer: new FakeScorer((r) => r[0] ?? 0), clock: systemClock, metrics: new MetricsRegistry(), desk: human.desk }, { judgeId: 'j0', config: cfg.judge, seed: 1, samplesPerPrompt: 3 });
  await bus.publish('samples', group('a', [3, 7, 1]));
  judge.start();
  await until(() => human.desk.stats().waiting === 1, 3000, 'a group waiting');
  await judge.stop();
  assert.equal(bus.counters().published.pairs ?? 0, 0);
  assert.equal(bus.counters().acked.samples ?? 0, 0);
  assert.equal(human.desk.stats().waiting, 0);
  human.close();
  await bus.close();
});

test('judge.human: bad values are refused naming the field; a judge without the page, or a run without the token, is refused', () => {
  assert.throws(() => loadConfig({ overrides: ['judge.human=sometimes'] }), /judge\.human must be one of off, mix, only; got "sometimes"/);
  assert.throws(() => loadConfig({ overrides: ['judge.humanShare=1.5'] }), /judge\.humanShare/);
  assert.throws(() => loadConfig({ overrides: ['judge.humanTimeoutMs=0'] }), /judge\.humanTimeoutMs/);
  const cfg = config({ judge: { human: 'mix' } });
  assert.throws(
    () => new Judge({ bus: makeBus('test'), scorer: new FakeScorer(() => 0), clock: systemClock, metrics: new MetricsRegistry() }, { judgeId: 'j0', config: cfg.judge, seed: 1, samplesPerPrompt: 3 }),
    /judge\.human is "mix", which needs the labelling page in this process/,
  );
  assert.throws(() => labelToken(cfg, {}), /environment variable RLHF_STREAM_LABEL_TOKEN \(judge\.humanTokenEnv\); it is not set/);
  assert.equal(labelToken(cfg, { RLHF_STREAM_LABEL_TOKEN: TOKEN }), TOKEN);
  assert.equal(labelToken(config(), {}), undefined);
});
