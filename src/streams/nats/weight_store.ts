// Policy weights on NATS: bytes in the object store, announcements in KV (`latest`, `v<version>`), an optional same-host file.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StorageType, type KV, type ObjectStore } from 'nats';
import { BusError, type WeightBlob, type WeightStore } from '../bus.js';
import { SCHEMA_VERSION, type WeightsMsg } from '../topics.js';
import type { NatsBus } from './bus.js';
import { permissionRefused } from './errors.js';
import { natsNames } from './names.js';

/**
 * Fixed part of a weights put's timeout: the JetStream default. Longer would hold the learner on a dead stream leader
 * (after a node of a cluster dies) well past the election, where a failed put is retried on the new leader.
 */
const PUT_TIMEOUT_BASE_MS = 5_000;

const MIB = 2 ** 20;

/**
 * How long storing `bytes` in the object store may take. nats.js publishes every chunk of a blob at once, each with this
 * timeout, so it must cover the whole upload: the JetStream default (5 s) is less than a 500 MB upload takes on an
 * idle machine.
 */
export function weightsPutTimeoutMs(bytes: number, msPerMiB: number): number {
  return PUT_TIMEOUT_BASE_MS + Math.ceil((bytes / MIB) * msPerMiB);
}

/** A weights put that failed; `code` is the NATS client's (a TIMEOUT is retried by the resilient bus). */
export class WeightPutError extends BusError {
  override name = 'WeightPutError';
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class NatsWeightStore implements WeightStore {
  private kv!: KV;
  private os!: ObjectStore;
  /** KV revisions already dead-lettered as invalid announcements. */
  private readonly reported = new Set<number>();
  private fallbackSaid = '';
  /** Objects are read chunk by chunk: this user may not create the consumer the client's reader needs. */
  private chunkReads = false;

  constructor(
    private readonly bus: NatsBus,
    private readonly weightsDir: string | undefined,
  ) {}

  async open(): Promise<void> {
    const bucket = this.bucket();
    const replicas = this.bus.cfg.replicas;
    // No direct gets: their answer is the raw record, which a reply subject could copy into another key (permissions.ts).
    this.kv = await this.bus.js.views.kv(bucket, { history: 1, replicas, storage: StorageType.File, allow_direct: false });
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
    const t0 = Date.now();
    if (this.weightsDir) {
      // Absolute: a reader started in another working directory (or by another command) finds the same file.
      const file = this.fileOf(version);
      const tmp = `${file}.${process.pid}.tmp`;
      // Write then rename: a reader never sees a half-written file under the final name.
      writeFileSync(tmp, bytes);
      renameSync(tmp, file);
      meta.file = file;
    }
    const t1 = Date.now();
    await this.putObject(version, bytes);
    const encoded = this.bus.encode(meta);
    await this.kv.put(`v${version}`, encoded);
    await this.kv.put('latest', encoded);
    await this.bus.publish('weights', meta, { msgId: `weights-v${version}` });
    const t2 = Date.now();
    // The version is stored and announced whatever happens here: a failed deletion is said and tried again next time.
    await this.prune(version).catch((err: unknown) => this.bus.logLine(`bus: deleting weights older than the newest ${this.bus.cfg.weightsKept} failed: ${(err as Error).message}; tried again at the next version`));
    if (t2 - t0 >= 2000) {
      const file = this.weightsDir ? `file ${((t1 - t0) / 1000).toFixed(1)} s, ` : '';
      this.bus.logLine(`bus: weights v${version} (${(bytes.length / MIB).toFixed(0)} MiB) stored in ${((t2 - t0) / 1000).toFixed(1)} s (${file}object store ${((t2 - t1) / 1000).toFixed(1)} s)`);
    }
    return meta;
  }

  private fileOf(version: number): string {
    return resolve(this.weightsDir!, `${this.bus.runId}-v${version}.bin`);
  }

  /** The bytes as object `v<version>`, with a timeout that covers the whole upload; a failure names the size and the setting. */
  private async putObject(version: number, bytes: Uint8Array): Promise<void> {
    const timeout = weightsPutTimeoutMs(bytes.length, this.bus.cfg.weightsPutMsPerMiB);
    const t0 = Date.now();
    try {
      await this.os.putBlob({ name: `v${version}` }, bytes, { timeout });
    } catch (err) {
      const e = err as { code?: unknown; message?: string; api_error?: { description?: string } };
      const said = e.api_error?.description;
      // A store out of space answers 503 as an absent server does, but waiting will not help: not retried.
      const full = said !== undefined && /maximum (bytes|messages) exceeded|insufficient (resources|storage)/i.test(said);
      const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
      throw new WeightPutError(
        `storing weights v${version} (${(bytes.length / MIB).toFixed(1)} MiB) in object store ${this.bucket()} failed after ${s(Date.now() - t0)} ` +
          `(allowed ${s(timeout)} = 5 s + bus.weightsPutMsPerMiB ${this.bus.cfg.weightsPutMsPerMiB} ms per MiB): ${e.message}${said && said !== e.message ? ` (${said})` : ''}`,
        typeof e.code === 'string' && !full ? e.code : undefined,
        { cause: err },
      );
    }
  }

  /**
   * Deletes the versions older than the newest `bus.weightsKept`: their announcement (KV `v<n>`), object and same-host
   * file. Readers ask for a version they have just seen announced, so a few recent ones are enough; one that asks for a
   * deleted version gets undefined and moves on to the latest.
   */
  private async prune(version: number): Promise<void> {
    const oldest = version - this.bus.cfg.weightsKept + 1;
    // Newest stale version first, down to one already deleted: no listing (a listing needs a consumer, which per-role
    // users may not create), and a deletion that failed last time is done now.
    for (let v = oldest - 1; v >= 1; v--) {
      const info = await this.os.info(`v${v}`);
      if (!info || info.deleted) break;
      await this.kv.delete(`v${v}`);
      // An entry that is not an object's record (overwritten by something else) has no chunks to delete.
      if (typeof info.nuid !== 'string' || info.nuid === '') break;
      await this.os.delete(`v${v}`);
    }
    if (!this.weightsDir) return;
    const prefix = `${this.bus.runId}-v`;
    for (const f of readdirSync(this.weightsDir)) {
      const m = f.startsWith(prefix) ? /^(\d+)\.bin$/.exec(f.slice(prefix.length)) : null;
      if (m && Number(m[1]) < oldest) rmSync(resolve(this.weightsDir, f), { force: true });
    }
  }

  /**
   * The bytes of object `name`: the client's streaming reader where this user may create its ordered consumer, else
   * chunk by chunk (per-role users; said once). Undefined when the object is absent or deleted.
   */
  private async objectBytes(name: string): Promise<Uint8Array | undefined> {
    if (!this.chunkReads) {
      try {
        const blob = await this.os.getBlob(name);
        // A plain Uint8Array view (the client hands back a Buffer), like the in-process store returns.
        return blob ? new Uint8Array(blob.buffer, blob.byteOffset, blob.length) : undefined;
      } catch (err) {
        if (!permissionRefused(err)) throw err;
        this.chunkReads = true;
        this.bus.logLine('bus: this NATS user may not create consumers; weights objects are read chunk by chunk (said once)');
      }
    }
    return this.readObject(name);
  }

  /**
   * The bytes of object `name`, read chunk by chunk with stream message gets (the client's own reader needs an ordered
   * consumer, which per-role users may not create); undefined when it is absent or deleted.
   */
  private async readObject(name: string): Promise<Uint8Array | undefined> {
    const info = await this.os.info(name);
    if (!info || info.deleted) return undefined;
    const out = new Uint8Array(info.size);
    const subject = `$O.${this.bucket()}.C.${info.nuid}`;
    const stream = `OBJ_${this.bucket()}`;
    let at = 0;
    let seq = 1;
    for (let i = 0; i < info.chunks; i++) {
      let m;
      try {
        m = await this.bus.jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as { seq: number });
      } catch (err) {
        // Deleted meanwhile (pruned by the writer): the caller reads the newest version instead.
        if ((err as { code?: string }).code === '404') return undefined;
        throw err;
      }
      if (at + m.data.length > out.length) throw new BusError(`weights object ${name} in ${stream} holds more than its ${info.size} announced bytes`);
      out.set(m.data, at);
      at += m.data.length;
      seq = m.seq + 1;
    }
    if (at !== out.length) throw new BusError(`weights object ${name} in ${stream} holds ${at} bytes of its ${info.size}`);
    return out;
  }

  private bucket(): string {
    return natsNames(this.busPrefix(), this.bus.runId).weightsBucket;
  }

  /**
   * The announcement in a KV entry, or undefined when it is invalid: a bad entry (written by a faulty or foreign client)
   * is dead-lettered once per revision and skipped, so readers keep the version they have until a valid one comes.
   */
  private async decodeMeta(key: string, revision: number, bytes: Uint8Array): Promise<WeightsMsg | undefined> {
    const d = this.bus.decodeFor('weights', bytes);
    const r = d.ok && (d.value as WeightsMsg).runId !== this.bus.runId ? { ok: false as const, reason: `weights.runId must be this run's, ${JSON.stringify(this.bus.runId)}; got ${JSON.stringify((d.value as WeightsMsg).runId)}` } : d;
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
    // Deleted by the writer's pruning after its announcement was read: a named version is no longer held; the latest
    // has moved on, so read the new latest.
    const pruned = async (): Promise<boolean> => (await this.meta(meta.version)) === undefined;
    const matches = (b: Uint8Array): boolean => b.length === meta.size && createHash('sha256').update(b).digest('hex') === meta.sha256;
    if (meta.file) {
      const b = await readFile(meta.file).then(
        (buf) => new Uint8Array(buf),
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        },
      );
      if (b && matches(b)) return { meta, bytes: b };
      if (!b && (await pruned())) return version === undefined ? this.get() : undefined;
      this.sayFallback(meta, b ? 'does not match the announced size and sha256' : 'is not on this host');
    }
    const bytes = await this.objectBytes(`v${meta.version}`);
    if (!bytes && (await pruned())) return version === undefined ? this.get() : undefined;
    if (!bytes) throw new BusError(`weights v${meta.version} are announced but missing from object store ${this.bucket()}`);
    if (!matches(bytes)) {
      const sha = createHash('sha256').update(bytes).digest('hex');
      throw new BusError(`weights v${meta.version} are corrupt: sha256 ${sha} (${bytes.length} bytes), announced ${meta.sha256} (${meta.size} bytes)`);
    }
    return { meta, bytes };
  }

  latest(): Promise<WeightsMsg | undefined> {
    return this.meta();
  }

  /**
   * Each new valid announcement of `latest`. A KV watch where this user may create its consumer; per-role users may not
   * (src/streams/nats/permissions.ts), and poll instead.
   */
  async *watch(signal?: AbortSignal): AsyncIterable<WeightsMsg> {
    let iter: Awaited<ReturnType<KV['watch']>>;
    try {
      iter = await this.kv.watch({ key: 'latest' });
    } catch (err) {
      if (!permissionRefused(err)) throw err;
      yield* this.poll(signal);
      return;
    }
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

  /** `latest` read every `everyMs`: a poll simply fails and retries while the server restarts. */
  private async *poll(signal?: AbortSignal, everyMs = 200): AsyncIterable<WeightsMsg> {
    let seen = 0;
    while (!signal?.aborted) {
      let e: Awaited<ReturnType<KV['get']>> = null;
      try {
        e = await this.kv.get('latest');
      } catch (err) {
        // An unreachable server (restarting), or JetStream between leaders (503): the next poll tries again.
        if (this.bus.isClosed || (!/timeout|disconnect|connection|no responders/i.test((err as Error).message) && (err as { code?: unknown }).code !== '503')) throw err;
      }
      if (e && e.revision !== seen) {
        seen = e.revision;
        const meta = e.operation === 'PUT' && e.value.length > 0 ? await this.decodeMeta(e.key, e.revision, e.value) : undefined;
        if (meta) yield meta;
      }
      if (signal?.aborted) return;
      await new Promise<void>((done) => {
        const t = setTimeout(finish, everyMs);
        function finish(): void {
          clearTimeout(t);
          signal?.removeEventListener('abort', finish);
          done();
        }
        signal?.addEventListener('abort', finish, { once: true });
      });
    }
  }
}
