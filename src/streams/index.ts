// The one place that picks a concrete Bus from config; everything else depends on the Bus interface only.
import type { BusConfig } from '../config/index.js';
import type { Bus } from './bus.js';
import type { BusOptions } from './bus_options.js';
import { InProcessBus } from './inprocess/bus.js';

export type { Bus, Delivery, Subscription, WeightStore, BusCounters } from './bus.js';
export { BusError } from './bus.js';
export type { BusOptions } from './bus_options.js';

export async function createBus(cfg: BusConfig, runId: string, opts: BusOptions = {}): Promise<Bus> {
  if (cfg.kind === 'inprocess') return new InProcessBus(cfg, runId, opts);
  // Loaded on demand so in-process runs never load the NATS client.
  const { NatsBus } = await import('./nats/bus.js');
  return NatsBus.connect(cfg, runId, opts);
}
