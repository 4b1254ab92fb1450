// The durable consumers of a run, created by the launcher (the admin user) before any actor starts: actors only bind.
import { generatorsMaxAckPending, GENERATOR_DURABLE } from '../actors/generator.js';
import { judgesMaxAckPending, JUDGE_DURABLE } from '../actors/judge.js';
import { learnerMaxAckPending, LEARNER_DURABLE } from '../actors/learner.js';
import type { Config } from '../config/index.js';
import type { ConsumeOptions } from '../streams/bus.js';
import type { NatsBus } from '../streams/nats/bus.js';
import type { TopicName } from '../streams/topics.js';

/** Each durable of a run with the settings its actors ask for (src/actors: each actor's openInbox call). */
export function runConsumers(cfg: Config): Array<{ topic: TopicName; opts: ConsumeOptions }> {
  return [
    { topic: 'prompts', opts: { durable: GENERATOR_DURABLE, maxAckPending: generatorsMaxAckPending(cfg.generator), ackWaitMs: cfg.bus.ackWaitMs } },
    { topic: 'samples', opts: { durable: JUDGE_DURABLE, maxAckPending: judgesMaxAckPending(cfg.judge, cfg.generator.samplesPerPrompt), ackWaitMs: cfg.bus.ackWaitMs } },
    { topic: 'pairs', opts: { durable: LEARNER_DURABLE, maxAckPending: learnerMaxAckPending(cfg.learner), ackWaitMs: cfg.bus.ackWaitMs } },
    // The launcher's monitor and `rlhf-stream monitor`.
    { topic: 'metrics', opts: { durable: 'monitor' } },
    { topic: 'metrics', opts: { durable: 'monitor-cli' } },
  ];
}

/**
 * Creates (or settles the settings of) every durable of the run. Under per-role NATS users only the admin may: a role
 * that could create or change a consumer could rewrite its own role's durable (ack wait, max deliver) or point a new
 * consumer's deliveries at any subject.
 */
export async function ensureRunConsumers(bus: NatsBus, cfg: Config): Promise<void> {
  for (const c of runConsumers(cfg)) await bus.ensureConsumer(c.topic, c.opts);
}
