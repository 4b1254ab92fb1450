// Names of a run's subjects, streams and buckets on the NATS server.
import type { TopicName } from '../topics.js';

const sanitize = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_');

/** Names of everything a run creates on the server; docs/protocol.md describes the same scheme. */
export function natsNames(prefix: string, runId: string) {
  const base = `${sanitize(prefix).toUpperCase()}_${sanitize(runId)}`;
  return {
    subject: (topic: TopicName) => `${prefix}.${runId}.${topic}`,
    stream: (topic: TopicName) => `${base}_${topic.toUpperCase()}`,
    /** KV bucket (announcements, keys `latest` and `v<version>`) and object store bucket (bytes, objects `v<version>`). */
    weightsBucket: `${base}_WEIGHTS`,
  };
}
