// Builds the cluster's real ports from cached artefacts: SFT policy (generators, learner, reference), proxy model, gold judge, prompts.
import type { Config } from '../../config/index.js';
import { formatPrompt } from '../../data/template.js';
import { createGoldJudge } from '../../data/gold_judge.js';
import type { Prompt } from '../../data/prompts.js';
import type { TextTokenizer } from '../../data/text_tokenizer.js';
import { disposeModel, type GptModel } from '../../kernels/gpt.js';
import { deriveSeed } from '../../kernels/rng.js';
import { readManifest } from '../../train/manifest.js';
import { loadModel } from '../../train/model_io.js';
import type { ClusterPorts } from '../cluster.js';
import type { PolicyPort, ScorerPort } from '../ports.js';
import type { PromptItem } from '../prompt_source.js';
import { DpoLearner } from './learner_compute.js';
import { ComputeError, encodeWeights, LocalPolicy } from './local_policy.js';
import { BtScorer, PairwiseScorer } from './scorer.js';
import { WorkerPolicy } from './worker_policy.js';

export interface ArtifactPortsOptions {
  /** SFT checkpoint folder (the policy, its tokenizer). */
  sftDir: string;
  /** Proxy model checkpoint folder; its config.json says bt or pairwise. */
  rmDir: string;
  /** RLHF prompts (the data build's train and eval splits). */
  prompts: { train: readonly Prompt[]; eval: readonly Prompt[] };
  /** Generators and the evaluator sample in worker threads (default) or on the main thread. */
  policyThreads?: boolean;
  /** Where each worker thread's backend line goes. */
  log?: (line: string) => void;
}

export interface ArtifactPorts {
  ports: ClusterPorts;
  tokenizer: TextTokenizer;
  prompts: PromptItem[];
  evalPrompts: PromptItem[];
  /** Closes workers, the gold judge and frees every model. */
  close(): Promise<void>;
}

export function promptItems(tok: TextTokenizer, prompts: readonly Prompt[]): PromptItem[] {
  return prompts.map((p) => ({ promptId: p.id, text: p.text, tokens: formatPrompt(tok, p.text) }));
}

export async function artifactPorts(cfg: Config, o: ArtifactPortsOptions): Promise<ArtifactPorts> {
  const models: GptModel[] = [];
  const closers: (() => Promise<void>)[] = [];
  const sft = async (): Promise<{ model: GptModel; tokenizer: TextTokenizer }> => {
    const { model, tokenizer, config } = await loadModel(o.sftDir);
    if (config.kind !== 'policy' || !tokenizer) throw new ComputeError(`${o.sftDir} must hold a policy checkpoint with its tokenizer; got kind ${config.kind}`);
    models.push(model);
    return { model, tokenizer };
  };
  const policy = await sft();
  const reference = await sft();
  const tok = policy.tokenizer;
  const special = { eos: tok.special.eos, pad: tok.special.pad };
  const sftBytes = encodeWeights(policy.model);
  const rm = await loadModel(o.rmDir);
  models.push(rm.model);
  if (rm.config.kind !== 'bt' && rm.config.kind !== 'pairwise') throw new ComputeError(`${o.rmDir} must hold a bt or pairwise model; got ${rm.config.kind}`);
  const rmId = `${rm.config.kind}@${(readManifest(o.rmDir)?.hash ?? 'unversioned').slice(0, 12)}`;
  const scorer = (): ScorerPort => (rm.config.kind === 'bt' ? new BtScorer(rm.model, tok.special, rmId) : new PairwiseScorer(rm.model, tok.special, rmId));
  const judge = await createGoldJudge(cfg.data.task);
  closers.push(() => judge.close());
  const learner = new DpoLearner({ policy: policy.model, reference: reference.model, config: cfg.learner, padId: tok.special.pad, seed: deriveSeed(cfg.compute.seed, 'learner'), weightDecay: cfg.sft.weightDecay });
  closers.push(() => learner.close());

  const ports: ClusterPorts = {
    policy: async (role, index): Promise<PolicyPort> => {
      if (role === 'reference' || o.policyThreads === false) {
        const { model } = await sft();
        return new LocalPolicy(model, special);
      }
      const w = await WorkerPolicy.create({ gpt: policy.model.cfg, weights: sftBytes, special, backend: cfg.compute.backend, native: cfg.compute.nativeKernels });
      closers.push(() => w.close());
      o.log?.(`${role} ${index} worker thread: ${w.backendLine}`);
      return w;
    },
    scorer,
    learner,
    decode: (ids) => tok.decode(ids),
    gold: async (items) => (await judge.scoreBatch(items.map((x) => ({ prompt: x.prompt.text, response: x.text })))).map((g) => g.score),
  };
  return {
    ports,
    tokenizer: tok,
    prompts: promptItems(tok, o.prompts.train),
    evalPrompts: promptItems(tok, o.prompts.eval),
    async close() {
      for (const c of closers.reverse()) await c();
      models.forEach(disposeModel);
    },
  };
}
