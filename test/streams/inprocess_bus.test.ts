// Runs the Bus contract against the in-process bus.
import { InProcessBus } from '../../src/streams/inprocess/bus.js';
import { busConfig, busContract } from './contract.js';

busContract('inprocess', async (overrides, runId) => new InProcessBus(busConfig(overrides), runId, { log: () => {} }));
