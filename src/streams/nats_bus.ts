// NATS JetStream bus (in progress).
import type { BusConfig } from '../config/index.js';
import { BusError, type Bus } from './bus.js';
import type { BusOptions } from './bus_options.js';

export class NatsBus {
  static async connect(cfg: BusConfig, runId: string, _opts: BusOptions = {}): Promise<Bus> {
    throw new BusError(`NATS bus is not available yet (servers ${cfg.servers.join(', ')}, run ${runId})`);
  }
}
