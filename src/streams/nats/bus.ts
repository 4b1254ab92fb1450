// NATS JetStream bus: one stream per topic under a per-run subject prefix, durable pull consumers, KV + object store weights.
import { randomUUID } from 'node:crypto';
import {
  AckPolicy,
  connect,
  DeliverPolicy,
  DiscardPolicy,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type ConsumerConfig,
  type StreamConfig,
} from 'nats';
import type { BusConfig } from '../../config/index.js';
import { BusError, type Bus, type ConsumeOptions, type PublishOptions, type Subscription, type WeightStore } from '../bus.js';
import type { BusOptions, RawPublisher } from '../bus_options.js';
import { encodeDeadLetter } from '../dead_letter.js';
import { TOPIC_RETENTION } from '../policy.js';
import { TOPIC_NAMES, type TopicName, type Topics } from '../topics.js';
import { WireBus } from '../wire_bus.js';
import { connectError, connectionOptions, isNatsError, permissionRefused, retryable } from './errors.js';
import { ACTOR_ID, actorOfSubject, natsNames } from './names.js';
import { NODE_WATCH_DEFAULTS, NodeWatch } from './node_watch.js';
import { Semaphore } from './semaphore.js';
import { NatsSubscription } from './subscription.js';
import { NatsWeightStore } from './weight_store.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long connect() keeps asking again when stream setup times out. */
const SETUP_RETRY_MS = 30_000;

export class NatsBus extends WireBus implements Bus, RawPublisher {
  readonly kind = 'nats' as const;
  readonly weights: WeightStore;
  /** Connection events seen so far, by type (disconnect, reconnect, ...). */
  readonly connectionEvents: Record<string, number> = {};
  /** Publishes stored again under a fresh msgId, by topic: their msgId was held by another message (see PublishOptions.sameWork). */
  readonly republished: Record<string, number> = {};
  private closed = false;
  private readonly names: ReturnType<typeof natsNames>;
  private readonly inFlight: Semaphore;
  private readonly consumers = new Map<string, Promise<void>>();
  private readonly subs = new Set<NatsSubscription<TopicName>>();
  private readonly log: (line: string) => void;
  /** The id this process's dead letters go out under (BusOptions.actorId). */
  readonly sender: string;
  private statusLoop: Promise<void> = Promise.resolve();
  private stopStatus: () => void = () => {};
  private nodeWatch: NodeWatch | undefined;

  private constructor(
    readonly cfg: BusConfig,
    readonly runId: string,
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    opts: BusOptions,
  ) {
    super(cfg.maxPayloadBytes, opts.schema);
    this.names = natsNames(cfg.prefix, runId);
    this.inFlight = new Semaphore(cfg.publishInFlight);
    this.log = opts.log ?? ((line) => console.error(line));
    this.sender = senderOf(cfg, opts.actorId);
    this.weights = new NatsWeightStore(this, opts.weightsDir);
  }

  /** Connects, then creates every stream of the run that is missing and adopts those that exist (many actors start at once). */
  static async connect(cfg: BusConfig, runId: string, opts: BusOptions = {}): Promise<NatsBus> {
    let nc: NatsConnection;
    try {
      nc = await connect(connectionOptions(cfg, runId));
    } catch (err) {
      throw connectError(err, cfg);
    }
    try {
      checkServerLimit(nc, cfg);
      // A cluster under load, or still placing the replicas of streams other processes just made, answers some setup
      // requests only after a timeout: those are asked again (every step is idempotent) for up to SETUP_RETRY_MS.
      const deadline = Date.now() + SETUP_RETRY_MS;
      const settle = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
        for (;;) {
          try {
            return await f();
          } catch (err) {
            if (retryable(err) !== 'transient' || Date.now() > deadline) throw err;
            (opts.log ?? ((l: string) => console.error(l)))(`bus: ${what} for run ${runId}: ${(err as Error).message}; asking again`);
            await sleep(250);
          }
        }
      };
      const jsm = await settle('JetStream', () => nc.jetstreamManager());
      const bus = new NatsBus(cfg, runId, nc, nc.jetstream(), jsm, opts);
      bus.statusLoop = bus.watchStatus();
      bus.nodeWatch = new NodeWatch(nc, jsm, { ...NODE_WATCH_DEFAULTS, ...opts.nodeWatch, log: bus.log });
      for (const topic of TOPIC_NAMES) await settle(`stream for ${topic}`, () => bus.ensureStream(topic));
      await settle('weight store', () => (bus.weights as NatsWeightStore).open());
      return bus;
    } catch (err) {
      await nc.close();
      if (err instanceof BusError) throw err;
      throw new BusError(`NATS at ${cfg.servers.join(', ')}: setting up JetStream for run ${runId} failed: ${(err as Error).message}`);
    }
  }

  private async watchStatus(): Promise<void> {
    const events = this.nc.status();
    // The client returns a QueuedIterator, which has stop(); its declared type does not say so.
    this.stopStatus = () => (events as AsyncIterable<unknown> & { stop?: () => void }).stop?.();
    for await (const s of events) {
      this.connectionEvents[s.type] = (this.connectionEvents[s.type] ?? 0) + 1;
      if (s.type === 'pingTimer' || s.type === 'reconnecting') continue;
      this.log(`bus: NATS ${s.type}${typeof s.data === 'string' || typeof s.data === 'number' ? ` ${s.data}` : ''}`);
    }
  }

  private streamConfig(topic: TopicName): Partial<StreamConfig> {
    const work = TOPIC_RETENTION[topic] === 'work';
    return {
      name: this.names.stream(topic),
      subjects: this.names.streamSubjects(topic),
      storage: StorageType.File,
      num_replicas: this.cfg.replicas,
      // Work topics: kept until acked, at most maxPending, publish refused (and retried) when full.
      retention: work ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
      discard: work ? DiscardPolicy.New : DiscardPolicy.Old,
      max_msgs: work ? this.cfg.maxPending : this.cfg.retainMessages,
      max_msg_size: this.cfg.maxPayloadBytes,
      duplicate_window: nanos(this.cfg.duplicateWindowMs),
    };
  }

  private async ensureStream(topic: TopicName): Promise<void> {
    const want = this.streamConfig(topic);
    const name = want.name!;
    let existing: StreamConfig;
    try {
      existing = (await this.jsm.streams.info(name)).config;
    } catch (err) {
      if (!isNatsError(err) || err.api_error?.err_code !== 10059) throw err;
      try {
        await this.jsm.streams.add(want);
        return;
      } catch (addErr) {
        // Another process created it first: adopt what it made.
        if (!isNatsError(addErr) || addErr.api_error?.err_code !== 10058) throw addErr;
        existing = (await this.jsm.streams.info(name)).config;
      }
    }
    this.adoptStream(topic, existing, want);
  }

  /**
   * A stream that exists is used as it is and never updated: a process started with other settings (a monitor with the
   * default bus.replicas=1) must not weaken a replicated run. Settings that would change what this process relies on are
   * refused with the difference named; limits that differ are adopted and said once.
   */
  private adoptStream(topic: TopicName, have: StreamConfig, want: Partial<StreamConfig>): void {
    const name = have.name;
    const refuse = (what: string): never => {
      throw new BusError(`stream ${name} exists with ${what}; a process never changes an existing stream. Start this process with the run's settings, or delete the run's streams (a new run.id) to change them`);
    };
    if (have.retention !== want.retention) refuse(`retention ${have.retention}, this process expects ${want.retention}`);
    const subjects = this.names.streamSubjects(topic);
    if (!subjects.every((x) => have.subjects?.includes(x))) refuse(`subjects ${JSON.stringify(have.subjects)}, this process expects ${JSON.stringify(subjects)}`);
    if (want.retention === RetentionPolicy.Workqueue) {
      // Limits that make a full work stream drop what it holds: nats-server 2.9 with discard new and max_bytes accepts
      // every publish and then removes the oldest messages (measured in docs/reliability.md), so a sample or pair
      // would vanish without an error. A work stream is bounded by max_msgs (bus.maxPending) and back-pressure only.
      const why = 'a work stream must never drop what it stores; bound it with bus.maxPending, which makes publishers wait';
      if (have.discard !== DiscardPolicy.New) refuse(`discard ${have.discard}, which drops the oldest messages when full (${why})`);
      if (have.max_bytes !== undefined && have.max_bytes > 0) refuse(`max_bytes ${have.max_bytes}, and nats-server 2.9 drops the oldest messages silently once it is reached (${why})`);
      if (have.max_age !== undefined && have.max_age > 0) refuse(`max_age ${have.max_age / 1e9} s, which drops messages not consumed in time (${why})`);
    }
    if (have.num_replicas < this.cfg.replicas) {
      refuse(`${have.num_replicas} replica(s), and bus.replicas=${this.cfg.replicas} asks for more (set bus.replicas=${have.num_replicas} to join it as it is)`);
    }
    const diffs: string[] = [];
    if (have.num_replicas !== want.num_replicas) diffs.push(`replicas ${have.num_replicas} (bus.replicas ${want.num_replicas})`);
    if (have.max_msgs !== want.max_msgs) diffs.push(`max_msgs ${have.max_msgs} (here ${want.max_msgs})`);
    if (have.max_msg_size !== want.max_msg_size) diffs.push(`max_msg_size ${have.max_msg_size} (bus.maxPayloadBytes ${want.max_msg_size})`);
    if (have.duplicate_window !== want.duplicate_window) diffs.push(`duplicate_window ${have.duplicate_window / 1e6} ms (bus.duplicateWindowMs ${(want.duplicate_window ?? 0) / 1e6})`);
    if (diffs.length > 0) this.log(`bus: using stream ${name} as it exists: ${diffs.join(', ')}`);
  }

  override async publish<K extends TopicName>(topic: K, msg: Topics[K], opts: PublishOptions = {}): Promise<void> {
    const bytes = this.wire.encodeChecked(topic, msg);
    await this.publishRaw(topic, bytes, topic === 'metrics' ? { ...opts, actorId: (msg as Topics['metrics']).actorId } : opts);
  }

  /**
   * The subject a publish goes to: metrics under the sending actor's id (`_` for raw bytes that name none), dead letters
   * under this process's own id (BusOptions.actorId; the server refuses any other under per-role users).
   */
  subjectFor(topic: TopicName, actorId = '_'): string {
    if (topic === 'dead') return this.names.deadSubject(this.sender);
    if (topic !== 'metrics') return this.names.subject(topic);
    if (!ACTOR_ID.test(actorId)) throw new BusError(`metrics actorId must match [A-Za-z0-9_-]+ (it is a subject token); got ${JSON.stringify(actorId)}`);
    return this.names.metricsSubject(actorId);
  }

  logLine(line: string): void {
    this.log(line);
  }

  /** Every dead letter the run's dead stream received, from any process (its last sequence: trimming does not lower it). */
  async deadLettersStored(): Promise<number> {
    return this.messagesStored('dead');
  }

  /**
   * Dead letters the dead stream holds now, by sender: the last token of the subject each was stored under, which the
   * server binds to the publishing user (never the letter's own bytes). Letters trimmed by bus.retainMessages are gone.
   */
  async deadLettersBySender(): Promise<Record<string, number>> {
    const info = await this.jsm.streams.info(this.names.stream('dead'), { subjects_filter: '>' });
    const out: Record<string, number> = {};
    for (const [subject, n] of Object.entries(info.state.subjects ?? {})) out[actorOfSubject(subject)] = (out[actorOfSubject(subject)] ?? 0) + n;
    return out;
  }

  /** Every message a topic's stream stored in the run, from any process (a repeated msgId once; acks do not lower it). */
  async messagesStored(topic: TopicName): Promise<number> {
    return (await this.jsm.streams.info(this.names.stream(topic))).state.last_seq;
  }

  /**
   * The largest message this bus may publish now: bus.maxPayloadBytes, or the connected server's max_payload when that is
   * smaller (connect refuses such a server, but a reconnect may reach one started with other settings).
   */
  publishLimit(): { bytes: number; name: string } {
    const server = this.nc.info?.max_payload;
    if (server !== undefined && server < this.cfg.maxPayloadBytes) return { bytes: server, name: `the NATS server's max_payload` };
    return { bytes: this.cfg.maxPayloadBytes, name: 'bus.maxPayloadBytes' };
  }

  override async publishRaw(topic: TopicName, bytes: Uint8Array, opts: PublishOptions & { actorId?: string } = {}): Promise<void> {
    if (this.closed) throw new BusError(`bus is closed; cannot publish to ${topic}`);
    const limit = this.publishLimit();
    if (bytes.length > limit.bytes) throw new BusError(`message for ${topic} is ${bytes.length} bytes, over ${limit.name} ${limit.bytes}`);
    // Every publish carries a msgId, so a retry after a lost PubAck is stored once.
    // A random one per publish (not a counter): a participant that sees stored msgIds (the monitor reads the metrics
    // stream's headers) cannot tell the next one, so cannot store a message under it first and have this one dropped.
    const msgID = opts.msgId ?? `${this.sender}-${randomUUID()}`;
    const subject = this.subjectFor(topic, opts.actorId);
    await this.inFlight.acquire();
    try {
      let backoff = 10;
      let attempts = 0;
      for (;;) {
        try {
          attempts++;
          const ack = await this.js.publish(subject, bytes, { msgID, timeout: 5000 });
          if (ack.duplicate && opts.sameWork) {
            const why = await this.notOurs(topic, ack.seq, bytes, opts.sameWork, attempts > 1);
            if (why) {
              // Another message holds this msgId (pre-empted, or consumed already): store the work under a fresh one.
              const fresh = `${msgID}~${randomUUID().slice(0, 8)}`;
              this.republished[topic] = (this.republished[topic] ?? 0) + 1;
              this.log(`bus: a publish to ${subject} under msgId ${msgID} was answered "duplicate", but the stored message (seq ${ack.seq}) ${why}; publishing it again under msgId ${fresh}`);
              await this.js.publish(subject, bytes, { msgID: fresh, timeout: 5000 });
            }
          }
          this.count('published', topic);
          return;
        } catch (err) {
          const why = retryable(err);
          if (!why || this.closed) {
            if (this.closed) throw new BusError(`bus closed while publishing to ${topic}`);
            throw new BusError(`publish to ${subject} failed: ${(err as Error).message}`);
          }
          // A full work topic is the backpressure signal: wait for consumers to ack, then try again.
          await sleep(backoff);
          backoff = Math.min(why === 'full' ? 200 : 1000, backoff * 2);
        }
      }
    } finally {
      this.inFlight.release();
    }
  }

  /**
   * Why the message stored at `seq` is not this publish (undefined when it is, or when it is the same work). `retried`:
   * an earlier attempt of this publish may have been stored (its acknowledgement lost), and consumed since.
   */
  private async notOurs(topic: TopicName, seq: number, bytes: Uint8Array, sameWork: (stored: unknown | undefined) => boolean, retried: boolean): Promise<string | undefined> {
    let stored: Uint8Array;
    try {
      stored = (await this.jsm.streams.getMessage(this.names.stream(topic), { seq })).data;
    } catch (err) {
      if ((err as { code?: string }).code === '404' || /no message found/i.test((err as Error).message)) {
        return retried || sameWork(undefined) ? undefined : 'is no longer stored (consumed or removed), so it cannot be shown to be this work';
      }
      throw err;
    }
    if (stored.length === bytes.length && stored.every((b, i) => b === bytes[i])) return undefined;
    const decoded = this.decodeFor(topic, stored);
    if (!decoded.ok) return `is invalid (${decoded.reason})`;
    return sameWork(decoded.value) ? undefined : 'is other work under the same msgId';
  }

  async sendDeadLetter(topic: TopicName, reason: string, deliveries: number, payload: Uint8Array): Promise<void> {
    this.count('deadLettered', topic);
    this.log(`bus: dead letter on ${topic} after ${deliveries} deliveries: ${reason}`);
    await this.publishRaw('dead', encodeDeadLetter(this.codec, { runId: this.runId, topic, reason, deliveries, payload, ts: Date.now() }, this.publishLimit()));
  }

  /** Creates or updates the durable pull consumer once per bus; consumers with the same name share its messages. */
  ensureConsumer(topic: TopicName, opts: ConsumeOptions): Promise<void> {
    const key = `${topic}/${opts.durable}`;
    let ready = this.consumers.get(key);
    if (!ready) {
      ready = this.createConsumer(topic, opts);
      this.consumers.set(key, ready);
      ready.catch(() => this.consumers.delete(key));
    }
    return ready;
  }

  private async createConsumer(topic: TopicName, opts: ConsumeOptions): Promise<void> {
    const stream = this.names.stream(topic);
    const settings = {
      ack_policy: AckPolicy.Explicit,
      max_ack_pending: opts.maxAckPending ?? this.cfg.maxAckPending,
      ack_wait: nanos(opts.ackWaitMs ?? this.cfg.ackWaitMs),
      // One delivery beyond maxDeliver: it arrives only to be dead-lettered (a message that kept timing out).
      max_deliver: (opts.maxDeliver ?? this.cfg.maxDeliver) + 1,
    };
    let have: ConsumerConfig | undefined;
    try {
      have = (await this.jsm.consumers.info(stream, opts.durable)).config;
    } catch (err) {
      if (!isNatsError(err) || err.api_error?.err_code !== 10014) throw err;
    }
    if (have) {
      const same = have.max_ack_pending === settings.max_ack_pending && have.ack_wait === settings.ack_wait && have.max_deliver === settings.max_deliver;
      if (same) return;
      try {
        await this.jsm.consumers.update(stream, opts.durable, settings);
      } catch (err) {
        if (!permissionRefused(err)) throw err;
        // Per-role users bind to the durables the admin made and change none (permissions.ts): said once, then used.
        this.log(`bus: using durable ${opts.durable} on ${stream} as the run's admin created it (max_ack_pending ${have.max_ack_pending}, ack_wait ${(have.ack_wait ?? 0) / 1e6} ms, max_deliver ${have.max_deliver}); this user may not change it`);
      }
      return;
    }
    try {
      await this.jsm.consumers.add(stream, {
        durable_name: opts.durable,
        deliver_policy: opts.deliverNew ? DeliverPolicy.New : DeliverPolicy.All,
        ...settings,
      });
    } catch (err) {
      // Created meanwhile by another process: the update path settles the settings.
      if (isNatsError(err) && /already (exists|in use)/.test(err.message)) {
        await this.jsm.consumers.update(stream, opts.durable, settings);
        return;
      }
      if (isNatsError(err) && /multiple non-filtered consumers not allowed on workqueue stream/.test(err.message)) {
        throw new BusError(`${topic} is a work topic: one consumer group (durable) reads it; ${JSON.stringify(opts.durable)} is a second one`);
      }
      if (permissionRefused(err)) {
        throw new BusError(`durable ${opts.durable} on stream ${stream} does not exist, and this NATS user may not create it: the run's admin creates the durables (rlhf-stream cluster does, before it starts the actors)`);
      }
      throw err;
    }
  }

  consume<K extends TopicName>(topic: K, opts: ConsumeOptions): Subscription<Topics[K]> {
    if (this.closed) throw new BusError(`bus is closed; cannot consume ${topic}`);
    if (!/^[A-Za-z0-9_-]+$/.test(opts.durable)) throw new BusError(`durable name must match [A-Za-z0-9_-]+; got ${JSON.stringify(opts.durable)}`);
    const sub = new NatsSubscription<K>(this, topic, opts, opts.maxDeliver ?? this.cfg.maxDeliver, this.names.stream(topic));
    this.subs.add(sub as unknown as NatsSubscription<TopicName>);
    return sub;
  }

  /** The next ensureConsumer() asks the server again (its consumer vanished, e.g. in a replica's reset after a partition). */
  consumerGone(topic: TopicName, durable: string): void {
    this.consumers.delete(`${topic}/${durable}`);
  }

  forget(sub: NatsSubscription<TopicName>): void {
    this.subs.delete(sub);
  }

  /** Deletes every stream, consumer and bucket of this run (tests and `cluster reset`). */
  async destroy(): Promise<void> {
    for (const topic of TOPIC_NAMES) await this.jsm.streams.delete(this.names.stream(topic)).catch(() => false);
    await this.jsm.streams.delete(`KV_${this.names.weightsBucket}`).catch(() => false);
    await this.jsm.streams.delete(`OBJ_${this.names.weightsBucket}`).catch(() => false);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.nodeWatch?.stop();
    for (const sub of [...this.subs]) await sub.stop();
    // drain() flushes pending acks and publishes before closing.
    await this.nc.drain().catch(() => this.nc.close());
    // The status iterator does not end by itself when the connection closes.
    this.stopStatus();
    await this.statusLoop;
  }
}


/**
 * Refuses a server that cannot carry bus.maxPayloadBytes: every actor sizes its messages (dead letters holding a whole
 * poison message) to that limit, so a smaller max_payload would make one large message fail every publish about it.
 */
function checkServerLimit(nc: NatsConnection, cfg: BusConfig): void {
  const serverMax = nc.info?.max_payload;
  if (serverMax === undefined || serverMax >= cfg.maxPayloadBytes) return;
  throw new BusError(
    `NATS at ${nc.getServer()} accepts messages of at most ${serverMax} bytes (its max_payload), less than bus.maxPayloadBytes ${cfg.maxPayloadBytes}: ` +
      `start the server with \`max_payload: ${cfg.maxPayloadBytes}\` in its config file (nats-server -c FILE), or set bus.maxPayloadBytes=${serverMax}`,
  );
}

/** The id a process's dead letters carry in their subject: the explicit one, else the NATS user's, else its inbox's. */
function senderOf(cfg: BusConfig, actorId: string | undefined): string {
  if (!actorId) return (cfg.user || (cfg.inboxPrefix.startsWith('_INBOX_') ? cfg.inboxPrefix.slice('_INBOX_'.length) : '') || '_').replace(/[^A-Za-z0-9_-]/g, '_');
  if (!ACTOR_ID.test(actorId)) throw new BusError(`the bus's actor id must match [A-Za-z0-9_-]+ (it is a subject token: dead letters go out under it); got ${JSON.stringify(actorId)}`);
  return actorId;
}
