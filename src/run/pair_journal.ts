// The run's own copy of every pair its learner received: length-framed msgpack under the run folder, so a replay has
// the pairs after the bus (in-process memory, or a JetStream work queue that deletes acked pairs) has let them go.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import type { Bus, ConsumeOptions, Delivery, Subscription } from '../streams/bus.js';
import type { PairMsg, TopicName, Topics } from '../streams/topics.js';
import { overrideBus } from './resilient_bus.js';

export class PairJournalError extends Error {
  override name = 'PairJournalError';
}

export const pairJournalFile = (runDir: string): string => join(runDir, 'pairs.log');

/**
 * A pair's content digest (sha256 of its msgpack, 16 hex digits). Pair ids derive from prompt ids: a one-process run
 * started again under the same id makes new pairs under old ids, so the ledger names each trained pair by id and digest.
 */
export function pairDigest(p: PairMsg): string {
  return digestOf(pack(p));
}

const digestOf = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

const keyOf = (pairId: string, digest: string): string => `${pairId}/${digest}`;

/** Every pair a journal holds, by id and digest. */
export class JournaledPairs {
  constructor(private readonly byKey: ReadonlyMap<string, PairMsg>) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The pair with this id (and this digest, when given; a record without digests takes the first copy of the id). */
  get(pairId: string, digest?: string): PairMsg | undefined {
    if (digest !== undefined) return this.byKey.get(keyOf(pairId, digest));
    for (const [k, p] of this.byKey) if (k.startsWith(`${pairId}/`)) return p;
    return undefined;
  }

  ids(): Set<string> {
    return new Set([...this.byKey.values()].map((p) => p.pairId));
  }
}

/** Frame: u32 LE length, msgpack payload, the same u32 again; a crash mid-append leaves a tail that fails the check. */
const HEADER = 4;

interface Scan {
  /** By `pairId/digest`. */
  pairs: Map<string, PairMsg>;
  /** Bytes up to the end of the last whole frame. */
  validBytes: number;
}

function scan(file: string): Scan {
  const pairs = new Map<string, PairMsg>();
  if (!existsSync(file)) return { pairs, validBytes: 0 };
  const buf = readFileSync(file);
  let at = 0;
  while (at + 2 * HEADER <= buf.length) {
    const len = buf.readUInt32LE(at);
    const end = at + HEADER + len + HEADER;
    if (end > buf.length || buf.readUInt32LE(at + HEADER + len) !== len) break;
    const body = buf.subarray(at + HEADER, at + HEADER + len);
    let p: PairMsg;
    try {
      p = unpack(body) as PairMsg;
    } catch {
      break;
    }
    if (typeof p?.pairId !== 'string') throw new PairJournalError(`${file}: frame at byte ${at} holds no pair id`);
    // At-least-once: the same pair written twice (a redelivery after a crash) is kept once.
    const key = keyOf(p.pairId, digestOf(body));
    if (!pairs.has(key)) pairs.set(key, p);
    at = end;
  }
  return { pairs, validBytes: at };
}

/** Every pair the journal holds (a torn last frame is ignored). */
export function readPairJournal(file: string): JournaledPairs {
  return new JournaledPairs(scan(file).pairs);
}

/**
 * Appends each pair once (by id and digest, across restarts), unsynced; `sync()` makes what was appended durable. The learner's
 * ledger calls it before each checkpoint, so every pair a checkpoint covers is on disk before the checkpoint is.
 */
export class PairJournal {
  private fd: number;
  private readonly keys: Set<string>;
  private dirty = false;
  /** Bytes appended by this process (the size figure in the docs is measured from the file). */
  bytesWritten = 0;

  constructor(readonly file: string) {
    const s = scan(file);
    this.keys = new Set(s.pairs.keys());
    this.fd = openSync(file, existsSync(file) ? 'r+' : 'w+');
    // A frame a crash cut short is dropped, so the next append starts on a frame boundary.
    if (fstatSync(this.fd).size > s.validBytes) ftruncateSync(this.fd, s.validBytes);
    this.position = s.validBytes;
  }

  private position: number;

  /** Distinct pairs held (by id and digest). */
  get size(): number {
    return this.keys.size;
  }

  append(pair: PairMsg): void {
    const body = pack(pair);
    const key = keyOf(pair.pairId, digestOf(body));
    if (this.keys.has(key)) return;
    const frame = Buffer.allocUnsafe(HEADER + body.length + HEADER);
    frame.writeUInt32LE(body.length, 0);
    body.copy(frame, HEADER);
    frame.writeUInt32LE(body.length, HEADER + body.length);
    writeSync(this.fd, frame, 0, frame.length, this.position);
    this.position += frame.length;
    this.bytesWritten += frame.length;
    this.keys.add(key);
    this.dirty = true;
  }

  sync(): void {
    if (!this.dirty) return;
    fsyncSync(this.fd);
    this.dirty = false;
  }

  close(): void {
    if (this.fd < 0) return;
    this.sync();
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** A subscription whose every delivery is journaled before the consumer sees it. */
class JournaledSubscription implements Subscription<PairMsg> {
  constructor(
    private readonly inner: Subscription<PairMsg>,
    private readonly journal: PairJournal,
  ) {}

  stop(): Promise<void> {
    return this.inner.stop();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Delivery<PairMsg>> {
    for await (const d of this.inner) {
      this.journal.append(d.data);
      yield d;
    }
  }
}

/** The learner's bus, where every pair delivered is first appended to `journal`. */
export function journalPairs(bus: Bus, journal: PairJournal): Bus {
  const consume = <K extends TopicName>(topic: K, opts: ConsumeOptions): Subscription<Topics[K]> => {
    const sub = bus.consume(topic, opts);
    if (topic !== 'pairs') return sub;
    return new JournaledSubscription(sub as Subscription<PairMsg>, journal) as unknown as Subscription<Topics[K]>;
  };
  return overrideBus(bus, { consume: consume as Bus['consume'] });
}
