// NATS JetStream bus: one stream per topic under a per-run subject prefix, durable pull consumers, KV + object store weights.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  AckPolicy,
  connect,
  credsAuthenticator,
  DeliverPolicy,
  DiscardPolicy,
  ErrorCode,
  nanos,
  nkeyAuthenticator,
  RetentionPolicy,
  StorageType,
  type ConnectionOptions,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type KV,
  type NatsConnection,
  type NatsError,
  type ObjectStore,
  type StreamConfig,
} from 'nats';
import type { BusConfig } from '../config/index.js';
import {
  BusError,
  type Bus,
  type BusCounters,
  type ConsumeOptions,
  type Delivery,
  type PublishOptions,
  type Subscription,
  type WeightBlob,
  type WeightStore,
} from './bus.js';
import type { BusOptions, RawPublisher } from './bus_options.js';
import type { Codec } from './codec.js';
import { encodeDeadLetter } from './dead_letter.js';
import { TOPIC_RETENTION } from './policy.js';
import { Wire } from './wire.js';
import { SCHEMA_VERSION, TOPIC_NAMES, type TopicName, type Topics, type WeightsMsg } from './topics.js';

/** JetStream API error: the stream is at max_msgs with discard=new (a full work topic). */
const ERR_STREAM_FULL = 10077;

/** Actor ids are subject tokens (metrics subjects end with one). */
const ACTOR_ID = /^[A-Za-z0-9_-]+$/;

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

/** Counts down in-flight publishes: at most `limit` awaiting their PubAck. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isNatsError(err: unknown): err is NatsError {
  return err instanceof Error && typeof (err as NatsError).code === 'string';
}

/** Errors after which the same publish (same msgId) is safely retried. */
function retryable(err: unknown): 'full' | 'transient' | undefined {
  if (!isNatsError(err)) return undefined;
  if (err.api_error?.err_code === ERR_STREAM_FULL || /maximum messages exceeded/.test(err.message)) return 'full';
  const codes: string[] = [ErrorCode.Timeout, ErrorCode.NoResponders, ErrorCode.Disconnect, ErrorCode.JetStream408RequestTimeout];
  return codes.includes(err.code) ? 'transient' : undefined;
}

function connectError(err: unknown, cfg: BusConfig): BusError {
  const where = cfg.servers.join(', ');
  if (isNatsError(err) && (err.code === ErrorCode.AuthorizationViolation || err.code === ErrorCode.BadAuthentication || err.code === ErrorCode.AuthenticationExpired)) {
    return new BusError(`NATS server at ${where} refused the connection: authorization violation; set bus.token / bus.user+bus.pass / bus.credsFile`);
  }
  if (isNatsError(err) && err.code === ErrorCode.ConnectionRefused) {
    return new BusError(`cannot reach a NATS server at ${where} (connection refused); start one (rlhf-stream cluster, or nats-server -js) or set bus.servers`);
  }
  return new BusError(`cannot connect to NATS at ${where}: ${(err as Error).message}`);
}

function connectionOptions(cfg: BusConfig, runId: string): ConnectionOptions {
  const o: ConnectionOptions = {
    servers: cfg.servers,
    name: `rlhf-stream/${runId}`,
    // Actors outlive server restarts: reconnect forever, the status loop logs each attempt.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    pingInterval: 10_000,
  };
  if (cfg.token) o.token = cfg.token;
  if (cfg.user) {
    o.user = cfg.user;
    o.pass = cfg.pass;
  }
  if (cfg.credsFile) o.authenticator = credsAuthenticator(readFileSync(cfg.credsFile));
  else if (cfg.nkeySeedFile) o.authenticator = nkeyAuthenticator(new TextEncoder().encode(readFileSync(cfg.nkeySeedFile, 'utf8').trim()));
  if (cfg.tlsCaFile || cfg.tlsCertFile || cfg.tlsKeyFile) {
    o.tls = {
      ...(cfg.tlsCaFile ? { caFile: cfg.tlsCaFile } : {}),
      ...(cfg.tlsCertFile ? { certFile: cfg.tlsCertFile } : {}),
      ...(cfg.tlsKeyFile ? { keyFile: cfg.tlsKeyFile } : {}),
    };
  }
  return o;
}

export class NatsBus implements Bus, RawPublisher {
  readonly kind = 'nats' as const;
  readonly weights: WeightStore;
  /** Connection events seen so far, by type (disconnect, reconnect, ...). */
  readonly connectionEvents: Record<string, number> = {};
  private closed = false;
  private readonly names: ReturnType<typeof natsNames>;
  private readonly codec: Codec;
  private readonly wire: Wire;
  private readonly inFlight: Semaphore;
  private readonly stats: BusCounters = { published: {}, delivered: {}, acked: {}, deadLettered: {}, pending: {} };
  private readonly consumers = new Map<string, Promise<void>>();
  private readonly subs = new Set<NatsSubscription<TopicName>>();
  private readonly log: (line: string) => void;
  private readonly clientId = randomUUID().slice(0, 8);
  private publishCount = 0;
  private statusLoop: Promise<void> = Promise.resolve();
  private stopStatus: () => void = () => {};

  private constructor(
    readonly cfg: BusConfig,
    readonly runId: string,
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    opts: BusOptions,
  ) {
    this.names = natsNames(cfg.prefix, runId);
    this.wire = new Wire(cfg.maxPayloadBytes, opts.schema);
    this.codec = this.wire.codec;
    this.inFlight = new Semaphore(cfg.publishInFlight);
    this.log = opts.log ?? ((line) => console.error(line));
    this.weights = new NatsWeightStore(this, opts.weightsDir);
  }

  /** Connects, then creates or updates every stream of the run (idempotent: many actors start at once). */
  static async connect(cfg: BusConfig, runId: string, opts: BusOptions = {}): Promise<NatsBus> {
    let nc: NatsConnection;
    try {
      nc = await connect(connectionOptions(cfg, runId));
    } catch (err) {
      throw connectError(err, cfg);
    }
    try {
      const jsm = await nc.jetstreamManager();
      const bus = new NatsBus(cfg, runId, nc, nc.jetstream(), jsm, opts);
      bus.statusLoop = bus.watchStatus();
      for (const topic of TOPIC_NAMES) await bus.ensureStream(topic);
      await (bus.weights as NatsWeightStore).open();
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

  logLine(line: string): void {
    this.log(line);
  }

  count(kind: 'published' | 'delivered' | 'acked' | 'deadLettered', topic: string): void {
    this.stats[kind][topic] = (this.stats[kind][topic] ?? 0) + 1;
  }

  setPending(key: string, n: number): void {
    this.stats.pending[key] = n;
  }

  encode(msg: unknown): Uint8Array {
    return this.wire.encode(msg);
  }

  decodeFor(topic: TopicName, bytes: Uint8Array): { ok: true; value: unknown } | { ok: false; reason: string } {
    return this.wire.decodeFor(topic, bytes);
  }

  async publish<K extends TopicName>(topic: K, msg: Topics[K], opts: PublishOptions = {}): Promise<void> {
    const bytes = this.wire.encodeChecked(topic, msg);
    await this.publishRaw(topic, bytes, topic === 'metrics' ? { ...opts, actorId: (msg as Topics['metrics']).actorId } : opts);
  }

  /** The subject a publish goes to: metrics under the sending actor's id (`_` for raw bytes that name none). */
  subjectFor(topic: TopicName, actorId = '_'): string {
    if (topic !== 'metrics') return this.names.subject(topic);
    if (!ACTOR_ID.test(actorId)) throw new BusError(`metrics actorId must match [A-Za-z0-9_-]+ (it is a subject token); got ${JSON.stringify(actorId)}`);
    return this.names.metricsSubject(actorId);
  }

  async publishRaw(topic: TopicName, bytes: Uint8Array, opts: PublishOptions & { actorId?: string } = {}): Promise<void> {
    if (this.closed) throw new BusError(`bus is closed; cannot publish to ${topic}`);
    // Every publish carries a msgId, so a retry after a lost PubAck is stored once.
    const msgID = opts.msgId ?? `${this.clientId}-${++this.publishCount}`;
    const subject = this.subjectFor(topic, opts.actorId);
    await this.inFlight.acquire();
    try {
      let backoff = 10;
      for (;;) {
        try {
          await this.js.publish(subject, bytes, { msgID, timeout: 5000 });
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

  async sendDeadLetter(topic: TopicName, reason: string, deliveries: number, payload: Uint8Array): Promise<void> {
    this.count('deadLettered', topic);
    this.log(`bus: dead letter on ${topic} after ${deliveries} deliveries: ${reason}`);
    await this.publishRaw('dead', encodeDeadLetter(this.codec, { runId: this.runId, topic, reason, deliveries, payload, ts: Date.now() }));
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
    try {
      await this.jsm.consumers.info(stream, opts.durable);
      await this.jsm.consumers.update(stream, opts.durable, settings);
      return;
    } catch (err) {
      if (!isNatsError(err) || err.api_error?.err_code !== 10014) throw err;
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

  forget(sub: NatsSubscription<TopicName>): void {
    this.subs.delete(sub);
  }

  counters(): BusCounters {
    const copy = (r: Record<string, number>): Record<string, number> => ({ ...r });
    return {
      published: copy(this.stats.published),
      delivered: copy(this.stats.delivered),
      acked: copy(this.stats.acked),
      deadLettered: copy(this.stats.deadLettered),
      pending: copy(this.stats.pending),
    };
  }

  /** Every dead letter the run's dead stream received, from any process (its last sequence: trimming does not lower it). */
  async deadLettersStored(): Promise<number> {
    return (await this.jsm.streams.info(this.names.stream('dead'))).state.last_seq;
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
    for (const sub of [...this.subs]) await sub.stop();
    // drain() flushes pending acks and publishes before closing.
    await this.nc.drain().catch(() => this.nc.close());
    // The status iterator does not end by itself when the connection closes.
    this.stopStatus();
    await this.statusLoop;
  }
}

class NatsSubscription<K extends TopicName> implements Subscription<Topics[K]> {
  private messages: ConsumerMessages | undefined;
  private stopped = false;
  private iterating = false;

  constructor(
    private readonly bus: NatsBus,
    private readonly topic: K,
    private readonly opts: ConsumeOptions,
    private readonly maxDeliver: number,
    private readonly stream: string,
  ) {}

  private async *run(): AsyncGenerator<Delivery<Topics[K]>> {
    await this.bus.ensureConsumer(this.topic, this.opts);
    if (this.stopped) return;
    const consumer = await this.bus.js.consumers.get(this.stream, this.opts.durable);
    // Pull in batches no larger than what may be unacked at once, so one slow process does not hoard messages.
    const batch = Math.max(1, Math.min(this.opts.maxAckPending ?? 256, 256));
    this.messages = await consumer.consume({ max_messages: batch, expires: 5000 });
    if (this.stopped) this.messages.stop();
    const key = `${this.topic}/${this.opts.durable}`;
    for await (const m of this.messages) {
      if (this.stopped) break;
      this.bus.setPending(key, m.info.pending);
      const deliveries = m.info.deliveryCount;
      if (deliveries > this.maxDeliver) {
        await this.deadLetter(m, `not acked within ackWaitMs after ${this.maxDeliver} deliveries (maxDeliver ${this.maxDeliver})`, this.maxDeliver);
        continue;
      }
      const decoded = this.bus.decodeFor(this.topic, m.data);
      if (!decoded.ok) {
        await this.deadLetter(m, decoded.reason, deliveries);
        continue;
      }
      if (this.topic === 'metrics') {
        // An actor speaks for itself only: the id in the message must be the one its subject (and so its user) carries.
        const actorId = (decoded.value as Topics['metrics']).actorId;
        const expected = ACTOR_ID.test(actorId) ? this.bus.subjectFor('metrics', actorId) : undefined;
        if (m.subject !== expected) {
          await this.deadLetter(m, `metrics.actorId ${JSON.stringify(actorId)} does not match the subject ${m.subject} it was published on; an actor publishes metrics only under its own id`, deliveries);
          continue;
        }
      }
      this.bus.count('delivered', this.topic);
      yield this.delivery(m, decoded.value as Topics[K], deliveries);
    }
  }

  private async deadLetter(m: JsMsg, reason: string, deliveries: number): Promise<void> {
    // The letter is stored before the original is terminated: a crash in between redelivers, never loses.
    await this.bus.sendDeadLetter(this.topic, reason, deliveries, m.data);
    // No reason on +TERM: nats-server 2.9 ignores a term that carries one (reasons came in 2.10).
    m.term();
  }

  private delivery(m: JsMsg, data: Topics[K], deliveries: number): Delivery<Topics[K]> {
    let settled = false;
    return {
      data,
      topic: this.topic,
      seq: m.seq,
      deliveries,
      ack: async () => {
        if (settled) return;
        settled = true;
        m.ack();
        this.bus.count('acked', this.topic);
      },
      nak: (delayMs?: number) => {
        if (settled) return;
        settled = true;
        if (deliveries >= this.maxDeliver) {
          this.deadLetter(m, `nak'ed on delivery ${deliveries} of maxDeliver ${this.maxDeliver}`, deliveries).catch((err) =>
            this.bus.isClosed ? undefined : console.error(`bus: dead-lettering ${this.topic} seq ${m.seq} failed: ${(err as Error).message}`),
          );
          return;
        }
        m.nak(delayMs && delayMs > 0 ? delayMs : undefined);
      },
      deadLetter: async (reason: string) => {
        if (settled) return;
        settled = true;
        await this.deadLetter(m, reason, deliveries);
      },
      working: () => {
        if (!settled) m.working();
      },
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
    this.bus.forget(this as unknown as NatsSubscription<TopicName>);
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery<Topics[K]>> {
    if (this.iterating) throw new BusError(`a ${this.topic} subscription is iterated once; call consume() again for another reader`);
    this.iterating = true;
    const gen = this.run();
    return {
      next: () => gen.next(),
      return: async () => {
        await this.stop();
        return gen.return(undefined);
      },
    };
  }
}

class NatsWeightStore implements WeightStore {
  private kv!: KV;
  private os!: ObjectStore;
  /** KV revisions already dead-lettered as invalid announcements. */
  private readonly reported = new Set<number>();
  private fallbackSaid = '';

  constructor(
    private readonly bus: NatsBus,
    private readonly weightsDir: string | undefined,
  ) {}

  async open(): Promise<void> {
    const bucket = natsNames(this.busPrefix(), this.bus.runId).weightsBucket;
    const replicas = this.bus.cfg.replicas;
    this.kv = await this.bus.js.views.kv(bucket, { history: 1, replicas, storage: StorageType.File });
    this.os = await this.bus.js.views.os(bucket, { replicas, storage: StorageType.File });
    if (this.weightsDir) mkdirSync(this.weightsDir, { recursive: true });
  }

  /** Says once per process (and once more if the reason changes) that the same-host file was not used. */
  private sayFallback(meta: WeightsMsg, why: string): void {
    if (this.fallbackSaid === why) return;
    this.fallbackSaid = why;
    this.bus.logLine(`bus: weights v${meta.version}: file ${meta.file} ${why}; reading the object store instead (slower; said once)`);
  }

  private busPrefix(): string {
    return this.bus.cfg.prefix;
  }

  async put(version: number, step: number, bytes: Uint8Array): Promise<WeightsMsg> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const meta: WeightsMsg = { type: 'weights', v: SCHEMA_VERSION, runId: this.bus.runId, version, step, sha256, size: bytes.length, createdAt: Date.now() };
    if (this.weightsDir) {
      // Absolute: a reader started in another working directory (or by another command) finds the same file.
      const file = resolve(this.weightsDir, `${this.bus.runId}-v${version}.bin`);
      const tmp = `${file}.${process.pid}.tmp`;
      // Write then rename: a reader never sees a half-written file under the final name.
      writeFileSync(tmp, bytes);
      renameSync(tmp, file);
      meta.file = file;
    }
    await this.os.putBlob({ name: `v${version}` }, bytes);
    const encoded = this.bus.encode(meta);
    await this.kv.put(`v${version}`, encoded);
    await this.kv.put('latest', encoded);
    await this.bus.publish('weights', meta, { msgId: `weights-v${version}` });
    return meta;
  }

  /**
   * The announcement in a KV entry, or undefined when it is invalid: a bad entry (written by a faulty or foreign client)
   * is dead-lettered once per revision and skipped, so readers keep the version they have until a valid one comes.
   */
  private async decodeMeta(key: string, revision: number, bytes: Uint8Array): Promise<WeightsMsg | undefined> {
    const r = this.bus.decodeFor('weights', bytes);
    if (r.ok) return r.value as WeightsMsg;
    if (!this.reported.has(revision)) {
      this.reported.add(revision);
      await this.bus.sendDeadLetter('weights', `weights announcement in KV key ${key} (revision ${revision}) is invalid: ${r.reason}`, 1, bytes);
    }
    return undefined;
  }

  private async meta(version?: number): Promise<WeightsMsg | undefined> {
    const key = version === undefined ? 'latest' : `v${version}`;
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    return this.decodeMeta(key, e.revision, e.value);
  }

  async get(version?: number): Promise<WeightBlob | undefined> {
    const meta = await this.meta(version);
    if (!meta) return undefined;
    const matches = (b: Uint8Array): boolean => b.length === meta.size && createHash('sha256').update(b).digest('hex') === meta.sha256;
    if (meta.file) {
      const why = existsSync(meta.file) ? undefined : 'is not on this host';
      if (!why) {
        const b = new Uint8Array(await readFile(meta.file));
        if (matches(b)) return { meta, bytes: b };
      }
      this.sayFallback(meta, why ?? 'does not match the announced size and sha256');
    }
    const blob = await this.os.getBlob(`v${meta.version}`);
    if (!blob) throw new BusError(`weights v${meta.version} are announced but missing from object store ${natsNames(this.busPrefix(), this.bus.runId).weightsBucket}`);
    // A plain Uint8Array view (the client hands back a Buffer), like the in-process store returns.
    const bytes = new Uint8Array(blob.buffer, blob.byteOffset, blob.length);
    if (!matches(bytes)) {
      const sha = createHash('sha256').update(bytes).digest('hex');
      throw new BusError(`weights v${meta.version} are corrupt: sha256 ${sha} (${bytes.length} bytes), announced ${meta.sha256} (${meta.size} bytes)`);
    }
    return { meta, bytes };
  }

  latest(): Promise<WeightsMsg | undefined> {
    return this.meta();
  }

  async *watch(signal?: AbortSignal): AsyncIterable<WeightsMsg> {
    const iter = await this.kv.watch({ key: 'latest' });
    const onAbort = (): void => iter.stop();
    signal?.addEventListener('abort', onAbort);
    try {
      if (signal?.aborted) return;
      for await (const e of iter) {
        if (e.operation !== 'PUT' || e.value.length === 0) continue;
        const meta = await this.decodeMeta(e.key, e.revision, e.value);
        if (meta) yield meta;
        if (signal?.aborted) return;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      iter.stop();
    }
  }
}
