// Judge throughput (groups/s) against a local HTTP reward server at 1, 4 and 16 requests in flight, and the judge's overhead per group beyond the server's own latency.
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { systemClock } from '../src/clock.js';
import { Judge } from '../src/actors/judge.js';
import { MetricsRegistry } from '../src/actors/metrics.js';
import { parseConfig } from '../src/config/index.js';
import { HttpClient } from '../src/scorers/http_client.js';
import { HttpRewardScorer } from '../src/scorers/http_reward.js';
import { TextScorerPort } from '../src/scorers/text_port.js';
import { InProcessBus } from '../src/streams/inprocess/bus.js';
import type { SampleGroupMsg } from '../src/streams/topics.js';

const K = 8;
const RESPONSE_TOKENS = 48;
const GROUPS_PER_CALL = 16;

/** The reward server runs in its own thread so its event loop does not share time with the judge's. */
const SERVER = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const server = createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    const body = JSON.parse(raw);
    const reply = JSON.stringify({ scores: body.responses.map((r) => r.length % 13) });
    setTimeout(() => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(reply); }, workerData.latencyMs);
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

async function startServer(latencyMs: number): Promise<{ url: string; stop: () => Promise<number> }> {
  const w = new Worker(SERVER, { eval: true, workerData: { latencyMs } });
  const port = await new Promise<number>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  return { url: `http://127.0.0.1:${port}/score`, stop: () => w.terminate() };
}

function group(runId: string, i: number): SampleGroupMsg {
  const promptTokens = Array.from({ length: 24 }, (_, t) => (t * 7 + i) % 26);
  return {
    type: 'samples', v: 1, runId, groupId: `g${i}`, promptId: `p${i}`, policyVersion: 0, generatorId: 'gen',
    samples: Array.from({ length: K }, (_, k) => ({
      runId, sampleId: `g${i}:${k}`, promptId: `p${i}`, policyVersion: 0, generatorId: 'gen', startedAt: 0, createdAt: 1,
      promptTokens, responseTokens: Array.from({ length: RESPONSE_TOKENS - k }, (_, t) => (t * 3 + k + i) % 26), text: '', finished: true,
    })),
  };
}

const letters = (t: readonly number[]): string => t.map((x) => String.fromCharCode(97 + x)).join('');

/** Judges `n` groups with `inFlight` requests allowed; returns wall seconds. */
async function judgeRun(url: string, inFlight: number, n: number): Promise<number> {
  const runId = `bench-${inFlight}-${n}`;
  const cfg = parseConfig({ judge: { batchSize: GROUPS_PER_CALL * K }, bus: { ackWaitMs: 60_000, maxAckPending: 100_000 } });
  const bus = new InProcessBus(cfg.bus, runId, { log: () => {} });
  for (let i = 0; i < n; i++) await bus.publish('samples', group(runId, i));
  const client = new HttpClient({ ...cfg.scorerHttp, maxInFlight: inFlight, seed: 1 });
  const scorer = new TextScorerPort(new HttpRewardScorer(client, { url, format: 'rlhf-stream' }), { prompt: letters, response: letters });
  const judge = new Judge({ bus, scorer, clock: systemClock, metrics: new MetricsRegistry() }, { judgeId: 'j0', config: cfg.judge, seed: 1, samplesPerPrompt: K, lingerMs: 1 });
  const t0 = performance.now();
  judge.start();
  while (judge.groupsSettled < n) await new Promise((r) => setTimeout(r, 2));
  const secs = (performance.now() - t0) / 1000;
  await judge.stop();
  await bus.close();
  return secs;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const latencyMs = Number(process.env.BENCH_JUDGE_LATENCY_MS ?? 20);
  console.log(`judge benchmark: K=${K} responses of ~${RESPONSE_TOKENS} tokens per group, ${GROUPS_PER_CALL} groups per judge batch, http-reward (rlhf-stream contract)`);
  console.log(`machine: ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(2)} at start; the server runs in a worker thread of this process`);
  const rows: string[] = ['| server latency | requests in flight | groups | groups/s | ideal groups/s (in flight / latency) | judge overhead per group |', '|---|---|---|---|---|---|'];
  for (const lat of [latencyMs, 0]) {
    const server = await startServer(lat);
    await judgeRun(server.url, 4, 32); // warm-up: connections, JIT
    for (const inFlight of lat === 0 ? [1, 16] : [1, 4, 16]) {
      const n = lat === 0 ? 2000 : Math.max(100, Math.round((inFlight * 3000) / Math.max(lat, 1)));
      const secs = median([await judgeRun(server.url, inFlight, n), await judgeRun(server.url, inFlight, n), await judgeRun(server.url, inFlight, n)]);
      const rate = n / secs;
      // Each of `inFlight` lanes spends latency + overhead per group: overhead = secs * inFlight / n - latency.
      const overheadMs = (secs * inFlight * 1000) / n - lat;
      const ideal = lat > 0 ? (inFlight * 1000) / lat : Infinity;
      rows.push(`| ${lat} ms | ${inFlight} | ${n} | ${rate.toFixed(1)} | ${Number.isFinite(ideal) ? ideal.toFixed(1) : '-'} | ${overheadMs.toFixed(2)} ms |`);
      console.error(rows.at(-1));
    }
    await server.stop();
  }
  console.log(rows.join('\n'));
  console.log(`load average ${loadavg()[0]!.toFixed(2)} at the end; median of 3 runs each`);
}

void main();
