// Names of a run's subjects, streams and buckets on the NATS server.
import type { TopicName } from '../topics.js';

/** Actor ids are subject tokens (metrics subjects end with one). */
export const ACTOR_ID = /^[A-Za-z0-9_-]+$/;

const sanitize = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_');

/** Names of everything a run creates on the server; docs/protocol.md describes the same scheme. */
export function natsNames(prefix: string, runId: string) {
  const base = `${sanitize(prefix).toUpperCase()}_${sanitize(runId)}`;
  return {
    subject: (topic: TopicName) => `${prefix}.${runId}.${topic}`,
    /**
     * Metrics travel on one subject per actor, `<prefix>.<runId>.metrics.<actorId>`: a server permission can then bind an
     * actor's id to its NATS user, and consumers refuse a message whose actorId is not the subject's last token.
     */
    metricsSubject: (actorId: string) => `${prefix}.${runId}.metrics.${actorId}`,
    /** The subjects a topic's stream holds. */
    streamSubjects: (topic: TopicName) => (topic === 'metrics' ? [`${prefix}.${runId}.metrics.*`] : [`${prefix}.${runId}.${topic}`]),
    stream: (topic: TopicName) => `${base}_${topic.toUpperCase()}`,
    /** KV bucket (announcements, keys `latest` and `v<version>`) and object store bucket (bytes, objects `v<version>`). */
    weightsBucket: `${base}_WEIGHTS`,
  };
}
