// Test access to a local nats-server: the same starter the bench and the `cluster` command use.
export { freePort, natsServerAvailable, startNatsServer, type NatsServerHandle, type NatsServerOptions } from '../../src/streams/nats_server.js';
