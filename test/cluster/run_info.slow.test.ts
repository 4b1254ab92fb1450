// The run-info record a foreign client reads: written by the first actor of a run started by hand (no launcher), and
// it states the consumer settings the actors really give their durables.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { NatsRunControl } from '../../src/run/run_control.js';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsNames } from '../../src/streams/nats/names.js';
import { natsSkip, sharedNatsServer } from '../helpers/nats_server.js';
import { ActorProc, prepareTinyArtifacts, runSets, tempRunsDir, testConfig } from './harness.js';

describe('the run-info record of a run started by hand', { skip: natsSkip(), timeout: 180_000 }, () => {
  before(() => prepareTinyArtifacts());
  const server = sharedNatsServer();

  it('is written by the first actor and matches the durables the actors create', async () => {
    const runs = tempRunsDir();
    const runId = `byhand-${Date.now()}`;
    const learner = new ActorProc('learner', 'learner', server.url, runId, runSets(runs));
    const cfg = testConfig(runs);
    const bus = await NatsBus.connect({ ...cfg.bus, kind: 'nats', servers: [server.url] }, runId, { log: () => {} });
    try {
      await learner.waitFor(/learner learner running in run/, 120_000);
      const control = await NatsRunControl.open(bus);
      const info = await control.info();
      assert.ok(info, 'the learner wrote the record');
      assert.equal(info.runId, runId);
      assert.equal(info.vocabSize, 512, 'tiny.yaml tokenizer.vocabSize');
      assert.match(info.tokenizer.sha256, /^[0-9a-f]{64}$/);
      assert.equal(info.limits.maxPayloadBytes, cfg.bus.maxPayloadBytes);
      const pairs = await bus.jsm.consumers.info(natsNames('rlhf', runId).stream('pairs'), 'learner');
      assert.deepEqual(info.consumers.pairs, { durable: 'learner', maxAckPending: pairs.config.max_ack_pending, ackWaitMs: cfg.bus.ackWaitMs, maxDeliver: pairs.config.max_deliver });
      // tiny.yaml: learner.batchSize 4 * (checkpointEvery 2 + 2); not bus.maxAckPending (256), which work durables do not use.
      assert.equal(pairs.config.max_ack_pending, 16);
    } finally {
      learner.kill('SIGTERM');
      await learner.exited;
      await bus.destroy();
      await bus.close();
    }
  });
});
