// Generator: takes prompts, samples K responses each with the current policy, publishes one sample group per prompt.
import type { Config } from '../config/index.js';
import { deriveSeed } from '../kernels/rng.js';
import { weightsAtLeast, type Bus, type Delivery, type WeightBlob } from '../streams/bus.js';
import { encodeLogprobs } from '../streams/behaviour_logprobs.js';
import type { PromptMsg, Sample, SampleGroupMsg, WeightsMsg } from '../streams/topics.js';
import type { Clock } from '../clock.js';
import { drainConsumer, openInbox, type Inbox } from './inbox.js';
import type { MetricsRegistry } from './metrics.js';
import type { GenerateResult, GroupExtras, PolicyPort } from './ports.js';

export class GeneratorError extends Error {
  override name = 'GeneratorError';
}

export interface GeneratorDeps {
  bus: Bus;
  policy: PolicyPort;
  /** Token ids -> text, for the sample's `text` field. */
  decode: (tokens: number[]) => string;
  clock: Clock;
  metrics: MetricsRegistry;
  /** Flow control / phase gate: awaited before each batch is taken. */
  admit?: (signal: AbortSignal) => Promise<void>;
}

export interface GeneratorOptions {
  generatorId: string;
  config: Config['generator'];
  seed: number;
  /** How long to wait for a batch to fill once its first prompt arrived. */
  lingerMs?: number;
  /** Prompts longer than this are dead-lettered (context length minus maxNewTokens). */
  maxPromptTokens?: number;
  /** The version the policy port holds at start (0: the SFT weights). */
  initialVersion?: number;
  /**
   * Also ask the store for the newest version before each batch, not only follow the watch: phase-driven modes need the
   * version published just before their prompts, which the watch may not have delivered yet.
   */
  pollWeights?: boolean;
  /** Ack-deadline heartbeat for prompts while a batch generates. */
  heartbeatMs?: number;
  /** The consumer's ack wait (default: the bus's); the heartbeat defaults to a third of it. */
  ackWaitMs?: number;
  /**
   * In-flight weight updates: a version announced while a batch samples is offered to the policy port, which adopts it
   * between decoding steps (checking at most every this many); absent: a batch is sampled by one version.
   */
  inFlightCheckTokens?: number;
}

export const GENERATOR_DURABLE = 'generators';

/** max_ack_pending of the generators' durable: two batches in flight per generator (the run-info record says it too). */
export function generatorsMaxAckPending(c: { promptsPerBatch: number; count: number }): number {
  return c.promptsPerBatch * 2 * c.count;
}

/** Group and sample ids derive from the prompt message, so a regenerated redelivery publishes under the same ids. */
export function groupIdOf(prompt: Pick<PromptMsg, 'promptId' | 'epoch'>): string {
  return `g:${prompt.promptId}:${prompt.epoch}`;
}

/**
 * Another valid group for the same prompt (a redelivered prompt sampled again) does this group's work. One already
 * consumed is taken for it only when the prompt was delivered before: a first delivery's msgId held by a message this
 * process cannot see was pre-empted, and the group is stored again (NatsBus, PublishOptions.sameWork).
 */
const sameGroup = (stored: SampleGroupMsg | undefined, g: SampleGroupMsg, deliveries: number): boolean =>
  stored === undefined ? deliveries > 1 : stored.groupId === g.groupId && stored.promptId === g.promptId && stored.runId === g.runId;

/** Checks a port's answer has the [P][K] shape asked for. */
function checkResult(r: GenerateResult, p: number, k: number): void {
  if (r.tokens.length !== p || r.finished.length !== p) throw new GeneratorError(`policy returned ${r.tokens.length} groups for ${p} prompts`);
  for (let i = 0; i < p; i++) {
    if (r.tokens[i]!.length !== k || r.finished[i]!.length !== k) {
      throw new GeneratorError(`policy returned ${r.tokens[i]!.length} responses for prompt ${i}; asked for ${k}`);
    }
  }
}

export class Generator {
  private version: number;
  private announced: WeightsMsg | undefined;
  private batchIndex = 0;
  private readonly abort = new AbortController();
  private inbox: Inbox<PromptMsg> | undefined;
  /** The batch being generated: the inbox's heartbeat keeps its prompts from timing out. */
  private inWork: readonly Delivery<PromptMsg>[] = [];
  private loop: Promise<void> | undefined;
  private watcher: Promise<void> | undefined;
  private stateName = 'idle';
  private watchFailure: unknown;
  /** A batch is sampling (in-flight offers go to the port only then) and the newest version offered to it. */
  private sampling = false;
  private offered = 0;
  /** Prompts settled (published as a group or dead-lettered) and groups published: phase-driven modes count them. */
  promptsSettled = 0;
  groupsPublished = 0;

  constructor(
    private readonly deps: GeneratorDeps,
    private readonly opts: GeneratorOptions,
  ) {
    this.version = opts.initialVersion ?? 0;
  }

  get id(): string {
    return this.opts.generatorId;
  }
  get policyVersion(): number {
    return this.version;
  }
  get state(): string {
    return this.stateName;
  }

  start(): void {
    if (this.loop) return;
    const c = this.opts.config;
    this.inbox = openInbox(
      this.deps.bus,
      'prompts',
      { durable: GENERATOR_DURABLE, maxAckPending: generatorsMaxAckPending(c), pullBatch: c.promptsPerBatch, ackWaitMs: this.opts.ackWaitMs, heartbeatMs: this.opts.heartbeatMs },
      this.deps.clock,
      () => this.inWork,
    );
    this.watcher = this.watchWeights().catch((err: unknown) => {
      this.watchFailure = err;
    });
    this.loop = this.run();
    this.stateName = 'running';
  }

  /** Resolves when the actor stopped; rejects with the error that stopped it. */
  get finished(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  private async watchWeights(): Promise<void> {
    for await (const w of this.deps.bus.weights.watch(this.abort.signal)) {
      if (!this.announced || w.version > this.announced.version) this.announced = w;
      if (this.sampling && this.opts.inFlightCheckTokens && w.version > Math.max(this.version, this.offered)) await this.offerInFlight(w.version);
    }
  }

  /**
   * Hands a newer version to the batch sampling now. A failed fetch only costs the batch its update: the next batch
   * loads the version as usual (and fails loudly if the store really lost it), so it is counted, not raised here.
   */
  private async offerInFlight(version: number): Promise<void> {
    const policy = this.deps.policy;
    if (!policy.offerWeights) return;
    const m = this.deps.metrics;
    try {
      const blob = await weightsAtLeast(this.deps.bus.weights, version);
      if (!blob || !this.sampling) return;
      policy.offerWeights(blob.meta.version, blob.bytes);
      this.offered = blob.meta.version;
      m.counter('generator_inflight_offers_total').inc();
    } catch {
      m.counter('generator_inflight_offer_errors_total').inc();
    }
  }

  /** Loads the newest announced (or, with `poll`, stored) version if it is newer than the one held; returns the version held. */
  async syncWeights(poll = false): Promise<number> {
    if (this.watchFailure !== undefined) throw this.watchFailure;
    if (poll) {
      const latest = await this.deps.bus.weights.latest();
      if (latest && (!this.announced || latest.version > this.announced.version)) this.announced = latest;
    }
    const target = this.announced;
    if (!target || target.version <= this.version) return this.version;
    const t0 = this.deps.clock.now();
    const blob = await this.fetchWeights(target.version);
    await this.deps.policy.loadWeights(blob.meta.version, blob.bytes);
    this.version = blob.meta.version;
    const m = this.deps.metrics;
    m.counter('generator_weight_loads_total').inc();
    m.histogram('generator_weight_load_seconds').observe((this.deps.clock.now() - t0) / 1000);
    m.gauge('generator_policy_version').set(this.version);
    return this.version;
  }

  /** The bytes of `version`, or of the latest when the store has since dropped it (it keeps only recent versions). */
  private async fetchWeights(version: number): Promise<WeightBlob> {
    const blob = await weightsAtLeast(this.deps.bus.weights, version);
    if (!blob) throw new GeneratorError(`weights version ${version} was announced but the store does not hold it`);
    if (blob.meta.version > version) this.announced = blob.meta;
    return blob;
  }

  private validate(p: PromptMsg): string | undefined {
    if (p.runId !== this.deps.bus.runId) return `prompt from run ${JSON.stringify(p.runId)}; this run is ${JSON.stringify(this.deps.bus.runId)}`;
    if (p.tokens.length === 0) return `prompt ${p.promptId} has no tokens`;
    const max = this.opts.maxPromptTokens;
    if (max !== undefined && p.tokens.length > max) return `prompt ${p.promptId} has ${p.tokens.length} tokens; at most ${max} fit the context`;
    return undefined;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const m = this.deps.metrics;
    m.gauge('generator_policy_version').set(this.version);
    while (!signal.aborted) {
      if (this.deps.admit) await this.deps.admit(signal);
      if (signal.aborted) break;
      const taken = await this.inbox!.take(this.opts.config.promptsPerBatch, this.opts.lingerMs ?? 20, signal);
      if (taken.length === 0) break;
      // Weights change only here, between batches: a batch is sampled by one version, which its samples carry.
      await this.syncWeights(this.opts.pollWeights ?? false);
      const batch: Delivery<PromptMsg>[] = [];
      for (const d of taken) {
        const why = this.validate(d.data);
        if (why === undefined) batch.push(d);
        else {
          m.counter('generator_prompts_invalid_total').inc();
          await d.deadLetter(why);
          this.promptsSettled++;
        }
      }
      if (batch.length > 0) await this.generateBatch(batch);
    }
  }

  private async generateBatch(batch: Delivery<PromptMsg>[]): Promise<void> {
    const c = this.opts.config;
    const m = this.deps.metrics;
    const version = this.version;
    const startedAt = this.deps.clock.now();
    this.inWork = batch;
    this.sampling = true;
    this.offered = version;
    // A version announced between the weight sync and now would otherwise wait for the next batch.
    if (this.opts.inFlightCheckTokens && this.announced && this.announced.version > version) void this.offerInFlight(this.announced.version);
    let result: GenerateResult;
    // Each group is published the moment its K responses are done (continuous batching reports them early) and its
    // prompt acked once the group is stored; a group published before a failure is kept and its prompt settled.
    const settled: Promise<void>[] = [];
    const publishedAt: number[] = [];
    let returnedAt = Number.POSITIVE_INFINITY;
    const done = new Set<number>();
    const stored = new Set<number>();
    const onGroup = (i: number, tokens: number[][], finished: boolean[], extras: GroupExtras = {}): void => {
      done.add(i);
      const r: GenerateResult = { tokens: [tokens], finished: [finished], ...(extras.logprobs ? { logprobs: [extras.logprobs] } : {}), ...(extras.versions ? { versions: [extras.versions] } : {}) };
      const g = this.group(batch[i]!.data, r, 0, version, startedAt, this.deps.clock.now());
      publishedAt[i] = this.deps.clock.now();
      settled.push(this.deps.bus.publish('samples', g, { msgId: g.groupId, sameWork: (s) => sameGroup(s as SampleGroupMsg | undefined, g, batch[i]!.deliveries) }).then(async () => {
        stored.add(i);
        await batch[i]!.ack();
      }));
    };
    try {
      result = await this.deps.policy.generate(
        batch.map((d) => d.data.tokens),
        c.samplesPerPrompt,
        {
          maxNewTokens: c.maxNewTokens,
          temperature: c.temperature,
          topK: c.topK,
          topP: c.topP,
          seed: deriveSeed(this.opts.seed, 'generator', this.opts.generatorId, this.batchIndex++),
          ...(c.continuous ? { slots: c.slots || c.promptsPerBatch * c.samplesPerPrompt } : {}),
          ...(c.continuous && this.opts.inFlightCheckTokens ? { inFlightCheckTokens: this.opts.inFlightCheckTokens } : {}),
        },
        onGroup,
      );
      returnedAt = this.deps.clock.now();
      checkResult(result, batch.length, c.samplesPerPrompt);
      // A port that does not report groups: publish them all now.
      batch.forEach((_, i) => done.has(i) || onGroup(i, result.tokens[i]!, result.finished[i]!, { logprobs: result.logprobs?.[i], versions: result.versions?.[i] }));
      await Promise.all(settled);
    } catch (err) {
      // The prompts whose groups were not stored go back for another generator; the failure stops this one loudly.
      await Promise.allSettled(settled);
      batch.forEach((d, i) => stored.has(i) || d.nak(1000));
      throw err;
    } finally {
      this.inWork = [];
      this.sampling = false;
    }
    this.adoptInFlight(result);
    const createdAt = this.deps.clock.now();
    this.promptsSettled += batch.length;
    this.groupsPublished += batch.length;
    const tokens = result.tokens.reduce((s, g) => s + g.reduce((t, x) => t + x.length, 0), 0);
    m.counter('generator_batches_total').inc();
    m.counter('generator_prompts_total').inc(batch.length);
    m.counter('generator_samples_total').inc(batch.length * c.samplesPerPrompt);
    m.counter('generator_tokens_total').inc(tokens);
    m.histogram('generator_batch_seconds').observe((createdAt - startedAt) / 1000);
    // Groups out before the sampling call returned: what continuous batching gains downstream.
    m.counter('generator_groups_early_total').inc(publishedAt.filter((t) => t < returnedAt).length);
  }

  /** The port continued with weights offered in flight: it holds the newest version any row reached. */
  private adoptInFlight(r: GenerateResult): void {
    const m = this.deps.metrics;
    let newest = this.version;
    let moved = 0;
    for (const g of r.versions ?? []) {
      for (const [first, last] of g) {
        if (last > newest) newest = last;
        if (last > first) moved++;
      }
    }
    m.counter('generator_samples_inflight_total').inc(moved);
    if (newest > this.version) {
      this.version = newest;
      m.counter('generator_inflight_updates_total').inc();
      m.gauge('generator_policy_version').set(newest);
    }
  }

  private group(p: PromptMsg, r: GenerateResult, i: number, version: number, startedAt: number, createdAt: number): SampleGroupMsg {
    const groupId = groupIdOf(p);
    const samples: Sample[] = r.tokens[i]!.map((responseTokens, k) => {
      // In flight, a response's first and last tokens may come from different versions: it is as old as its first. The
      // port counts from what it was told it holds; only versions offered in flight (newer than the batch's) are taken
      // from it, so a sample is stamped with the version this generator loaded, as it believes it did.
      const [pf, pl] = r.versions?.[i]?.[k] ?? [version, version];
      const first = Math.max(version, pf);
      const last = Math.max(first, pl);
      const s: Sample = {
        runId: this.deps.bus.runId,
        sampleId: `${groupId}:${k}`,
        promptId: p.promptId,
        policyVersion: first,
        generatorId: this.opts.generatorId,
        startedAt,
        createdAt,
        promptTokens: p.tokens,
        responseTokens,
        text: this.deps.decode(responseTokens),
        finished: r.finished[i]![k]!,
      };
      if (last > first) s.lastPolicyVersion = last;
      const lp = r.logprobs?.[i]?.[k];
      // A port that reports a length other than the response's is faulty: the sample goes without them (and is counted),
      // since validation downstream would refuse the whole group.
      if (lp && lp.length === responseTokens.length) s.behaviourLogprobs = encodeLogprobs(lp);
      else if (lp) this.deps.metrics.counter('generator_logprobs_malformed_total').inc();
      return s;
    });
    return {
      type: 'samples',
      v: 1,
      runId: this.deps.bus.runId,
      groupId,
      promptId: p.promptId,
      policyVersion: Math.min(...samples.map((s) => s.policyVersion)),
      generatorId: this.opts.generatorId,
      samples,
    };
  }

  /** Finishes the batch in flight, hands unstarted prompts back to the stream, and stops watching weights. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stateName = 'draining';
    this.abort.abort();
    const failure = await drainConsumer(this.loop, this.inbox!);
    await this.watcher;
    this.stateName = 'stopped';
    if (failure !== undefined) throw failure;
  }
}
