// The example external judge in Go (examples/go-judge), built from docs/protocol.md alone, joins a live run beside a
// (slow) TypeScript judge: its pairs are accepted and trained once, its dead letter and metrics pass the TypeScript
// validators, and the run's accounting holds.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startLocalCluster } from '../../src/run/local_cluster.js';
import { NatsRunControl } from '../../src/run/run_control.js';
import { runInfo } from '../../src/run/run_info.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import type { DeadLetterMsg, MetricsMsg } from '../../src/streams/topics.js';
import { config, decode, FakeLearnerPort, FakeScorer, LogprobFakePolicy, prompts, until, VOCAB } from '../actors/fakes.js';
import { natsSkip, sharedNatsServer } from '../helpers/nats_server.js';

const goMissing = spawnSync('go', ['version']).status !== 0;
const GO_ENV = { ...process.env, GOPATH: '/usr/share/gocode', GO111MODULE: 'off' };

function skipReason(): string | false {
  if (goMissing) return 'needs the go toolchain with nats.go and msgpack (Debian: golang-go golang-github-nats-io-go-nats-dev golang-github-vmihailenco-msgpack.v5-dev)';
  return natsSkip();
}

/** A TypeScript judge slowed down, so the Go judge takes a fair share of the groups. */
class SlowScorer extends FakeScorer {
  override async score(prompt: number[], responses: number[][]): Promise<number[]> {
    await new Promise((r) => setTimeout(r, 40));
    return super.score(prompt, responses);
  }
}

describe('the Go example judge in a live run', { skip: skipReason(), timeout: 240_000 }, () => {
  const server = sharedNatsServer();

  it('builds offline, shares the judges\' work, and every pair is trained once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlhf-gojudge-'));
    const binary = join(dir, 'go-judge');
    const build = spawnSync('go', ['build', '-o', binary, '.'], { cwd: 'examples/go-judge', env: { ...GO_ENV, GOCACHE: join(dir, 'gocache') }, encoding: 'utf8', timeout: 180_000 });
    assert.equal(build.status, 0, `go build failed:\n${build.stderr}`);

    const runId = `gojudge-${Date.now()}`;
    const cfg = config({
      bus: { kind: 'nats', servers: [server.url], ackWaitMs: 5000 },
      run: { mode: 'streaming', prompts: 400 },
      generator: { count: 1, samplesPerPrompt: 4, promptsPerBatch: 2, maxNewTokens: 6 },
      learner: { batchSize: 4, publishEvery: 1, checkpointEvery: 2, totalSteps: 12, maxPolicyLag: 1000 },
      monitor: { intervalMs: 200 },
    });
    const bus = await NatsBus.connect(cfg.bus, runId, { log: () => {}, schema: { vocabSize: VOCAB } });
    const control = await NatsRunControl.open(bus);
    const tokJson = '{"model":{"type":"BPE"}}';
    await control.setInfo(runInfo(cfg, runId, { vocabSize: VOCAB, special: { bos: 0, eos: 1, pad: 2, prompt: 3, response: 4, context: 5, responseA: 6, responseB: 7 }, json: tokJson, file: '/nonexistent/tokenizer.json' }), tokJson);
    // A group the Go judge must dead-letter: not msgpack at all.
    await bus.publishRaw('samples', new Uint8Array([0xc1, 0xc1]));
    const dead = bus.consume('dead', { durable: 'audit' });
    const letters: DeadLetterMsg[] = [];
    const deadLoop = (async () => {
      for await (const d of dead) {
        letters.push(d.data);
        await d.ack();
      }
    })();
    const metrics = bus.consume('metrics', { durable: 'audit' });
    const goMetrics: MetricsMsg[] = [];
    const metricsLoop = (async () => {
      for await (const d of metrics) {
        if (d.data.actorId === 'go-judge') goMetrics.push(d.data);
        await d.ack();
      }
    })();

    let out = '';
    const judge = spawn(binary, ['--nats', server.url, '--run', runId, '--id', 'go-judge'], { stdio: ['ignore', 'pipe', 'pipe'] });
    judge.stdout.on('data', (b: Buffer) => (out += b.toString()));
    judge.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => judge.once('exit', (code) => r(code)));
    try {
      await until(() => letters.length === 1, 30_000, `the Go judge's dead letter (its output: ${out})`);
      assert.equal(letters[0]!.topic, 'samples', letters[0]!.reason);
      assert.match(letters[0]!.reason, /^samples: not a valid sample group/);
      assert.match(out, new RegExp(`run ${runId}, vocabulary ${VOCAB}, durable "judges", maxDeliver 5`));

      const port = new FakeLearnerPort(5);
      const cluster = await startLocalCluster(cfg, bus, { policy: () => new LogprobFakePolicy(3), scorer: () => new SlowScorer(), learner: port, decode }, { prompts: prompts(12), checkpointDir: `ck-${runId}` });
      const s = await cluster.done;
      assert.equal(s.steps, 12);
      const trained = port.trained.flatMap((t) => t.pairIds);
      assert.equal(new Set(trained).size, trained.length, 'no pair trained twice');
      assert.ok(trained.every((id) => /^p:/.test(id)), 'pair ids follow p:<groupId>');
      assert.equal(s.metrics.learner!.learner_pairs_acked_total, s.pairsTrained);
      assert.equal(s.metrics.learner!.learner_pairs_invalid_total ?? 0, 0, 'the learner accepted every Go pair');
      // Behaviour log-probs came through both judges (the Go judge passes them on): every side was checkable, all in sync.
      assert.ok(s.metrics.learner!.learner_sync_samples_checked_total! > 0);
      assert.equal(s.metrics.learner!.learner_sync_samples_unchecked_total ?? 0, 0);
      assert.equal(s.metrics.learner!.learner_sync_warnings_total ?? 0, 0);

      await until(() => goMetrics.some((m) => (m.values.judge_pairs_total ?? 0) > 0), 10_000, 'Go judge metrics with pairs');
      const goPairs = Math.max(...goMetrics.map((m) => m.values.judge_pairs_total ?? 0));
      assert.ok(goPairs > 0, 'the Go judge paired groups');
      // Only the garbage group was dead-lettered: the Go judge's pairs and metrics passed validation.
      assert.equal(letters.length, 1, letters.map((l) => l.reason).join('\n'));
    } finally {
      judge.kill('SIGTERM');
      await exited;
      await dead.stop();
      await metrics.stop();
      await deadLoop;
      await metricsLoop;
      await bus.destroy();
      await bus.close();
    }
  });
});
