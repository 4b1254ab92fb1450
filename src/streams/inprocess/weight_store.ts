// Policy weights held in memory, checksummed like the NATS store's, with a watch on the latest version. Each version is
// copied once into its own SharedArrayBuffer: every thread of the process that loads it reads that one copy.
import { createHash } from 'node:crypto';
import { BehaviorSubject } from 'rxjs';
import { BusError, type WeightBlob, type WeightStore } from '../bus.js';
import { SCHEMA_VERSION, type WeightsMsg } from '../topics.js';
import type { InProcessBus } from './bus.js';
import { sharedCopy } from '../shared_memory.js';

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
    // A copy, so a learner reusing its buffer cannot change published weights; in shared memory, so handing the version
    // to a generator's or the evaluator's thread shares it instead of copying it. Never written again: a version is
    // immutable, a newer one gets a buffer of its own.
    this.blobs.set(version, { meta, bytes: sharedCopy(bytes) });
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
    // The stored copy itself, not a copy of it: it was hashed when stored and only this store ever wrote it, so it is
    // not hashed again (that and a copy per reader were most of a version's trip to a thread). Readers must not write it.
    if (blob.bytes.length !== blob.meta.size) {
      throw new BusError(`weights v${v} are corrupt: ${blob.bytes.length} bytes held, announced ${blob.meta.size} bytes`);
    }
    return { meta: blob.meta, bytes: blob.bytes };
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
