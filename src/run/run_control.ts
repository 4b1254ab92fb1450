// The run's control plane over NATS KV (the RunControl port of src/streams/run_control.ts) for multi-process runs, plus
// the server-side reads only a multi-process run needs: run info, leftover acked messages, the learner consumer's state.
import type { KV } from 'nats';
import { systemClock } from '../clock.js';
import { GENERATOR_DURABLE } from '../actors/generator.js';
import { JUDGE_DURABLE } from '../actors/judge.js';
import { LEARNER_DURABLE } from '../actors/learner.js';
import type { NatsBus } from '../streams/nats/bus.js';
import { MAX_TS_MS } from '../streams/schemas.js';
import { natsNames } from '../streams/nats/names.js';
import { KEY_INFO, KEY_TOKENIZER, type RunInfo } from './run_info.js';
import type { Backlog, PairsStored, PhaseProgress, RunControl, RunEnd, SourceProgress } from '../streams/run_control.js';

export type { Backlog, PairsStored, PhaseProgress, RunEnd, SourceProgress } from '../streams/run_control.js';

export class RunControlError extends Error {
  override name = 'RunControlError';
}

/** Each work topic and the one durable consumer that reads it. */
const WORK_CONSUMERS = [
  ['prompts', GENERATOR_DURABLE],
  ['samples', JUDGE_DURABLE],
  ['pairs', LEARNER_DURABLE],
] as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });


type FieldCheck = (v: unknown) => boolean;
const count: FieldCheck = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const time: FieldCheck = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_TS_MS;
const bool: FieldCheck = (v) => typeof v === 'boolean';
const idString: FieldCheck = (v) => typeof v === 'string' && v.length > 0 && v.length <= 256;
const oneOf =
  (...xs: string[]): FieldCheck =>
  (v) => typeof v === 'string' && xs.includes(v);

/** The fields each control record holds, and what each accepts: nothing else is taken for the record. */
const RECORDS: Record<string, { fields: Record<string, FieldCheck>; accepts: string }> = {
  source: { fields: { published: count, budget: count, exhausted: bool, ts: time }, accepts: '{published: int >= 0, budget: int >= 0, exhausted: bool, ts: ms}' },
  end: {
    fields: { state: oneOf('done'), reason: oneOf('totalSteps', 'drained', 'phases'), steps: count, version: count, learnerId: idString, ts: time },
    accepts: '{state: "done", reason: "totalSteps" | "drained" | "phases", steps: int >= 0, version: int >= 0, learnerId: str, ts: ms}',
  },
  phase: { fields: { completed: count, iterations: count, version: count, ts: time }, accepts: '{completed: int >= 0, iterations: int >= 0, version: int >= 0, ts: ms}' },
};

/**
 * Why a control record is not what its key holds, or undefined when it is. Every key is checked strictly: the server can
 * be made to write a JetStream answer into any key (permissions.ts), and such an answer must never pass for the run's
 * end or its progress.
 */
export function controlRecordProblem(key: string, value: unknown): string | undefined {
  const rec = RECORDS[key];
  if (!rec) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `is not a JSON object; accepted: ${rec.accepts}`;
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) if (!(k in rec.fields)) return `has unknown field ${JSON.stringify(k)}; accepted: ${rec.accepts}`;
  for (const [k, ok] of Object.entries(rec.fields)) if (!ok(v[k])) return `field ${k} is ${JSON.stringify(v[k]) ?? 'missing'}; accepted: ${rec.accepts}`;
  return undefined;
}
const KEY_SOURCE = 'source';
const KEY_END = 'end';
const KEY_PHASE = 'phase';

export class NatsRunControl implements RunControl {
  /** Per key: the last refused revision and how many were refused. */
  private readonly refused = new Map<string, { revision: number; count: number }>();

  private constructor(
    private readonly bus: NatsBus,
    private readonly kv: KV,
  ) {}

  /** The bucket sits beside the run's weights bucket: `<PREFIX>_<run>_CONTROL`. */
  static bucketName(bus: NatsBus): string {
    return natsNames(bus.cfg.prefix, bus.runId).weightsBucket.replace(/_WEIGHTS$/, '_CONTROL');
  }

  /**
   * Opens (or makes) the bucket and waits until it answers a read: a replicated bucket that was just made answers only
   * once its replicas elected a leader, and until then reads time out.
   */
  static async open(bus: NatsBus, readyWithinMs = 30_000): Promise<NatsRunControl> {
    // No direct gets: their answer is the raw record, which a reply subject could copy into another key (permissions.ts).
    const deadline = Date.now() + readyWithinMs;
    let kv: KV | undefined;
    for (;;) {
      try {
        // Opening the bucket asks for its stream (and makes it): on a busy cluster that can time out as a read can.
        kv ??= await bus.js.views.kv(NatsRunControl.bucketName(bus), { history: 1, replicas: bus.cfg.replicas, allow_direct: false });
        await kv.get(KEY_END);
        return new NatsRunControl(bus, kv);
      } catch (err) {
        const transient = /timeout|no responders/i.test((err as Error).message);
        if (!kv && !transient) throw err;
        if (!transient || Date.now() > deadline) {
          throw new RunControlError(`control bucket ${NatsRunControl.bucketName(bus)} of run ${bus.runId} does not answer: ${(err as Error).message}`, { cause: err });
        }
        await systemClock.sleep(250);
      }
    }
  }

  /**
   * The record under `key`. A progress or end record that is not valid UTF-8 JSON of its shape is refused (said once per
   * revision) and read as absent: the run goes on as if it had not been written.
   */
  private async read<T>(key: string): Promise<T | undefined> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    let value: unknown;
    let problem: string | undefined;
    try {
      value = JSON.parse(decoder.decode(e.value));
      problem = controlRecordProblem(key, value);
    } catch (err) {
      if (!(key in RECORDS)) throw new RunControlError(`control key ${key} of run ${this.bus.runId} is not UTF-8 JSON: ${(err as Error).message}`);
      problem = `is not UTF-8 JSON (${(err as Error).message})`;
    }
    if (problem === undefined) return value as T;
    // Said at the first refused revision of a key, then at every tenfold count: a flood of bad writes is no log flood.
    const seen = this.refused.get(key) ?? { revision: 0, count: 0 };
    if (seen.revision !== e.revision) {
      seen.revision = e.revision;
      seen.count++;
      this.refused.set(key, seen);
      if (Number.isInteger(Math.log10(seen.count))) {
        this.bus.logLine(`run control: refused control key ${key} of run ${this.bus.runId} (revision ${e.revision}, ${e.value.length} bytes; ${seen.count} refused so far): it ${problem}`);
      }
    }
    return undefined;
  }

  private async write(key: string, value: unknown): Promise<void> {
    await this.kv.put(key, encoder.encode(JSON.stringify(value)));
  }

  source(): Promise<SourceProgress | undefined> {
    return this.read<SourceProgress>(KEY_SOURCE);
  }

  setSource(p: SourceProgress): Promise<void> {
    return this.write(KEY_SOURCE, p);
  }

  /** The run-info record (docs/protocol.md, "Run info"), written by the launcher before any actor starts. */
  info(): Promise<RunInfo | undefined> {
    return this.read<RunInfo>(KEY_INFO);
  }

  /** Writes the record and the tokenizer.json bytes it points to (tokenizer first: a reader of `info` finds both). */
  async setInfo(info: RunInfo, tokenizerJson: string): Promise<void> {
    await this.kv.put(KEY_TOKENIZER, encoder.encode(tokenizerJson));
    await this.write(KEY_INFO, info);
  }

  end(): Promise<RunEnd | undefined> {
    return this.read<RunEnd>(KEY_END);
  }

  markEnd(e: RunEnd): Promise<void> {
    return this.write(KEY_END, e);
  }

  /**
   * Resolves with the end record once it is written, or undefined when `signal` aborts. Polls rather than watches:
   * a poll simply fails and retries while the server restarts, where a watch would have to be re-established.
   */
  async waitEnd(signal: AbortSignal, everyMs = 500): Promise<RunEnd | undefined> {
    while (!signal.aborted) {
      try {
        const e = await this.end();
        if (e) return e;
      } catch (err) {
        if (this.bus.isClosed) return undefined;
        // Unreachable server (restarting), or a node whose JetStream is between leaders (503, "JetStream system
        // temporarily unavailable", as after a paused host resumes): the next poll tries again.
        if (!/timeout|disconnect|connection|no responders/i.test((err as Error).message) && (err as { code?: unknown }).code !== '503') throw err;
      }
      await systemClock.sleep(everyMs, signal);
    }
    return undefined;
  }

  phase(): Promise<PhaseProgress | undefined> {
    return this.read<PhaseProgress>(KEY_PHASE);
  }

  setPhase(p: PhaseProgress): Promise<void> {
    return this.write(KEY_PHASE, p);
  }

  /** The pairs stream's last sequence number (pairs ever stored) and the pairs stored and not yet acked. */
  async pairsStored(): Promise<PairsStored> {
    const names = natsNames(this.bus.cfg.prefix, this.bus.runId);
    const st = (await this.bus.jsm.streams.info(names.stream('pairs'))).state;
    return { lastSeq: st.last_seq, messages: st.messages };
  }

  /**
   * Removes messages a work stream still stores although its consumer acked them, and returns their sequence numbers
   * by topic. nats-server 2.9 killed between saving a consumer's acks and removing the acked messages restarts with
   * both: such a message is never delivered again and the pipeline never looks drained. A message at or below the
   * consumer's ack floor was acked (work-queue streams have one consumer each), so removing it loses nothing.
   */
  async removeAckedLeftovers(): Promise<Partial<Record<'prompts' | 'samples' | 'pairs', number[]>>> {
    const names = natsNames(this.bus.cfg.prefix, this.bus.runId);
    const out: Partial<Record<'prompts' | 'samples' | 'pairs', number[]>> = {};
    for (const [topic, durable] of WORK_CONSUMERS) {
      const stream = names.stream(topic);
      const st = (await this.bus.jsm.streams.info(stream)).state;
      if (st.messages === 0) continue;
      let floor: number;
      try {
        floor = (await this.bus.jsm.consumers.info(stream, durable)).ack_floor.stream_seq;
      } catch (err) {
        if (/consumer not found/i.test((err as Error).message)) continue;
        throw err;
      }
      for (let seq = st.first_seq; seq <= floor; seq++) {
        try {
          if (await this.bus.jsm.streams.deleteMessage(stream, seq, false)) (out[topic] ??= []).push(seq);
        } catch (err) {
          // Gaps: most sequences below the floor were removed on their ack, as they should be.
          if (!/no message found|not found/i.test((err as Error).message)) throw err;
        }
      }
    }
    return out;
  }

  /** The pairs stream and the learner's consumer as the server sees them, in one line (for a learner that waits). */
  async pairsConsumerState(): Promise<string> {
    const names = natsNames(this.bus.cfg.prefix, this.bus.runId);
    const st = (await this.bus.jsm.streams.info(names.stream('pairs'))).state;
    const ci = await this.bus.jsm.consumers.info(names.stream('pairs'), LEARNER_DURABLE);
    return (
      `stream seq ${st.first_seq}..${st.last_seq} (${st.messages} stored); consumer delivered up to ${ci.delivered.stream_seq}, ` +
      `ack floor ${ci.ack_floor.stream_seq}, ack pending ${ci.num_ack_pending}, redelivered ${ci.num_redelivered}, waiting pulls ${ci.num_waiting}`
    );
  }

  async backlog(): Promise<Backlog> {
    const names = natsNames(this.bus.cfg.prefix, this.bus.runId);
    const messages = async (topic: 'prompts' | 'samples' | 'pairs'): Promise<number> => (await this.bus.jsm.streams.info(names.stream(topic))).state.messages;
    let pairsUndelivered: number;
    try {
      pairsUndelivered = (await this.bus.jsm.consumers.info(names.stream('pairs'), LEARNER_DURABLE)).num_pending;
    } catch (err) {
      // No learner has subscribed yet: every stored pair is undelivered.
      if (!/consumer not found/i.test((err as Error).message)) throw err;
      pairsUndelivered = -1;
    }
    const [prompts, samples, pairs] = await Promise.all([messages('prompts'), messages('samples'), messages('pairs')]);
    return { prompts, samples, pairs, pairsUndelivered: pairsUndelivered < 0 ? pairs : pairsUndelivered };
  }
}
