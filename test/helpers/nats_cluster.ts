// Three nats-server processes on loopback joined by cluster routes: a JetStream cluster for replicas=3 tests.
import { BusError } from '../../src/streams/bus.js';
import { freePort, startNatsServer, type NatsServerHandle } from './nats_server.js';

export interface NatsClusterHandle {
  /** Client URLs of all nodes, in node order. */
  urls: string[];
  nodes: Array<NatsServerHandle & { name: string }>;
  stop(): Promise<void>;
}

/** Starts `n` nodes named n1..nN; each routes to all the others. JetStream elects its meta leader shortly after. */
export async function startNatsCluster(n = 3, opts: { maxPayloadBytes?: number } = {}): Promise<NatsClusterHandle> {
  const routePorts: number[] = [];
  for (let i = 0; i < n; i++) routePorts.push(await freePort());
  const nodes: Array<NatsServerHandle & { name: string }> = [];
  try {
    for (let i = 0; i < n; i++) {
      const name = `n${i + 1}`;
      const routes = routePorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`);
      const extraConfig = [`server_name: ${name}`, `cluster { name: rlhf, listen: "127.0.0.1:${routePorts[i]}", routes: [${routes.join(', ')}] }`].join('\n');
      const h = await startNatsServer({ extraConfig, ...(opts.maxPayloadBytes ? { maxPayloadBytes: opts.maxPayloadBytes } : {}) });
      nodes.push(Object.assign(h, { name }));
    }
  } catch (err) {
    await Promise.all(nodes.map((x) => x.stop()));
    throw err instanceof BusError ? err : new BusError(`starting a ${n}-node NATS cluster failed: ${(err as Error).message}`);
  }
  return {
    urls: nodes.map((x) => x.url),
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((x) => x.stop()));
    },
  };
}
