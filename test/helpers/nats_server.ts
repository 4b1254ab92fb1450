// Test access to a local nats-server: the same starter the bench and the `cluster` command use.
import { after, before } from 'node:test';
import { startNatsServer, type NatsServerHandle } from '../../src/streams/nats/server.js';

export { freePort, natsServerAvailable, startNatsServer, type NatsServerHandle, type NatsServerOptions } from '../../src/streams/nats/server.js';

/**
 * One nats-server for the enclosing suite: started in `before` (after `setup`, when given), stopped in `after`.
 * The returned handle forwards to the running server, so tests read `server.url` as usual.
 */
export function sharedNatsServer(setup?: () => void): NatsServerHandle {
  let server: NatsServerHandle | undefined;
  const running = (): NatsServerHandle => {
    if (!server) throw new Error('the shared nats-server is used outside its suite (before it started)');
    return server;
  };
  before(async () => {
    setup?.();
    server = await startNatsServer();
  });
  after(async () => {
    await server?.stop();
  });
  return {
    get url() {
      return running().url;
    },
    get port() {
      return running().port;
    },
    get storeDir() {
      return running().storeDir;
    },
    stop: () => running().stop(),
    kill9: () => running().kill9(),
    restart: () => running().restart(),
  };
}
