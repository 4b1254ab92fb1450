// Config slice for the message bus: the in-process rxjs bus (embedded default) or NATS JetStream.
import { int, oneOf, str, strList } from '../fields.js';

export const bus = {
  kind: oneOf(['inprocess', 'nats'] as const, 'inprocess', 'inprocess = one process, no server; nats = NATS JetStream'),
  servers: strList(['nats://127.0.0.1:4222'], 'NATS server URLs'),
  prefix: str('rlhf', 'subject prefix; each run adds its run id under it', /^[A-Za-z0-9_-]+$/),
  replicas: int(1, 1, 5, 'JetStream stream replicas (3 on a cluster)'),
  maxAckPending: int(256, 1, 1_000_000, 'unacked messages per consumer before delivery pauses (backpressure)'),
  ackWaitMs: int(30_000, 100, 3_600_000, 'redelivery after this long without an ack'),
  maxDeliver: int(5, 1, 1000, 'deliveries before a message is dead-lettered'),
  maxPayloadBytes: int(8 * 1024 * 1024, 1024, 64 * 1024 * 1024, 'largest message accepted by the decoder'),
  token: str('', 'NATS auth token (or set RLHF_STREAM_NATS_TOKEN)'),
  user: str('', 'NATS user'),
  pass: str('', 'NATS password (or set RLHF_STREAM_NATS_PASS)'),
  credsFile: str('', 'path of a NATS .creds file (JWT + nkey)'),
  nkeySeedFile: str('', 'path of a file holding an nkey seed'),
  inboxPrefix: str('', 'subject prefix of this process\'s replies; empty: _INBOX_<bus.user> with a user, _INBOX otherwise (per-role users may read only their own)', /^$|^[A-Za-z0-9_-]+$/),
  tlsCaFile: str('', 'CA certificate for TLS'),
  tlsCertFile: str('', 'client certificate for TLS'),
  tlsKeyFile: str('', 'client key for TLS'),
  maxPending: int(4096, 1, 10_000_000, 'unacked messages a work topic (prompts, samples, pairs) holds before publish waits (backpressure)'),
  publishInFlight: int(256, 1, 65_536, 'publishes awaiting their acknowledgement at once, per bus'),
  duplicateWindowMs: int(120_000, 1000, 86_400_000, 'a publish repeating a msgId within this window is stored once'),
  weightsKept: int(3, 2, 1000, 'policy versions the weight store keeps (NATS object store, same-host files, in-process store); storing one deletes those older than the newest weightsKept'),
  weightsPutMsPerMiB: int(1000, 1, 600_000, 'NATS: storing weights times out after 5 s plus this many ms per MiB (500 MB: about 8 min); the object store writes about 80 MiB/s on an idle 2-core machine, far less on a loaded one'),
  retainMessages: int(100_000, 100, 100_000_000, 'messages kept on broadcast topics (metrics, weights, dead); the oldest are dropped'),
};
