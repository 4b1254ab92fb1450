// Policy weights held in memory, checksummed like the NATS store's, with a watch on the latest version.
import { createHash } from 'node:crypto';
import { BehaviorSubject } from 'rxjs';
import { BusError, type WeightBlob, type WeightStore } from '../bus.js';
import { SCHEMA_VERSION, type WeightsMsg } from '../topics.js';
import type { InProcessBus } from './bus.js';

export class MemoryWeightStore implements WeightStore {
  private readonly blobs = new Map<number, WeightBlob>();
  private readonly latest$ = new BehaviorSubject<WeightsMsg | undefined>(undefined);

  /** `kept`: versions held; storing one drops those older than the newest `kept` (bus.weightsKept). */
  constructor(
    private readonly bus: InProcessBus,
    private readonly kept: number,
  ) {}

  async put(version: number, step: number, bytes: Uint8Array): Promise<WeightsMsg> {
    if (this.bus.closed) throw new BusError('bus is closed');
    const meta: WeightsMsg = {
      type: 'weights',
      v: SCHEMA_VERSION,
      runId: this.bus.runId,
      version,
      step,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      createdAt: this.bus.clock.now(),
    };
    // A copy, so a learner reusing its buffer cannot change published weights.
    this.blobs.set(version, { meta, bytes: new Uint8Array(bytes) });
    // A 124M model's version is 500 MB: a long run must not hold every one. Readers ask for recent versions only.
    for (const v of this.blobs.keys()) if (v <= version - this.kept) this.blobs.delete(v);
    await this.bus.publish('weights', meta);
    this.latest$.next(meta);
    return meta;
  }

  async get(version?: number): Promise<WeightBlob | undefined> {
    const v = version ?? this.latest$.value?.version;
    if (v === undefined) return undefined;
    const blob = this.blobs.get(v);
    if (!blob) return undefined;
    const sha = createHash('sha256').update(blob.bytes).digest('hex');
    if (blob.bytes.length !== blob.meta.size || sha !== blob.meta.sha256) {
      throw new BusError(`weights v${v} are corrupt: sha256 ${sha} (${blob.bytes.length} bytes), announced ${blob.meta.sha256} (${blob.meta.size} bytes)`);
    }
    return { meta: blob.meta, bytes: new Uint8Array(blob.bytes) };
  }

  async latest(): Promise<WeightsMsg | undefined> {
    return this.latest$.value;
  }

  async *watch(signal?: AbortSignal): AsyncIterable<WeightsMsg> {
    const queue: WeightsMsg[] = [];
    let wake: (() => void) | undefined;
    const rx = this.latest$.subscribe((m) => {
      if (m) queue.push(m);
      wake?.();
    });
    const onAbort = (): void => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      while (!signal?.aborted && !this.bus.closed) {
        const m = queue.shift();
        if (m) {
          yield m;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      rx.unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  close(): void {
    this.latest$.complete();
  }
}
