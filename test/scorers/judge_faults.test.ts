// The judge against real HTTP scorers that misbehave: an outage mid-run loses and dead-letters nothing and judges nothing twice; a bad reply is dead-lettered with it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { Judge } from '../../src/actors/judge.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import { HttpClient, type HttpClientOptions } from '../../src/scorers/http_client.js';
import { HttpRewardScorer } from '../../src/scorers/http_reward.js';
import { TextScorerPort } from '../../src/scorers/text_port.js';
import type { InProcessBus } from '../../src/streams/inprocess/bus.js';
import type { DeadLetterMsg, PairMsg, SampleGroupMsg } from '../../src/streams/topics.js';
import { bus as makeBus, config, decode, until } from '../actors/fakes.js';
import { startHttpServer, type Received, type TestServer } from '../helpers/http_server.js';

const SECRET = 'sk-live-DO-NOT-LEAK-42';
const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});
const codec = { prompt: (t: readonly number[]) => decode([...t]), response: (t: readonly number[]) => decode([...t]) };

/** Prompt tokens [p, p+1] and K responses whose first token ranks them (token t scores t). */
function group(i: number, k = 4): SampleGroupMsg {
  const promptTokens = [i % 16, (i + 1) % 16, i % 7];
  return {
    type: 'samples',
    v: 1,
    runId: 'test',
    groupId: `g:${i}`,
    promptId: `q${i}`,
    policyVersion: 0,
    generatorId: 'gen',
    samples: Array.from({ length: k }, (_, j) => ({
      runId: 'test',
      sampleId: `g:${i}:${j}`,
      promptId: `q${i}`,
      policyVersion: 0,
      generatorId: 'gen',
      startedAt: 0,
      createdAt: 1,
      promptTokens,
      responseTokens: [j + 1, 2],
      text: decode([j + 1, 2]),
      finished: true,
    })),
  };
}

/** Scores = the first letter's code: distinct within a group, so every group makes a pair. */
const byFirstLetter = (r: Received): { json: unknown } => ({ json: { scores: (r.body as { responses: string[] }).responses.map((y) => y.charCodeAt(0)) } });

function judgeOn(bus: InProcessBus, url: string, o: Partial<HttpClientOptions> = {}, outageWaitMs = 50): { judge: Judge; metrics: MetricsRegistry } {
  const client = new HttpClient({ timeoutMs: 300, maxRetries: 2, backoffMs: 5, maxBackoffMs: 20, maxInFlight: 4, breakerFailures: 3, breakerCooldownMs: 100, seed: 9, headers: { authorization: `Bearer ${SECRET}` }, ...o });
  const metrics = new MetricsRegistry();
  const scorer = new TextScorerPort(new HttpRewardScorer(client, { url, format: 'rlhf-stream' }), codec);
  const judge = new Judge(
    { bus, scorer, clock: systemClock, metrics },
    { judgeId: 'j0', config: config({ judge: { batchSize: 16, outageWaitMs } }).judge, seed: 1, samplesPerPrompt: 4, ackWaitMs: 2000 },
  );
  return { judge, metrics };
}

async function drain<T extends 'pairs' | 'dead'>(bus: InProcessBus, topic: T): Promise<(T extends 'pairs' ? PairMsg : DeadLetterMsg)[]> {
  const out: unknown[] = [];
  const sub = bus.consume(topic, { durable: `reader-${topic}`, maxAckPending: 10_000 });
  const loop = (async () => {
    for await (const d of sub) {
      out.push(d.data);
      await d.ack();
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  await sub.stop();
  await loop;
  return out as (T extends 'pairs' ? PairMsg : DeadLetterMsg)[];
}

test('judge + http-reward: the service goes down mid-run and comes back: every group judged once, none dead-lettered', async () => {
  const s = await startHttpServer(byFirstLetter);
  servers.push(s);
  const bus = makeBus('test', { maxDeliver: 2 });
  const { judge, metrics } = judgeOn(bus, `${s.url}/score`);
  const N = 40;
  for (let i = 0; i < 10; i++) await bus.publish('samples', group(i));
  judge.start();
  await until(() => judge.groupsSettled === 10, 5000, 'the first ten groups');
  await s.down();
  for (let i = 10; i < N; i++) await bus.publish('samples', group(i));
  // Down for several outage waits, breaker openings and more than maxDeliver: still nothing may be dead-lettered.
  await until(() => (metrics.snapshot().judge_scorer_unavailable_total ?? 0) >= 4, 5000, 'the judge to notice the outage');
  assert.equal(judge.state, 'waiting-for-scorer');
  assert.equal(judge.groupsSettled, 10);
  await s.up();
  await until(() => judge.groupsSettled === N, 10_000, 'all groups after the service returned');
  await judge.stop();
  const pairs = await drain(bus, 'pairs');
  assert.equal(pairs.length, N);
  assert.equal(new Set(pairs.map((p) => p.groupId)).size, N, 'each group paired once');
  const c = bus.counters();
  assert.equal(c.acked.samples, N);
  assert.equal(c.deadLettered.samples ?? 0, 0);
  const scoredPrompts = s.received.map((r) => (r.body as { prompt: string }).prompt);
  assert.equal(scoredPrompts.length, N, 'the server scored each group exactly once');
  assert.equal(metrics.snapshot().judge_groups_waiting, 0);
  await bus.close();
});

test('judge + http-reward: a judge stopped during an outage hands its groups back; the next judge scores them once', async () => {
  const s = await startHttpServer(byFirstLetter);
  servers.push(s);
  await s.down();
  const bus = makeBus('test');
  const first = judgeOn(bus, s.url);
  for (let i = 0; i < 5; i++) await bus.publish('samples', group(i));
  first.judge.start();
  await until(() => (first.metrics.snapshot().judge_scorer_unavailable_total ?? 0) >= 2, 5000, 'the outage to be noticed');
  await first.judge.stop();
  assert.equal(first.judge.groupsSettled, 0);
  assert.equal(bus.counters().deadLettered.samples ?? 0, 0);
  assert.equal(bus.counters().acked.samples ?? 0, 0);
  await s.up();
  const second = judgeOn(bus, s.url);
  second.judge.start();
  await until(() => second.judge.groupsSettled === 5, 5000, 'the second judge to score the handed-back groups');
  await second.judge.stop();
  assert.equal((await drain(bus, 'pairs')).length, 5);
  assert.equal(s.received.length, 5, 'each group scored once');
  await bus.close();
});

test('judge + http-reward: garbage for one group is retried, then dead-lettered with the reply; the others are paired; the key never leaks', async () => {
  let poisonCalls = 0;
  const s = await startHttpServer((r) => {
    const b = r.body as { prompt: string; responses: string[] };
    // Group 3's prompt decodes to 'ded'; the server answers it with an HTML error page echoing the auth header.
    if (b.prompt === 'ded') {
      poisonCalls++;
      return { text: `<html>oops ${String(r.headers.authorization)}</html>` };
    }
    return byFirstLetter(r);
  });
  servers.push(s);
  const bus = makeBus('test');
  const { judge, metrics } = judgeOn(bus, s.url);
  for (let i = 0; i < 6; i++) await bus.publish('samples', group(i));
  judge.start();
  await until(() => judge.groupsSettled === 6, 5000, 'six groups');
  await judge.stop();
  assert.equal(poisonCalls, 3, 'the first attempt and maxRetries 2');
  const dead = await drain(bus, 'dead');
  assert.equal(dead.length, 1);
  assert.match(dead[0]!.reason, /could not score group g:3: POST http:\/\/127\.0\.0\.1:\d+\/ answered 200 with a reply that is not JSON: "<html>oops \[redacted\]<\/html>" \(after 3 attempts\)/);
  assert.equal((await drain(bus, 'pairs')).length, 5);
  assert.equal(metrics.snapshot().judge_groups_bad_reply_total, 1);
  const everything = JSON.stringify([dead, metrics.snapshot(), bus.counters()]);
  assert.ok(!everything.includes(SECRET));
  await bus.close();
});

test('judge + http-reward: 500s, a stall and 429 + Retry-After are absorbed by the client: all groups paired', async () => {
  let n = 0;
  const s = await startHttpServer((r, res) => {
    n++;
    if (n === 2) return { status: 500, text: 'internal error' };
    if (n === 4) return { status: 429, headers: { 'retry-after': '0' }, text: 'slow down' };
    if (n === 6) {
      setTimeout(() => res.destroy(), 1000); // stalls past the client's timeout
      return undefined;
    }
    return byFirstLetter(r);
  });
  servers.push(s);
  const bus = makeBus('test');
  const { judge, metrics } = judgeOn(bus, s.url, { maxInFlight: 1 });
  for (let i = 0; i < 8; i++) await bus.publish('samples', group(i));
  judge.start();
  await until(() => judge.groupsSettled === 8, 8000, 'eight groups');
  await judge.stop();
  assert.equal((await drain(bus, 'pairs')).length, 8);
  assert.equal(bus.counters().deadLettered.samples ?? 0, 0);
  assert.equal(metrics.snapshot().judge_scorer_unavailable_total ?? 0, 0, 'each fault was absorbed by a retry');
  assert.equal(s.received.length, 8 + 3);
  const m = metrics.snapshot();
  assert.deepEqual(
    [m.judge_http_requests_total, m.judge_http_retries_total, m.judge_http_rate_limited_total, m.judge_http_timeouts_total, m.judge_http_failures_total],
    [8 + 3, 3, 1, 1, 0],
    'the client counts are the judge metrics: 11 attempts, 3 retries (a 500, a 429, a stall), no failed request',
  );
  await bus.close();
});

test('judge + http-reward: a run against a server that answers 429 shows the retries, 429s, failures and breaker openings as metrics', async () => {
  let limited = true;
  const s = await startHttpServer((r) => (limited ? { status: 429, headers: { 'retry-after': '0' }, text: 'rate limited' } : byFirstLetter(r)));
  servers.push(s);
  const bus = makeBus('test');
  const { judge, metrics } = judgeOn(bus, s.url, { maxInFlight: 1, maxRetries: 1, breakerFailures: 2, breakerCooldownMs: 30 });
  assert.equal(metrics.snapshot().judge_http_rate_limited_total, 0, 'registered at zero before any request');
  for (let i = 0; i < 4; i++) await bus.publish('samples', group(i));
  judge.start();
  await until(() => (metrics.snapshot().judge_http_breaker_opens_total ?? 0) >= 2, 5000, 'the breaker to open twice');
  assert.equal(judge.groupsSettled, 0);
  limited = false;
  await until(() => judge.groupsSettled === 4, 5000, 'the four groups once the server stops limiting');
  await judge.stop();
  const m = metrics.snapshot();
  const limitedAnswers = s.received.length - 4;
  assert.equal(m.judge_http_requests_total, s.received.length, 'every attempt the server saw is counted');
  assert.equal(m.judge_http_rate_limited_total, limitedAnswers, 'every 429 is counted');
  assert.ok(m.judge_http_retries_total! >= limitedAnswers / 2, `a retry after each first 429: ${m.judge_http_retries_total} for ${limitedAnswers}`);
  assert.ok(m.judge_http_failures_total! >= 2, `requests that failed after their retry: ${m.judge_http_failures_total}`);
  assert.ok(m.judge_http_breaker_opens_total! >= 2);
  assert.equal(m.judge_http_timeouts_total, 0);
  assert.ok(m.judge_scorer_unavailable_total! >= 1, 'the judge waited for the scorer');
  assert.equal((await drain(bus, 'pairs')).length, 4);
  await bus.close();
});

test('judge + http-reward: a refused key (401) stops the judge with the reason and leaves the groups in the stream', async () => {
  const s = await startHttpServer(() => ({ status: 401, json: { error: 'invalid api key' } }));
  servers.push(s);
  const bus = makeBus('test');
  const { judge } = judgeOn(bus, s.url);
  await bus.publish('samples', group(0));
  judge.start();
  await assert.rejects(judge.finished, /answered 401/);
  assert.equal(bus.counters().deadLettered.samples ?? 0, 0);
  assert.equal(bus.counters().acked.samples ?? 0, 0);
  await judge.stop().catch(() => undefined);
  await bus.close();
});
