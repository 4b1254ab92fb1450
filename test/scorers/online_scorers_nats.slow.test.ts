// The online stage end to end with each kind of scorer over NATS JetStream (a local nats-server): every group judged once.
import { describe, it } from 'node:test';
import { NatsBus } from '../../src/streams/nats/bus.js';
import { natsSkip, sharedNatsServer } from '../helpers/nats_server.js';
import { baseCfg, kinds, runWith, settingsFor } from './online_harness.js';

describe('online stage with each scorer, NATS JetStream', { skip: natsSkip() }, () => {
  const server = sharedNatsServer();

  for (const kind of kinds) {
    it(`${kind}: every group judged once`, async () => {
      const { sections } = await settingsFor(kind);
      const runId = `scorers-${kind}-${Date.now()}`;
      const cfg = baseCfg(sections, { kind: 'nats', servers: [server.url] });
      const bus = await NatsBus.connect(cfg.bus, runId, { log: () => {} });
      try {
        await runWith(kind, cfg, bus);
      } finally {
        await bus.close();
      }
    });
  }
});
