// A connection whose node answers JetStream requests only with 503 moves to another node; a healthy node is kept.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { isUnavailable, NodeWatch } from '../../src/streams/nats/node_watch.js';
import { freePort, natsSkip, startNatsServer, type NatsServerHandle } from '../helpers/nats_server.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('NodeWatch', { skip: natsSkip(), timeout: 120_000 }, () => {
  // A cluster node whose peers never come: it elects no JetStream metadata leader and answers every API call 503,
  // as a node cut off from its cluster does. Beside it, a healthy single node.
  let stranded: NatsServerHandle;
  let healthy: NatsServerHandle;
  before(async () => {
    const [route, deadPeer] = [await freePort(), await freePort()];
    stranded = await startNatsServer({ extraConfig: `server_name: stranded\ncluster { name: lone, listen: "127.0.0.1:${route}", routes: ["nats-route://127.0.0.1:${deadPeer}"] }` });
    healthy = await startNatsServer({ extraConfig: 'server_name: healthy' });
  });
  after(async () => {
    await stranded?.stop();
    await healthy?.stop();
  });

  const open = (servers: string[]): Promise<NatsConnection> => connect({ servers, noRandomize: true, maxReconnectAttempts: -1, reconnectTimeWait: 200 });

  it('the stranded node answers 503 to JetStream requests (the condition the watch acts on)', async () => {
    const nc = await open([stranded.url]);
    try {
      // Right after its start the node ignores the request (a timeout); once it gives up on finding a leader it says 503.
      const jsm = await nc.jetstreamManager({ checkAPI: false });
      const deadline = Date.now() + 30_000;
      let err: unknown;
      do {
        err = await jsm.getAccountInfo().then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(err, 'a node with no metadata leader does not answer the account info');
      } while (!isUnavailable(err) && Date.now() < deadline);
      assert.ok(isUnavailable(err), `503 expected, got: ${(err as Error).message}`);
      assert.equal(isUnavailable(new Error('TIMEOUT')), false, 'a timeout is not taken for 503');
    } finally {
      await nc.close();
    }
  });

  it('moves a connection off a node that answers only 503 for longer than switchAfterMs, to a node whose JetStream works', async () => {
    const nc = await open([stranded.url, healthy.url]);
    const lines: string[] = [];
    const watch = new NodeWatch(nc, await nc.jetstreamManager({ checkAPI: false }), { everyMs: 200, switchAfterMs: 1000, log: (l) => lines.push(l) });
    try {
      const node = (): string | undefined => nc.info?.server_name;
      assert.equal(node(), 'stranded');
      const deadline = Date.now() + 30_000;
      while (node() !== 'healthy' && Date.now() < deadline) await sleep(100);
      assert.equal(node(), 'healthy', `the connection moved; log: ${lines.join(' | ')}`);
      assert.ok(watch.moves >= 1);
      assert.match(lines.join('\n'), /node stranded has answered 503 .* moving to another node/);
      // On the healthy node JetStream answers, and the watch stays there.
      await (await nc.jetstreamManager()).getAccountInfo();
      const moves = watch.moves;
      await sleep(2000);
      assert.equal(watch.moves, moves, 'a node that answers is kept');
      assert.equal(node(), 'healthy');
    } finally {
      await watch.stop();
      await nc.close();
    }
  });

  it('keeps a connection whose only server answers 503: there is nowhere to go', async () => {
    const nc = await open([stranded.url]);
    const watch = new NodeWatch(nc, await nc.jetstreamManager({ checkAPI: false }), { everyMs: 100, switchAfterMs: 300, log: () => {} });
    try {
      await sleep(1500);
      assert.equal(watch.moves, 0);
      assert.equal(nc.isClosed(), false);
    } finally {
      await watch.stop();
      await nc.close();
    }
  });
});
