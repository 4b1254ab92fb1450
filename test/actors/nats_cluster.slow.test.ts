// The same actors over NATS JetStream (a local nats-server): a streaming and an iterative run with fake ports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startLocalCluster } from '../../src/run/local_cluster.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsSkip, sharedNatsServer } from '../helpers/nats_server.js';
import { config, decode, FakeLearnerPort, FakePolicy, FakeScorer, prompts } from './fakes.js';

describe('actors over NATS', { skip: natsSkip() }, () => {
  const server = sharedNatsServer();

  for (const mode of ['streaming', 'iterative'] as const) {
    it(`${mode}: versions advance, pairs are trained and acked`, async () => {
      const runId = `actors-${mode}-${Date.now()}`;
      const cfg = config({
        bus: { kind: 'nats', servers: [server.url], ackWaitMs: 5000 },
        run: { mode, prompts: 48, iterations: 2 },
        generator: { count: 2, samplesPerPrompt: 4, promptsPerBatch: 2, maxNewTokens: 6 },
        learner: { batchSize: 4, publishEvery: 1, checkpointEvery: 2, totalSteps: 8, maxPolicyLag: 2 },
        monitor: { intervalMs: 200 },
      });
      const bus = await NatsBus.connect(cfg.bus, runId, { log: () => {} });
      const policies: FakePolicy[] = [];
      const port = new FakeLearnerPort(5);
      try {
        const cluster = await startLocalCluster(
          cfg,
          bus,
          {
            policy: () => {
              const p = new FakePolicy(3);
              policies.push(p);
              return p;
            },
            scorer: () => new FakeScorer(),
            learner: port,
            decode,
          },
          { prompts: prompts(12), checkpointDir: `ck-nats-${runId}` },
        );
        const s = await cluster.done;
        if (mode === 'streaming') {
          assert.equal(s.steps, 8);
          assert.equal(s.version, 8);
          assert.ok(policies.some((p) => p.loads.length > 0), 'generators loaded published versions over the object store');
        } else {
          assert.equal(s.version, 2);
          assert.equal(s.samplesScored, 48 * 4);
          assert.ok(policies.some((p) => p.loads.includes(1)), 'the second iteration sampled with version 1');
        }
        assert.equal(s.metrics.learner!.learner_pairs_acked_total, s.pairsTrained);
        const latest = await bus.weights.get();
        assert.equal(latest!.meta.version, s.version);
      } finally {
        await bus.close();
      }
    });
  }
});
