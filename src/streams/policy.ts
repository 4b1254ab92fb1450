// How each topic keeps messages, shared by both buses so their backpressure and retention agree.
import type { TopicName } from './topics.js';

/**
 * work: each message is meant for one consumer group and kept until acked; at most bus.maxPending unacked
 *   messages are held, and publish waits for room (the backpressure that slows a producer to its consumers).
 * broadcast: the newest bus.retainMessages are kept whether or not anyone reads them; publish never waits.
 */
export type Retention = 'work' | 'broadcast';

export const TOPIC_RETENTION: Record<TopicName, Retention> = {
  prompts: 'work',
  samples: 'work',
  pairs: 'work',
  weights: 'broadcast',
  metrics: 'broadcast',
  dead: 'broadcast',
};
