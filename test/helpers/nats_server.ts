// Test access to a local nats-server: the same starter the bench and the `cluster` command use.
import { after, before } from 'node:test';
import { natsServerAvailable, startNatsServer as startServer, type NatsServerHandle, type NatsServerOptions } from '../../src/streams/nats/server.js';

export { freePort, natsServerAvailable, type NatsServerHandle, type NatsServerOptions } from '../../src/streams/nats/server.js';

/** Starts a nats-server for a test; refused under `--unit` (a test that needs a server belongs in a *.slow.test.ts file). */
export function startNatsServer(opts?: NatsServerOptions): Promise<NatsServerHandle> {
  if (process.env.RLHF_UNIT_TESTS === '1') {
    throw new Error('unit tests start no nats-server: name the test file *.slow.test.ts, or run it with `npm test`');
  }
  return startServer(opts);
}

/** The skip reason for a suite that needs a nats-server, or false when one can be started here. */
export function natsSkip(): string | false {
  return natsServerAvailable() ? false : 'needs the nats-server binary on PATH (Debian: apt-get install nats-server)';
}

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
