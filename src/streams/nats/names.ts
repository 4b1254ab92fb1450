// Names of a run's subjects, streams and buckets on the NATS server.
import type { TopicName } from '../topics.js';

/** Actor ids are subject tokens (metrics subjects end with one). */
export const ACTOR_ID = /^[A-Za-z0-9_-]+$/;

/** Topics published on one subject per actor (its last token), so a server permission binds each to a user. */
export const PER_ACTOR: ReadonlySet<TopicName> = new Set<TopicName>(['metrics', 'dead']);

/** The actor id a per-actor subject names (its last token). */
export const actorOfSubject = (subject: string): string => subject.slice(subject.lastIndexOf('.') + 1);

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
    /**
     * Dead letters travel the same way, `<prefix>.<runId>.dead.<actorId>`: the server lets each user publish only under
     * its own id, so the subject, not the letter's bytes, says who gave up on a message.
     */
    deadSubject: (actorId: string) => `${prefix}.${runId}.dead.${actorId}`,
    /** The subjects a topic's stream holds. */
    streamSubjects: (topic: TopicName) => (PER_ACTOR.has(topic) ? [`${prefix}.${runId}.${topic}.*`] : [`${prefix}.${runId}.${topic}`]),
    stream: (topic: TopicName) => `${base}_${topic.toUpperCase()}`,
    /** KV bucket (announcements, keys `latest` and `v<version>`) and object store bucket (bytes, objects `v<version>`). */
    weightsBucket: `${base}_WEIGHTS`,
  };
}
