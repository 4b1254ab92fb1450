// The shared HTTP client against real servers on 127.0.0.1: stalls, 500s, garbage, 429 + Retry-After, the breaker, the concurrency limit, secrets.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { HttpClient, HttpRequestRejectedError, parseRetryAfter, redact, type HttpClientOptions } from '../../src/scorers/http_client.js';
import { MalformedReplyError, ScorerUnavailableError } from '../../src/scorers/scorer.js';
import { startHttpServer, type TestServer } from '../helpers/http_server.js';

const SECRET = 'sk-test-SECRET-0123456789';
const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function server(handler: Parameters<typeof startHttpServer>[0]): Promise<TestServer> {
  const s = await startHttpServer(handler);
  servers.push(s);
  return s;
}

function client(o: Partial<HttpClientOptions> = {}): HttpClient {
  return new HttpClient({
    timeoutMs: 2000,
    maxRetries: 2,
    backoffMs: 5,
    maxBackoffMs: 20,
    maxInFlight: 4,
    breakerFailures: 0,
    breakerCooldownMs: 100,
    seed: 1,
    headers: { authorization: `Bearer ${SECRET}` },
    ...o,
  });
}

const numbers = (json: unknown): number[] => {
  const v = (json as { scores?: unknown }).scores;
  if (!Array.isArray(v)) throw new Error('no scores');
  return v as number[];
};

test('http client: a good reply is parsed, and the key goes out as a Bearer header', async () => {
  const s = await server(() => ({ json: { scores: [1, 2] } }));
  assert.deepEqual(await client().postJson(`${s.url}/score`, { x: 1 }, numbers), [1, 2]);
  assert.equal(s.received[0]!.headers.authorization, `Bearer ${SECRET}`);
  assert.deepEqual(s.received[0]!.body, { x: 1 });
});

test('http client: a server that stalls times out, is retried, and ends as unavailable', async () => {
  const s = await server(() => new Promise(() => {}));
  const c = client({ timeoutMs: 100, maxRetries: 1 });
  await assert.rejects(c.postJson(s.url, {}, numbers), (e: Error) => e instanceof ScorerUnavailableError && /timed out after 100 ms \(after 2 attempts\)/.test(e.message));
  assert.equal(s.received.length, 2);
  assert.equal(c.stats.retries, 1);
  assert.equal(c.stats.timeouts, 2, 'both attempts timed out');
  assert.equal(c.stats.failures, 1);
});

test('http client: 500s are retried until one succeeds', async () => {
  let n = 0;
  const s = await server(() => (++n < 3 ? { status: 500, text: 'boom' } : { json: { scores: [3] } }));
  const c = client({ maxRetries: 3 });
  assert.deepEqual(await c.postJson(s.url, {}, numbers), [3]);
  assert.equal(s.received.length, 3);
});

test('http client: garbage is retried and then reported as malformed, quoting the reply', async () => {
  const s = await server(() => ({ text: 'not json at all <html>' }));
  await assert.rejects(client().postJson(s.url, {}, numbers), (e: Error) => e instanceof MalformedReplyError && /not JSON: "not json at all <html>" \(after 3 attempts\)/.test(e.message));
  assert.equal(s.received.length, 3);
  const t = await server(() => ({ json: { rewards: [1] } }));
  await assert.rejects(client({ maxRetries: 0 }).postJson(t.url, {}, numbers), /breaks the contract \(no scores\): "\{\\"rewards\\":\[1\]\}"/);
});

test('http client: 429 waits for Retry-After (seconds) before retrying', async () => {
  let n = 0;
  const s = await server(() => (++n === 1 ? { status: 429, headers: { 'retry-after': '1' }, text: 'slow down' } : { json: { scores: [1] } }));
  const waits: number[] = [];
  const c = client({ sleep: async (ms) => void waits.push(ms) });
  assert.deepEqual(await c.postJson(s.url, {}, numbers), [1]);
  assert.deepEqual(waits, [1000]);
  assert.equal(c.stats.rateLimited, 1);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
  assert.equal(parseRetryAfter('soon', 0), undefined);
});

test('http client: backoff jitter is seeded: the same seed waits the same, within the exponential cap', async () => {
  const s = await server(() => ({ status: 503, text: 'down' }));
  const run = async (seed: number): Promise<number[]> => {
    const waits: number[] = [];
    await assert.rejects(client({ seed, maxRetries: 4, backoffMs: 100, maxBackoffMs: 250, sleep: async (ms) => void waits.push(ms) }).postJson(s.url, {}, numbers), ScorerUnavailableError);
    return waits;
  };
  const a = await run(5);
  assert.deepEqual(await run(5), a);
  assert.notDeepEqual(await run(6), a);
  [100, 200, 250, 250].forEach((cap, i) => assert.ok(a[i]! >= 0 && a[i]! <= cap, `wait ${i} = ${a[i]} within ${cap}`));
});

test('http client: the breaker opens after consecutive failures, fails fast, and closes after a good trial', async () => {
  let healthy = false;
  const s = await server(() => (healthy ? { json: { scores: [1] } } : { status: 500, text: 'x' }));
  let now = 0;
  const c = client({ maxRetries: 0, breakerFailures: 2, breakerCooldownMs: 1000, now: () => now });
  await assert.rejects(c.postJson(s.url, {}, numbers), ScorerUnavailableError);
  await assert.rejects(c.postJson(s.url, {}, numbers), ScorerUnavailableError);
  assert.ok(c.open);
  const sent = s.received.length;
  await assert.rejects(c.postJson(s.url, {}, numbers), /circuit open/);
  assert.equal(s.received.length, sent, 'an open circuit sends nothing');
  now = 1500;
  healthy = true;
  assert.deepEqual(await c.postJson(s.url, {}, numbers), [1]);
  assert.ok(!c.open);
  assert.equal(c.stats.breakerOpens, 1);
});

test('http client: no more than maxInFlight requests are in flight at once', async () => {
  let inFlight = 0;
  let peak = 0;
  const s = await server(async () => {
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setTimeout(r, 30));
    inFlight--;
    return { json: { scores: [1] } };
  });
  const c = client({ maxInFlight: 3 });
  await Promise.all(Array.from({ length: 12 }, () => c.postJson(s.url, {}, numbers)));
  assert.equal(peak, 3);
  assert.equal(s.received.length, 12);
});

test('http client: the key never appears in an error, even when the server echoes it back', async () => {
  const echo = await server((r) => ({ status: 500, text: `bad auth header ${String(r.headers.authorization)}` }));
  const rejected = await server((r) => ({ status: 401, text: `key ${String(r.headers.authorization)} refused` }));
  const garbage = await server((r) => ({ text: `<${String(r.headers.authorization)}>` }));
  const errors: Error[] = [];
  for (const s of [echo, rejected, garbage]) await client({ maxRetries: 0 }).postJson(`${s.url}/x?api_key=${SECRET}`, {}, numbers).catch((e: Error) => errors.push(e));
  assert.equal(errors.length, 3);
  assert.ok(errors[1] instanceof HttpRequestRejectedError && errors[1].status === 401);
  for (const e of errors) {
    assert.ok(!e.message.includes(SECRET) && !(e.stack ?? '').includes(SECRET), e.message);
    assert.match(e.message, /\[redacted\]/, 'the echoed key is replaced');
    assert.ok(!e.message.includes('api_key'), 'the query string is left out of the URL');
  }
  assert.equal(redact(`a ${SECRET} b`, [SECRET]), 'a [redacted] b');
});
