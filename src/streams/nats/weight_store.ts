// Policy weights on NATS: bytes in the object store, announcements in KV (`latest`, `v<version>`), an optional same-host file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StorageType, type KV, type ObjectStore } from 'nats';
import { BusError, type WeightBlob, type WeightStore } from '../bus.js';
import { SCHEMA_VERSION, type WeightsMsg } from '../topics.js';
import type { NatsBus } from './bus.js';
import { natsNames } from './names.js';

export class NatsWeightStore implements WeightStore {
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
