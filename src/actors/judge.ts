// Judge: scores each sample group (proxy model or a scorer the user brings) and publishes one (chosen, rejected) pair per group.
import type { Config } from '../config/index.js';
import { HttpRequestRejectedError } from '../scorers/http_client.js';
import { HttpMetricsExporter } from '../scorers/http_metrics.js';
import { MalformedReplyError, ScorerUnavailableError } from '../scorers/scorer.js';
import { deriveSeed } from '../kernels/rng.js';
import type { Bus, Delivery } from '../streams/bus.js';
import type { PairMsg, PairSide, SampleGroupMsg } from '../streams/topics.js';
import type { Clock } from '../clock.js';
import { humanJudgeId, type HumanLabel } from '../streams/labels.js';
import { waitsForPerson, type HumanDesk } from './human_desk.js';
import { drainConsumer, openInbox, type Inbox } from './inbox.js';
import type { MetricsRegistry } from './metrics.js';
import { choosePair } from './pairing.js';
import type { ScorerPort } from './ports.js';

export class JudgeError extends Error {
  override name = 'JudgeError';
}

export interface JudgeDeps {
  bus: Bus;
  scorer: ScorerPort;
  clock: Clock;
  metrics: MetricsRegistry;
  /** Where groups wait for a person (judge.human mix or only): the dashboard's /label page serves it. */
  desk?: HumanDesk;
}

export interface JudgeOptions {
  judgeId: string;
  config: Config['judge'];
  /** Shared by all judges: the random pairing rules derive their draws from (seed, groupId), so any judge pairs a group alike. */
  seed: number;
  /** K the generators use; sizes a scoring call at about config.batchSize samples. */
  samplesPerPrompt: number;
  lingerMs?: number;
  heartbeatMs?: number;
  /** The consumer's ack wait (default: the bus's); the heartbeat defaults to a third of it. */
  ackWaitMs?: number;
}

export const JUDGE_DURABLE = 'judges';

/**
 * Another valid pair of the same group (a redelivered group paired again) does this pair's work. One already consumed
 * is taken for it only when the group was delivered before (see the generator's sameGroup).
 */
const samePair = (stored: PairMsg | undefined, p: PairMsg, deliveries: number): boolean =>
  stored === undefined ? deliveries > 1 : stored.pairId === p.pairId && stored.groupId === p.groupId && stored.runId === p.runId;

/** Sample groups one scorer call takes: judge.batchSize samples, whole groups. */
export function judgeGroupsPerCall(c: { batchSize: number }, samplesPerPrompt: number): number {
  return Math.max(1, Math.floor(c.batchSize / samplesPerPrompt));
}

/**
 * max_ack_pending of the judges' durable: two calls in flight per judge process (at least one: with judge.count 0 the
 * judges come from outside). The run-info record says it too.
 */
export function judgesMaxAckPending(c: { batchSize: number; count: number }, samplesPerPrompt: number): number {
  return judgeGroupsPerCall(c, samplesPerPrompt) * 2 * Math.max(1, c.count);
}

export function pairIdOf(groupId: string): string {
  return `p:${groupId}`;
}

const MARGIN_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10] as const;

/** Why a group cannot be judged, or undefined when it can. */
export function invalidGroup(g: SampleGroupMsg, runId: string): string | undefined {
  if (g.runId !== runId) return `group from run ${JSON.stringify(g.runId)}; this run is ${JSON.stringify(runId)}`;
  if (g.samples.length < 2) return `group ${g.groupId} has ${g.samples.length} samples; pairing needs at least 2`;
  const ids = new Set<string>();
  const prompt = g.samples[0]!.promptTokens;
  for (const s of g.samples) {
    if (s.promptId !== g.promptId) return `sample ${s.sampleId} is for prompt ${s.promptId}, its group for ${g.promptId}`;
    if (ids.has(s.sampleId)) return `sample id ${s.sampleId} repeats in group ${g.groupId}`;
    ids.add(s.sampleId);
    if (s.promptTokens.length !== prompt.length || s.promptTokens.some((t, i) => t !== prompt[i])) {
      return `sample ${s.sampleId} has other prompt tokens than its group`;
    }
  }
  return undefined;
}

function side(g: SampleGroupMsg, i: number, score: number): PairSide {
  const s = g.samples[i]!;
  const out: PairSide = { sampleId: s.sampleId, responseTokens: s.responseTokens, text: s.text, score, policyVersion: s.policyVersion };
  // Passed through for the learner's weight-sync check and lag accounting; absent fields stay absent on the wire.
  if (s.lastPolicyVersion !== undefined) out.lastPolicyVersion = s.lastPolicyVersion;
  if (s.behaviourLogprobs !== undefined) out.behaviourLogprobs = s.behaviourLogprobs;
  return out;
}

/** The pair of a group's responses `chosen` over `rejected`, as whoever judged it (a scorer or a person) says. */
function pairOfGroup(g: SampleGroupMsg, chosen: number, rejected: number, scores: readonly number[], by: { judgeId: string; judgeModel: string; margin: number; createdAt: number }): PairMsg {
  return {
    type: 'pair',
    v: 1,
    runId: g.runId,
    pairId: pairIdOf(g.groupId),
    promptId: g.promptId,
    groupId: g.groupId,
    promptTokens: g.samples[0]!.promptTokens,
    chosen: side(g, chosen, scores[chosen]!),
    rejected: side(g, rejected, scores[rejected]!),
    ...by,
  };
}

/** Why a score list cannot be used for a group of k, or undefined when it can. */
function badScores(scores: readonly number[], k: number): string | undefined {
  if (!Array.isArray(scores) || scores.length !== k || !scores.every(Number.isFinite)) {
    const shown = Array.isArray(scores) ? `${scores.length} scores (${scores.slice(0, 4).join(', ')}${scores.length > 4 ? ', ...' : ''})` : JSON.stringify(scores);
    return `scorer returned ${shown} for ${k} responses; all must be finite`;
  }
  return undefined;
}

/** Request statuses that say this group's input is the problem (too long, unprocessable), not the service or the config. */
const BAD_INPUT_STATUS = new Set([400, 413, 422]);

/** What a scoring failure means for its group: wait for the service, dead-letter the group, or stop the judge. */
function disposition(err: unknown): 'wait' | 'dead-letter' | 'fatal' {
  if (err instanceof ScorerUnavailableError) return 'wait';
  if (err instanceof MalformedReplyError) return 'dead-letter';
  // A refused key or a wrong URL (401, 403, 404) is a config error: no group is to blame, so none is dead-lettered.
  if (err instanceof HttpRequestRejectedError) return BAD_INPUT_STATUS.has(err.status) ? 'dead-letter' : 'fatal';
  return 'fatal';
}

export class Judge {
  private readonly abort = new AbortController();
  private inbox: Inbox<SampleGroupMsg> | undefined;
  /** The batch being scored: the inbox's heartbeat keeps its groups from timing out. */
  private inWork: readonly Delivery<SampleGroupMsg>[] = [];
  private loop: Promise<void> | undefined;
  private stateName = 'idle';
  /** Groups settled (paired, tied or dead-lettered), for phase-driven modes. */
  groupsSettled = 0;
  pairsPublished = 0;
  /** The network scorer's client counts as judge_http_*_total counters; absent for the proxy model. */
  private readonly http: HttpMetricsExporter | undefined;
  /** Groups waiting for a person: kept alive by the heartbeat, settled on their own while the judge goes on. */
  private readonly withPerson = new Map<string, { d: Delivery<SampleGroupMsg>; done: Promise<void> }>();
  private personFailure: unknown;
  private readonly stopping = new Promise<void>((resolve) => this.abort.signal.addEventListener('abort', () => resolve(), { once: true }));

  constructor(
    private readonly deps: JudgeDeps,
    private readonly opts: JudgeOptions,
  ) {
    this.http = deps.scorer.httpStats ? new HttpMetricsExporter(deps.metrics) : undefined;
    if (opts.config.human !== 'off' && !deps.desk) {
      throw new JudgeError(`judge.human is ${JSON.stringify(opts.config.human)}, which needs the labelling page in this process: a one-process run with the dashboard on (monitor.dashboard=true); use judge.human=off here`);
    }
  }

  get id(): string {
    return this.opts.judgeId;
  }
  get state(): string {
    return this.stateName;
  }

  private get groupsPerCall(): number {
    return judgeGroupsPerCall(this.opts.config, this.opts.samplesPerPrompt);
  }

  start(): void {
    if (this.loop) return;
    this.inbox = openInbox(
      this.deps.bus,
      'samples',
      { durable: JUDGE_DURABLE, maxAckPending: judgesMaxAckPending(this.opts.config, this.opts.samplesPerPrompt), pullBatch: this.groupsPerCall, ackWaitMs: this.opts.ackWaitMs, heartbeatMs: this.opts.heartbeatMs },
      this.deps.clock,
      () => [...this.inWork, ...[...this.withPerson.values()].map((x) => x.d)],
    );
    this.loop = this.run();
    this.stateName = 'running';
  }

  get finished(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (this.personFailure !== undefined) throw this.personFailure;
      const taken = await this.inbox!.take(this.groupsPerCall, this.opts.lingerMs ?? 20, signal);
      if (taken.length === 0) break;
      const batch: Delivery<SampleGroupMsg>[] = [];
      for (const d of taken) {
        const why = invalidGroup(d.data, this.deps.bus.runId);
        if (why === undefined) batch.push(d);
        else {
          this.deps.metrics.counter('judge_groups_invalid_total').inc();
          await d.deadLetter(why);
          this.groupsSettled++;
        }
      }
      if (batch.length > 0) await this.judgeBatch(batch);
    }
  }

  /** One outcome per group: its scores, or the error that kept it from being scored. */
  private async scoreGroups(groups: SampleGroupMsg[]): Promise<PromiseSettledResult<number[]>[]> {
    const requests = groups.map((g) => ({ promptTokens: g.samples[0]!.promptTokens, responses: g.samples.map((s) => s.responseTokens) }));
    const scorer = this.deps.scorer;
    if (scorer.scoreEach) return scorer.scoreEach(requests);
    try {
      const scores = scorer.scoreMany ? await scorer.scoreMany(requests) : await Promise.all(requests.map((r) => scorer.score(r.promptTokens, r.responses)));
      if (scores.length !== groups.length) throw new JudgeError(`scorer returned ${scores.length} score lists for ${groups.length} groups`);
      return scores.map((value) => ({ status: 'fulfilled', value }));
    } catch (reason) {
      return groups.map(() => ({ status: 'rejected', reason }));
    }
  }

  /**
   * Scores the batch and settles each group: paired (or tied) and acked, dead-lettered for a bad reply, or held while the
   * scorer is unavailable. Held groups stay unacked and kept alive, and are scored again every outageWaitMs until the
   * scorer answers: an outage loses nothing and dead-letters nothing, and no group is judged twice.
   */
  private async judgeBatch(batch: Delivery<SampleGroupMsg>[]): Promise<void> {
    const m = this.deps.metrics;
    let waiting = batch;
    this.inWork = waiting;
    try {
      for (;;) {
        const t0 = this.deps.clock.now();
        const comparisons0 = this.deps.scorer.comparisons ?? 0;
        const outcomes = await this.scoreGroups(waiting.map((d) => d.data));
        m.histogram('judge_score_seconds').observe((this.deps.clock.now() - t0) / 1000);
        if (this.http && this.deps.scorer.httpStats) this.http.sync(this.deps.scorer.httpStats);
        const fatal = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected' && disposition(o.reason) === 'fatal');
        if (fatal) {
          waiting.forEach((d) => d.nak(1000));
          throw fatal.reason;
        }
        if (this.deps.scorer.comparisons !== undefined) {
          const made = this.deps.scorer.comparisons - comparisons0;
          m.counter('judge_comparisons_total').inc(made);
          m.gauge('judge_comparisons_per_group').set(made / waiting.length);
        }
        const scored: { d: Delivery<SampleGroupMsg>; scores: number[] }[] = [];
        const unavailable: Delivery<SampleGroupMsg>[] = [];
        for (const [i, o] of outcomes.entries()) {
          const d = waiting[i]!;
          if (o.status === 'fulfilled') {
            const why = badScores(o.value, d.data.samples.length);
            if (why === undefined) scored.push({ d, scores: o.value });
            else await this.deadLetterReply(d, why);
          } else if (disposition(o.reason) === 'wait') unavailable.push(d);
          else await this.deadLetterReply(d, (o.reason as Error).message);
        }
        await this.publishPairs(scored);
        waiting = unavailable;
        this.inWork = waiting;
        if (waiting.length === 0) return;
        m.counter('judge_scorer_unavailable_total').inc();
        m.gauge('judge_groups_waiting').set(waiting.length);
        this.stateName = 'waiting-for-scorer';
        await this.deps.clock.sleep(this.opts.config.outageWaitMs, this.abort.signal);
        if (this.abort.signal.aborted) {
          // Stopping: the held groups go back to the stream for whichever judge runs next.
          waiting.forEach((d) => d.nak());
          return;
        }
      }
    } finally {
      this.inWork = [];
      m.gauge('judge_groups_waiting').set(0);
      if (this.stateName === 'waiting-for-scorer') this.stateName = 'running';
    }
  }

  private async deadLetterReply(d: Delivery<SampleGroupMsg>, why: string): Promise<void> {
    this.deps.metrics.counter('judge_groups_bad_reply_total').inc();
    await d.deadLetter(`scorer ${this.deps.scorer.modelId} could not score group ${d.data.groupId}: ${why}`);
    this.groupsSettled++;
  }

  /** Whether a scored group waits for a person (judge.human) instead of being paired by its scores now. */
  private forPerson(groupId: string): boolean {
    const c = this.opts.config;
    return c.human === 'only' || (c.human === 'mix' && waitsForPerson(this.opts.seed, groupId, c.humanShare));
  }

  private async publishPairs(judged: { d: Delivery<SampleGroupMsg>; scores: number[] }[], fallback = false): Promise<void> {
    const scored = fallback ? judged : judged.filter((x) => !this.forPerson(x.d.data.groupId));
    if (!fallback) for (const x of judged) if (!scored.includes(x)) this.holdForPerson(x.d, x.scores);
    if (scored.length === 0) return;
    const m = this.deps.metrics;
    const groups = scored.map((x) => x.d.data);
    const pairs: PairMsg[] = [];
    let ties = 0;
    scored.forEach(({ d, scores }) => {
      const pair = this.pairOf(d.data, scores);
      if (pair) pairs.push(pair);
      else ties++;
    });
    const deliveries = new Map(scored.map(({ d }) => [d.data.groupId, d.deliveries]));
    await Promise.all(pairs.map((p) => this.deps.bus.publish('pairs', p, { msgId: p.pairId, sameWork: (s) => samePair(s as PairMsg | undefined, p, deliveries.get(p.groupId) ?? 1) })));
    await Promise.all(scored.map(({ d }) => d.ack()));
    this.groupsSettled += scored.length;
    this.pairsPublished += pairs.length;
    const samples = groups.reduce((s, g) => s + g.samples.length, 0);
    m.counter('judge_groups_total').inc(scored.length);
    m.counter('judge_samples_scored_total').inc(samples);
    m.counter('judge_pairs_total').inc(pairs.length);
    m.counter('judge_ties_total').inc(ties);
    const all = scored.flatMap((x) => x.scores);
    m.gauge('judge_score_mean').set(all.reduce((s, x) => s + x, 0) / all.length);
    if (pairs.length > 0) {
      m.gauge('judge_chosen_length_tokens').set(pairs.reduce((s, p) => s + p.chosen.responseTokens.length, 0) / pairs.length);
      m.gauge('judge_rejected_length_tokens').set(pairs.reduce((s, p) => s + p.rejected.responseTokens.length, 0) / pairs.length);
    }
  }

  private holdForPerson(d: Delivery<SampleGroupMsg>, scores: number[]): void {
    const groupId = d.data.groupId;
    const held = this.withPerson.get(groupId);
    if (held) {
      // A redelivery of a group already waiting: the wait goes on, and the newest delivery is the one kept alive and acked.
      held.d = d;
      return;
    }
    const entry = { d, done: Promise.resolve() };
    const latest = (): Delivery<SampleGroupMsg> => entry.d;
    entry.done = this.awaitPerson(latest, scores)
      .catch((err: unknown) => {
        this.personFailure ??= err;
        entry.d.nak(1000);
      })
      .finally(() => {
        this.withPerson.delete(groupId);
        this.deps.metrics.gauge('judge_human_waiting_groups').set(this.withPerson.size);
      });
    this.withPerson.set(groupId, entry);
    this.deps.metrics.gauge('judge_human_waiting_groups').set(this.withPerson.size);
  }

  /**
   * Waits for a person's label (judge.human=only: as long as it takes; mix: up to humanTimeoutMs, then the scorer's pair
   * is published instead). A stopping judge hands an unlabelled group back to the stream.
   */
  private async awaitPerson(latest: () => Delivery<SampleGroupMsg>, scores: number[]): Promise<void> {
    let d = latest();
    const desk = this.deps.desk!;
    const c = this.opts.config;
    const signal = this.abort.signal;
    // One timer per group and one shared stop signal: many waiting groups add no listeners to the abort signal.
    let timer: unknown;
    const waits: Promise<unknown>[] = [desk.offer(d.data, scores), this.stopping];
    if (c.human === 'mix') waits.push(new Promise<void>((resolve) => (timer = this.deps.clock.setTimeout(resolve, c.humanTimeoutMs))));
    try {
      await Promise.race(waits);
    } finally {
      if (timer !== undefined) this.deps.clock.clearTimeout(timer);
    }
    d = latest();
    const label = desk.close(d.data.groupId, signal.aborted ? 'stopped' : 'fallback');
    if (label) return this.publishLabel(d, scores, label);
    if (signal.aborted) {
      d.nak();
      return;
    }
    this.deps.metrics.counter('judge_human_fallback_total').inc();
    await this.publishPairs([{ d, scores }], true);
  }

  /** A person's choice as a pair like a scorer's (its sides carry the scorer's scores, for agreement figures). */
  private async publishLabel(d: Delivery<SampleGroupMsg>, scores: number[], l: HumanLabel): Promise<void> {
    const m = this.deps.metrics;
    const g = d.data;
    m.counter('judge_human_labels_total').inc();
    if (l.choice === 'tie') {
      m.counter('judge_ties_total').inc();
    } else {
      const [c, r] = l.choice === 'a' ? [l.a, l.b] : [l.b, l.a];
      if (scores[c] !== scores[r]) {
        m.counter('judge_human_compared_total').inc();
        if (scores[c]! > scores[r]!) m.counter('judge_human_agreed_total').inc();
      }
      // The person ranked the pair; the scorer's gap says by how much it agrees (0 where it does not).
      const margin = Math.max(0, scores[c]! - scores[r]!);
      const p = pairOfGroup(g, c, r, scores, { judgeId: humanJudgeId(l.labeler), judgeModel: 'human', margin, createdAt: this.deps.clock.now() });
      await this.deps.bus.publish('pairs', p, { msgId: p.pairId, sameWork: (s) => samePair(s as PairMsg | undefined, p, d.deliveries) });
      this.pairsPublished++;
      m.counter('judge_pairs_total').inc();
      m.counter('judge_human_pairs_total').inc();
    }
    await d.ack();
    this.groupsSettled++;
    m.counter('judge_groups_total').inc();
  }

  /** The group's pair, or undefined for a tie. */
  private pairOf(g: SampleGroupMsg, scores: number[]): PairMsg | undefined {
    const c = this.opts.config;
    const choice = choosePair(
      scores,
      g.samples.map((s) => s.responseTokens.length),
      { rule: c.pairing, lengthPenalty: c.lengthPenalty, minMargin: c.minMargin, seed: deriveSeed(this.opts.seed, 'pairing', g.groupId) },
    );
    if (choice.kind === 'tie') return undefined;
    this.deps.metrics.histogram('judge_margin_score', MARGIN_BUCKETS).observe(choice.margin);
    return pairOfGroup(g, choice.chosen, choice.rejected, scores, {
      judgeId: this.opts.judgeId,
      judgeModel: this.deps.scorer.modelId,
      margin: choice.margin,
      createdAt: this.deps.clock.now(),
    });
  }

  /** Finishes the batch in flight and hands unstarted groups back to the stream. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stateName = 'draining';
    this.abort.abort();
    // Groups waiting for a person go back to the stream (or publish the label that just came in) before the inbox closes.
    await Promise.all([...this.withPerson.values()].map((x) => x.done));
    const failure = (await drainConsumer(this.loop, this.inbox!)) ?? this.personFailure;
    this.stateName = 'stopped';
    if (failure !== undefined) throw failure;
  }
}
