// Port factories: the actors' compute (policy, judge scorer, DPO learner, gold judge) built from the cached checkpoints.
// Each actor process builds only its role's ports; the one-process cluster builds them all and shares what it can.
import { workerBackendNote } from '../kernels/backend.js';
import { DpoLearner } from '../actors/compute/learner_compute.js';
import { ComputeError, encodeWeights, LocalPolicy, type SpecialTokens } from '../actors/compute/local_policy.js';
import { BtScorer, PairwiseScorer, tokenizerCodec } from '../actors/compute/scorer.js';
import { WorkerPolicy } from '../actors/compute/worker_policy.js';
import type { GoldScorer } from '../actors/evaluator.js';
import type { LearnerPort, PolicyPort, ScorerPort } from '../actors/ports.js';
import type { Config } from '../config/index.js';
import { createGoldJudge } from '../gold/index.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import { disposeModel, type GptConfig, type GptModel } from '../kernels/gpt.js';
import { attachLora, initLora, resolveLoraSpec } from '../kernels/lora.js';
import { deriveSeed } from '../kernels/rng.js';
import { readPeftAdapter } from '../models/peft_adapter.js';
import { readManifest } from '../train/manifest.js';
import { loadModel } from '../train/model_io.js';
import { createScorerPort, isTextScorer, scorerSeed } from '../scorers/registry.js';
import { loadTokenizer, type ModelDirs } from './artifacts.js';
import type { ClusterPorts } from './local_cluster.js';
import { workerGold, workerLearner, workerScorer } from './worker_ports.js';

/** A port and the release of everything built for it (models, worker threads), which the port's own close() may not free. */
export interface Owned<T> {
  port: T;
  close(): Promise<void>;
}

export async function closeAll(owned: readonly Owned<unknown>[]): Promise<void> {
  for (const x of [...owned].reverse()) await x.close();
}

const specialOf = (tok: TextTokenizer): SpecialTokens => ({ eos: tok.special.eos, pad: tok.special.pad });

/** The SFT policy with its tokenizer; a checkpoint of another kind is refused (and freed). */
export async function loadPolicy(a: Pick<ModelDirs, 'sftDir'>): Promise<{ model: GptModel; tokenizer: TextTokenizer }> {
  const { model, tokenizer, config } = await loadModel(a.sftDir);
  if (config.kind !== 'policy' || !tokenizer) {
    disposeModel(model);
    throw new ComputeError(`${a.sftDir} must hold a policy checkpoint with its tokenizer; got kind ${config.kind}`);
  }
  return { model, tokenizer };
}

/** SFT weights serialized once, from which any number of worker-thread policies start. */
export interface PolicyWeights {
  gpt: GptConfig;
  weights: Uint8Array;
  special: SpecialTokens;
}

/** A sampling policy in its own worker thread, so a long batch never blocks the process's I/O. */
export async function workerPolicyFrom(cfg: Config, w: PolicyWeights, log: (line: string) => void, label: string): Promise<Owned<WorkerPolicy>> {
  const port = await WorkerPolicy.create({ gpt: w.gpt, weights: w.weights, special: w.special, backend: cfg.compute.backend, native: cfg.compute.nativeKernels });
  log(`${label}: ${workerBackendNote(port.backendLine) ?? 'started, same backend'}`);
  return { port, close: () => port.close() };
}

/**
 * The SFT policy's weights, read and serialized; the model itself is freed at once. The bytes are in shared memory, so
 * every policy thread of the process (generators, evaluator, reference, sync check) starts from this one copy.
 */
export async function policyWeights(a: Pick<ModelDirs, 'sftDir'>): Promise<PolicyWeights & { tokenizer: TextTokenizer }> {
  const { model, tokenizer } = await loadPolicy(a);
  try {
    return { gpt: model.cfg, weights: encodeWeights(model, { shared: true }), special: specialOf(tokenizer), tokenizer };
  } finally {
    disposeModel(model);
  }
}

/** A worker-thread policy holding the SFT weights, with the tokenizer's decode. */
export async function workerPolicy(
  cfg: Config,
  a: Pick<ModelDirs, 'sftDir'>,
  log: (line: string) => void = (l) => console.error(l),
): Promise<Owned<PolicyPort> & { decode: (ids: number[]) => string }> {
  const w = await policyWeights(a);
  const owned = await workerPolicyFrom(cfg, w, log, 'policy worker thread');
  return { ...owned, decode: (ids) => w.tokenizer.decode(ids) };
}

/** The SFT policy on this thread: the evaluator's fixed reference, or any policy when worker threads are off. */
export async function localPolicy(a: Pick<ModelDirs, 'sftDir'>): Promise<Owned<PolicyPort>> {
  const { model, tokenizer } = await loadPolicy(a);
  const port = new LocalPolicy(model, specialOf(tokenizer));
  return { port, close: async () => disposeModel(model) };
}

/** The proxy preference model; `scorer()` makes a ScorerPort over it (its id carries the checkpoint hash, stamped on every pair). */
export async function proxyModel(a: ModelDirs): Promise<{ scorer(): ScorerPort; close(): Promise<void> }> {
  const rm = await loadModel(a.rmDir);
  if (rm.config.kind !== 'bt' && rm.config.kind !== 'pairwise') {
    disposeModel(rm.model);
    throw new ComputeError(`${a.rmDir} must hold a bt or pairwise model; got ${rm.config.kind}`);
  }
  const kind = rm.config.kind;
  const special = loadTokenizer(a).special;
  const id = `${kind}@${(readManifest(a.rmDir)?.hash ?? 'unversioned').slice(0, 12)}`;
  return {
    scorer: () => (kind === 'bt' ? new BtScorer(rm.model, special, id) : new PairwiseScorer(rm.model, special, id)),
    close: async () => disposeModel(rm.model),
  };
}

/** The proxy preference model as one ScorerPort. */
export async function scorerPort(a: ModelDirs): Promise<Owned<ScorerPort>> {
  const rm = await proxyModel(a);
  return { port: rm.scorer(), close: rm.close };
}

/**
 * A judge's scorer as judge.scorer names it: the proxy model (loaded only then), or a scorer the user brings, reading
 * text decoded with the run's tokenizer. `env` is where judge.apiKeyEnv is looked up.
 */
export async function judgeScorerPort(cfg: Config, a: ModelDirs, judgeId: string, env: Record<string, string | undefined> = process.env): Promise<Owned<ScorerPort>> {
  if (!isTextScorer(cfg.judge.scorer)) return scorerPort(a);
  const tok = loadTokenizer(a);
  const port = await createScorerPort(cfg, {
    proxy: () => {
      throw new ComputeError(`judge.scorer ${cfg.judge.scorer} has no proxy model`);
    },
    codec: tokenizerCodec((ids) => tok.decode(ids), tok.special),
    seed: scorerSeed(cfg.compute.seed, judgeId),
    env,
  });
  return { port, close: () => port.close() };
}

/**
 * A LoRA adapter on the policy as learner.lora asks: a fresh one (B = 0, A from the run's seed), or the PEFT folder
 * learner.lora.from names.
 */
export async function attachConfiguredAdapter(cfg: Config, model: GptModel): Promise<void> {
  if (cfg.learner.lora.from !== '') {
    const { spec, weights } = await readPeftAdapter(cfg.learner.lora.from, model.cfg);
    attachLora(model, { ...spec, dropout: cfg.learner.lora.dropout }, weights);
    return;
  }
  initLora(model, resolveLoraSpec(model.cfg, cfg.learner.lora), deriveSeed(cfg.compute.seed, 'lora'));
}

/** The trainable policy with its frozen SFT reference and optimizer; with learner.adapter lora, one model whose base is the reference. */
export async function learnerPort(cfg: Config, a: Pick<ModelDirs, 'sftDir'>): Promise<Owned<LearnerPort>> {
  const policy = await loadPolicy(a);
  const lora = cfg.learner.adapter === 'lora';
  try {
    if (lora) await attachConfiguredAdapter(cfg, policy.model);
  } catch (err) {
    disposeModel(policy.model);
    throw err;
  }
  const reference = lora ? undefined : await loadPolicy(a);
  const port = new DpoLearner({
    policy: policy.model,
    ...(reference ? { reference: reference.model } : {}),
    config: cfg.learner,
    padId: policy.tokenizer.special.pad,
    seed: deriveSeed(cfg.compute.seed, 'learner'),
    weightDecay: cfg.learner.weightDecay,
  });
  return {
    port,
    close: async () => {
      await port.close();
      disposeModel(policy.model);
      if (reference) disposeModel(reference.model);
    },
  };
}

/** The task's gold judge, batched, for the evaluator: in its own worker thread with compute.roleThreads, else here. */
export async function goldScorer(cfg: Config, log: (line: string) => void = () => undefined): Promise<Owned<GoldScorer>> {
  if (cfg.compute.roleThreads) return workerGold(cfg, log);
  const judge = await createGoldJudge(cfg.data.task, { cacheDir: cfg.run.cacheDir });
  const score: GoldScorer = async (items) => (await judge.scoreBatch(items.map((x) => ({ prompt: x.prompt.text, response: x.text })))).map((g) => g.score);
  return { port: score, close: () => judge.close() };
}

export interface ClusterPortsOptions {
  /** Generators and the evaluator sample in worker threads (default) or on the main thread. */
  policyThreads?: boolean;
  /** Where each worker thread's backend line goes. */
  log?: (line: string) => void;
  /** Where judge.apiKeyEnv is looked up (default: the process environment). */
  env?: Record<string, string | undefined>;
}

/** Every port of the one-process cluster: the SFT weights are read once for all worker policies, one proxy model serves every judge. */
export async function clusterPorts(cfg: Config, a: ModelDirs, o: ClusterPortsOptions = {}): Promise<{ ports: ClusterPorts; tokenizer: TextTokenizer; close(): Promise<void> }> {
  const owned: Owned<unknown>[] = [];
  const own = <T>(x: Owned<T>): T => {
    owned.push(x);
    return x.port;
  };
  const log = o.log ?? (() => undefined);
  const sft = await policyWeights(a);
  const threads = cfg.compute.roleThreads;
  const learner = own(threads ? await workerLearner(cfg, a, log) : await learnerPort(cfg, a));
  // The proxy model: in its own worker thread (shared by every judge that scores with it), or on this thread.
  let proxy: () => ScorerPort;
  if (threads) {
    const shared = own(await workerScorer(cfg, a, log));
    proxy = () => shared;
  } else {
    const rm = await proxyModel(a);
    owned.push({ port: rm, close: rm.close });
    proxy = () => rm.scorer();
  }
  const gold = own(await goldScorer(cfg, log));
  const codec = tokenizerCodec((ids) => sft.tokenizer.decode(ids), sft.tokenizer.special);
  // With LoRA every version is an adapter on the base the evaluator's thread started from, so the same thread serves the
  // reference (the base, adapters off) and the weight-sync check (its own adapter version): one base in memory where
  // there were three. They are light users of a thread that waits between evaluations.
  const shareBase = threads && o.policyThreads !== false && cfg.learner.adapter === 'lora';
  const evaluatorThreads = new Map<number, Promise<WorkerPolicy>>();
  const evaluatorThread = (index: number): Promise<WorkerPolicy> => {
    let t = evaluatorThreads.get(index);
    if (!t) {
      t = workerPolicyFrom(cfg, sft, log, `evaluator ${index} worker thread${shareBase ? ' (the reference and the sync check are views on its base)' : ''}`).then(own);
      evaluatorThreads.set(index, t);
    }
    return t;
  };
  const ports: ClusterPorts = {
    policy: async (role, index) => {
      if (o.policyThreads === false || (role === 'reference' && !threads)) return own(await localPolicy(a));
      if (shareBase && role === 'evaluator') return evaluatorThread(index);
      if (shareBase && role === 'reference') return (await evaluatorThread(index)).view('reference', 'reference');
      if (shareBase && role === 'sync') return (await evaluatorThread(0)).view('sync', 'adapters');
      return own(await workerPolicyFrom(cfg, sft, log, `${role} ${index} worker thread`));
    },
    // Judges score with judge.scorer; the evaluator (index judge.count) reports the trained proxy model's reward.
    scorer: async (index) => {
      if (index >= cfg.judge.count) return proxy();
      const port = await createScorerPort(cfg, { proxy, codec, seed: scorerSeed(cfg.compute.seed, `judge-${index}`), env: o.env ?? process.env });
      owned.push({ port, close: () => port.close() });
      return port;
    },
    learner,
    decode: (ids) => sft.tokenizer.decode(ids),
    gold,
  };
  return { ports, tokenizer: sft.tokenizer, close: () => closeAll(owned) };
}
