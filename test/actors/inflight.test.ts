// In-flight weight updates: the sampler takes new weights between decoding steps, the worker port reads offers while it
// samples, and the generator offers versions announced mid-batch and stamps each sample with its first and last version.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { encodeWeights, loadWeightsInto } from '../../src/actors/compute/local_policy.js';
import { WorkerPolicy } from '../../src/actors/compute/worker_policy.js';
import { policyLag } from '../../src/actors/admission.js';
import { Generator } from '../../src/actors/generator.js';
import { MetricsRegistry } from '../../src/actors/metrics.js';
import type { GenerateOptions, GenerateResult, GroupDone, PolicyPort } from '../../src/actors/ports.js';
import { PromptSource } from '../../src/actors/prompt_source.js';
import { initBackend } from '../../src/kernels/backend.js';
import { generateContinuous } from '../../src/kernels/continuous_sampling.js';
import { initGpt, type GptConfig } from '../../src/kernels/gpt.js';
import type { PairMsg, SampleGroupMsg } from '../../src/streams/topics.js';
import { bus as makeBus, config, decode, prompts, until } from './fakes.js';

const GPT: GptConfig = { vocabSize: 32, contextLength: 24, layers: 1, dModel: 32, heads: 2, dropout: 0, positional: 'learned' };
const OPTS = { maxNewTokens: 10, temperature: 1, topK: 0, topP: 1, eosId: 30, padId: 31, seed: 3 };

test('sampler: weights swapped between decoding steps; each response records the versions of its first and last token', async () => {
  await initBackend('wasm');
  const model = initGpt(GPT, 1);
  const other = encodeWeights(initGpt(GPT, 2));
  const rows = Array.from({ length: 12 }, (_, i) => [1, 2 + (i % 5)]);
  const plain = generateContinuous(initGpt(GPT, 1), rows, OPTS, { slots: 4 });
  let checks = 0;
  const seen: { first: number; last: number; len: number }[] = [];
  const swapped = generateContinuous(model, rows, OPTS, {
    slots: 4,
    version: 7,
    updateEvery: 3,
    update: () => {
      checks++;
      if (checks !== 2) return undefined;
      loadWeightsInto(model, other);
      return 8;
    },
    onDone: (i, r) => (seen[i] = { first: r.firstVersion, last: r.lastVersion, len: r.tokens.length }),
  });
  assert.ok(checks >= 2);
  // Rows that ran across the swap span both versions; later rows were sampled by version 8 alone.
  assert.ok(seen.some((s) => s.first === 7 && s.last === 8), JSON.stringify(seen));
  assert.ok(seen.some((s) => s.first === 8 && s.last === 8));
  assert.ok(seen.every((s) => s.first <= s.last && (s.first === 7 || s.first === 8)));
  assert.equal(swapped.tokenLogprobs.length, rows.length);
  swapped.tokenLogprobs.forEach((lp, i) => assert.equal(lp.length, swapped.tokens[i]!.length));
  // Before the swap the streams agree with a run that never swaps (the same seeds); after it they do not.
  const sameStart = rows.filter((_, i) => seen[i]!.first === 7).every((_, i) => plain.tokens[i]![0] === swapped.tokens[i]![0]);
  assert.ok(sameStart);
  assert.notDeepEqual(plain.tokens, swapped.tokens);
});

test('worker policy: weights offered while a call samples are adopted at its next check; the port then holds them', async () => {
  const w = await WorkerPolicy.create({ gpt: GPT, weights: encodeWeights(initGpt(GPT, 1)), special: { eos: 30, pad: 31 }, backend: 'wasm' });
  try {
    const opts: GenerateOptions = { maxNewTokens: 10, temperature: 1, topK: 0, topP: 1, seed: 4, slots: 8, inFlightCheckTokens: 2 };
    const call = w.generate([[1, 2], [1, 3], [1, 4]], 4, opts);
    w.offerWeights(5, encodeWeights(initGpt(GPT, 2)));
    const r = await call;
    const versions = r.versions!.flat();
    assert.equal(versions.length, 12);
    // Rows that ended before the first check stay on version 0; rows that ran across it moved to 5; later rows start on 5.
    assert.ok(versions.some(([first, last]) => first === 0 && last === 5), JSON.stringify(versions));
    assert.ok(versions.every(([first, last]) => [0, 5].includes(first) && [0, 5].includes(last) && first <= last), JSON.stringify(versions));
    assert.equal(w.version, 5);
    // An offer with no call in flight goes nowhere; without inFlightCheckTokens a call is sampled by one version.
    w.offerWeights(6, encodeWeights(initGpt(GPT, 3)));
    const again = await w.generate([[1, 2]], 2, { ...opts, inFlightCheckTokens: undefined });
    assert.ok(again.versions!.flat().every(([f, l]) => f === 5 && l === 5));
  } finally {
    await w.close();
  }
});

/** A policy that samples step by step on the event loop and can be held at one step, so the test decides when weights change. */
class SteppedPolicy implements PolicyPort {
  version = 0;
  readonly loads: number[] = [];
  readonly offers: number[] = [];
  private offered: number | undefined;
  held = false;
  private release: (() => void) | undefined;
  constructor(private readonly holdAtStep: number) {}
  async generate(prompts: number[][], k: number, opts: GenerateOptions, onGroup?: GroupDone): Promise<GenerateResult> {
    const rows = prompts.length * k;
    const tokens: number[][] = Array.from({ length: rows }, () => []);
    const first: number[] = [];
    const hold = this.holdAtStep >= 0;
    for (let step = 0; step < opts.maxNewTokens; step++) {
      if (opts.inFlightCheckTokens && step % opts.inFlightCheckTokens === 0 && this.offered !== undefined) {
        this.version = this.offered;
        this.offered = undefined;
      }
      for (let r = 0; r < rows; r++) {
        if (step === 0) first[r] = this.version;
        tokens[r]!.push(1 + ((r + step) % 9));
      }
      if (hold && step === this.holdAtStep && this.loads.length === 0 && this.offers.length === 0) {
        this.held = true;
        await new Promise<void>((resolve) => (this.release = resolve));
        this.held = false;
      }
      await new Promise((r) => setImmediate(r));
    }
    const group = <T>(xs: T[], p: number): T[] => xs.slice(p * k, (p + 1) * k);
    const versions = first.map((f): [number, number] => [f, this.version]);
    const result: GenerateResult = {
      tokens: prompts.map((_, p) => group(tokens, p)),
      finished: prompts.map(() => Array.from({ length: k }, () => false)),
      versions: prompts.map((_, p) => group(versions, p)),
    };
    prompts.forEach((_, p) => onGroup?.(p, result.tokens[p]!, result.finished[p]!, { versions: result.versions![p] }));
    return result;
  }
  resume(): void {
    this.release?.();
  }
  async loadWeights(version: number): Promise<void> {
    this.loads.push(version);
    this.version = version;
  }
  offerWeights(version: number): void {
    this.offers.push(version);
    this.offered = version;
  }
  async close(): Promise<void> {}
}

async function runOneBatchWithAPublish(inFlight: boolean): Promise<{ groups: SampleGroupMsg[]; policy: SteppedPolicy; gen: Generator; metrics: MetricsRegistry }> {
  const bus = makeBus('test');
  const cfg = config({ generator: { samplesPerPrompt: 2, promptsPerBatch: 2, maxNewTokens: 8 } }).generator;
  const policy = new SteppedPolicy(2);
  const metrics = new MetricsRegistry();
  const gen = new Generator({ bus, policy, decode, clock: systemClock, metrics }, { generatorId: 'g0', config: cfg, seed: 1, lingerMs: 0, ...(inFlight ? { inFlightCheckTokens: 2 } : {}) });
  const src = new PromptSource({ bus, clock: systemClock, metrics: new MetricsRegistry() }, { prompts: prompts(2), budget: 4, seed: 1, promptsPerSecond: 0 });
  await src.publishNext(2);
  gen.start();
  await until(() => policy.held, 5000, 'the batch held mid-sampling');
  await bus.weights.put(1, 5, new Uint8Array([1, 2, 3]));
  // The in-process watch hears of version 1 while the batch samples.
  if (inFlight) await until(() => policy.offers.length > 0, 5000, 'version 1 offered in flight');
  else await new Promise((r) => setTimeout(r, 100));
  policy.resume();
  const sub = bus.consume('samples', { durable: 'reader' })[Symbol.asyncIterator]();
  const groups: SampleGroupMsg[] = [];
  const take = async (n: number): Promise<void> => {
    while (groups.length < n) {
      const d = (await sub.next()).value!;
      groups.push(d.data);
      await d.ack();
    }
  };
  await take(2);
  // A second batch: sampled by version 1 from its start in both cases.
  await src.publishNext(2);
  await take(4);
  await sub.return?.();
  await gen.stop();
  await bus.close();
  return { groups, policy, gen, metrics };
}

test('generator: a version announced mid-batch is taken in flight; samples record first and last version; lag counts the first', async () => {
  const { groups, policy, gen, metrics } = await runOneBatchWithAPublish(true);
  assert.deepEqual(policy.offers, [1]);
  assert.deepEqual(policy.loads, [], 'the port already held version 1: no reload before the next batch');
  assert.equal(gen.policyVersion, 1);
  const [a, b, c, d] = groups;
  for (const g of [a!, b!]) {
    assert.equal(g.policyVersion, 0, 'a group is as old as its oldest sample');
    for (const s of g.samples) {
      assert.equal(s.policyVersion, 0);
      assert.equal(s.lastPolicyVersion, 1);
    }
  }
  for (const g of [c!, d!]) {
    for (const s of g.samples) {
      assert.equal(s.policyVersion, 1);
      assert.equal(s.lastPolicyVersion, undefined);
    }
  }
  assert.equal(metrics.snapshot().generator_samples_inflight_total, 4);
  assert.equal(metrics.snapshot().generator_inflight_updates_total, 1);
  // Admission measures lag by the oldest version a pair's samples were sampled under.
  const side = (v: number, last: number) => ({ sampleId: `s${v}${last}`, responseTokens: [1], text: '', score: 0, policyVersion: v, lastPolicyVersion: last });
  const pair = { chosen: side(0, 1), rejected: side(1, 1) } as unknown as PairMsg;
  assert.equal(policyLag(3, pair), 3);
});

test('generator without in-flight updates: the batch finishes on the version it started with, the next one loads the new one', async () => {
  const { groups, policy, gen } = await runOneBatchWithAPublish(false);
  assert.deepEqual(policy.offers, []);
  assert.deepEqual(policy.loads, [1]);
  assert.equal(gen.policyVersion, 1);
  assert.equal(groups.length, 4);
  for (const s of groups.slice(0, 2).flatMap((g) => g.samples)) assert.ok(s.policyVersion === 0 && s.lastPolicyVersion === undefined);
  for (const s of groups.slice(2).flatMap((g) => g.samples)) assert.ok(s.policyVersion === 1 && s.lastPolicyVersion === undefined);
});
