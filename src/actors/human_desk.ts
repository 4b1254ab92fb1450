// The desk where groups wait for a person: judges put groups on it, the /label page takes them off and hands back choices.
import { deriveSeed } from '../kernels/rng.js';
import type { SampleGroupMsg } from '../streams/topics.js';
import { CHOICES, checkLabeler, humanJudgeId, LabelError, type Choice, type DeskStats, type HumanLabel, type LabelDesk, type LabelledResponse, type LabelRecord, type LabelTask } from '../streams/labels.js';


export interface DeskDeps {
  now: () => number;
  /** Prompt tokens to text (the run's tokenizer). */
  decode: (ids: number[]) => string;
  /**
   * Writes a label record durably before returning. Synchronous on purpose: no timer (a fallback) can run between the
   * record and the label being handed to the judge, so a record's `late` is always what happened.
   */
  record: (r: LabelRecord) => void;
  /** Draws which two responses of a group are shown. */
  seed: number;
}

interface Waiting {
  group: SampleGroupMsg;
  scores: readonly number[];
  since: number;
  a: number;
  b: number;
  label?: HumanLabel;
  resolve: (l: HumanLabel) => void;
}

interface Settled {
  group: SampleGroupMsg;
  scores: readonly number[];
  a: number;
  b: number;
}

/** Groups judged by the scorer after waiting, kept so a late label can still be recorded against its samples. */
const SETTLED_KEPT = 10_000;
/** The two responses of a group of k shown to a person, drawn from the group id; a before b is part of the draw. */
export function shownPair(seed: number, groupId: string, k: number): { a: number; b: number } {
  const h = deriveSeed(seed, 'human-pair', groupId);
  const a = h % k;
  const b = (a + 1 + ((h >>> 8) % (k - 1))) % k;
  return { a, b };
}

/** Whether the group waits for a person under judge.human=mix: a draw from its id, so every judge decides alike. */
export function waitsForPerson(seed: number, groupId: string, share: number): boolean {
  return deriveSeed(seed, 'human-share', groupId) / 2 ** 32 < share;
}

function responseOf(g: SampleGroupMsg, i: number): LabelledResponse {
  const x = g.samples[i]!;
  return { text: x.text, tokens: x.responseTokens, finished: x.finished };
}

export class HumanDesk implements LabelDesk {
  private readonly waiting = new Map<string, Waiting>();
  private readonly settled = new Map<string, Settled>();
  /** Groups each labeler skipped: not shown to them again. */
  private readonly skipped = new Map<string, Set<string>>();
  private readonly counts = { labelled: 0, ties: 0, late: 0, fallbacks: 0, compared: 0, agreed: 0 };

  constructor(private readonly deps: DeskDeps) {}

  /** Puts a scored group on the desk; the promise resolves when a person labels it (never, if no one does). */
  offer(group: SampleGroupMsg, scores: readonly number[]): Promise<HumanLabel> {
    const { a, b } = shownPair(this.deps.seed, group.groupId, group.samples.length);
    return new Promise((resolve) => {
      this.waiting.set(group.groupId, { group, scores, since: this.deps.now(), a, b, resolve });
    });
  }

  /**
   * Takes the group off the desk: returns the label if a person answered in time, else remembers the group as judged
   * by the scorer ('fallback': a later label is recorded as late) or forgets it ('stopped': it goes back to the stream).
   */
  close(groupId: string, why: 'fallback' | 'stopped'): HumanLabel | undefined {
    const w = this.waiting.get(groupId);
    if (!w) return undefined;
    this.waiting.delete(groupId);
    if (w.label) return w.label;
    if (why === 'fallback') {
      this.counts.fallbacks++;
      this.settled.set(groupId, { group: w.group, scores: w.scores, a: w.a, b: w.b });
      if (this.settled.size > SETTLED_KEPT) this.settled.delete(this.settled.keys().next().value!);
    }
    return undefined;
  }

  /** The longest-waiting group this labeler has not skipped. */
  next(labeler: string): LabelTask | undefined {
    const skipped = this.skipped.get(labeler);
    for (const w of this.waiting.values()) {
      if (w.label || skipped?.has(w.group.groupId)) continue;
      const g = w.group;
      return {
        groupId: g.groupId,
        promptId: g.promptId,
        prompt: this.deps.decode(g.samples[0]!.promptTokens),
        a: { sampleId: g.samples[w.a]!.sampleId, text: g.samples[w.a]!.text },
        b: { sampleId: g.samples[w.b]!.sampleId, text: g.samples[w.b]!.text },
        waitedMs: this.deps.now() - w.since,
      };
    }
    return undefined;
  }

  /**
   * A person's answer. The shown sample ids must match what the desk showed (a stale page cannot label other responses).
   * Returns once the record is durable: 'accepted' (the judge publishes it), 'late' (recorded only), or 'skipped'.
   */
  submit(labeler: string, groupId: string, choice: Choice, aSampleId: string, bSampleId: string): 'accepted' | 'late' | 'skipped' {
    checkLabeler(labeler);
    if (!CHOICES.includes(choice)) throw new LabelError(`choice must be one of ${CHOICES.join(', ')}; got ${JSON.stringify(choice)}`, 400);
    const w = this.waiting.get(groupId);
    const s = w ?? this.settled.get(groupId);
    if (!s || w?.label) throw new LabelError(`group ${JSON.stringify(groupId)} is not waiting for a label (already labelled, or unknown to this run)`, 404);
    const shown = [s.group.samples[s.a]!.sampleId, s.group.samples[s.b]!.sampleId];
    if (shown[0] !== aSampleId || shown[1] !== bSampleId) {
      throw new LabelError(`group ${groupId} shows samples ${shown.join(' and ')}; the answer names ${aSampleId} and ${bSampleId}`, 409);
    }
    if (choice === 'skip') {
      if (!this.skipped.has(labeler)) this.skipped.set(labeler, new Set());
      this.skipped.get(labeler)!.add(groupId);
      return 'skipped';
    }
    const late = w === undefined;
    const rec = this.recordOf(labeler, s, choice, late);
    // Not durable (it throws): the label is not taken, the page shows the error, and the group stays as it was.
    this.deps.record(rec);
    this.count(rec);
    if (late) {
      this.settled.delete(groupId);
      return 'late';
    }
    w.label = { groupId, labeler, choice, a: s.a, b: s.b };
    w.resolve(w.label);
    return 'accepted';
  }

  private recordOf(labeler: string, s: Settled, choice: 'a' | 'b' | 'tie', late: boolean): LabelRecord {
    const g = s.group;
    const rec: LabelRecord = {
      ts: this.deps.now(),
      runId: g.runId,
      groupId: g.groupId,
      promptId: g.promptId,
      judgeId: humanJudgeId(labeler),
      choice,
      aSampleId: g.samples[s.a]!.sampleId,
      bSampleId: g.samples[s.b]!.sampleId,
      late,
      prompt: this.deps.decode(g.samples[0]!.promptTokens),
      promptTokens: g.samples[0]!.promptTokens,
      a: responseOf(g, s.a),
      b: responseOf(g, s.b),
    };
    if (choice !== 'tie') {
      const [c, r] = choice === 'a' ? [s.a, s.b] : [s.b, s.a];
      rec.chosenSampleId = g.samples[c]!.sampleId;
      rec.rejectedSampleId = g.samples[r]!.sampleId;
      if (s.scores[c] !== s.scores[r]) rec.proxyAgrees = s.scores[c]! > s.scores[r]!;
    }
    return rec;
  }

  private count(r: LabelRecord): void {
    if (r.late) this.counts.late++;
    else this.counts.labelled++;
    if (r.choice === 'tie') this.counts.ties++;
    if (r.proxyAgrees !== undefined) {
      this.counts.compared++;
      if (r.proxyAgrees) this.counts.agreed++;
    }
  }

  stats(): DeskStats {
    return { waiting: [...this.waiting.values()].filter((w) => !w.label).length, ...this.counts };
  }
}
