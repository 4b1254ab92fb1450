// The wire contract: every subject's payload type, in one place (validators live in schemas.ts).

/** Bumped when a payload changes incompatibly; consumers dead-letter other versions. */
export const SCHEMA_VERSION = 1;

export interface PromptMsg {
  type: 'prompt';
  v: 1;
  runId: string;
  promptId: string;
  /** Which pass over the prompt set produced this message (PromptSource epochs). */
  epoch: number;
  text: string;
  /** Token ids of the formatted prompt (template applied, bos included). */
  tokens: number[];
  createdAt: number;
}

export interface Sample {
  runId: string;
  sampleId: string;
  promptId: string;
  /** Policy version whose weights generated this sample; with in-flight updates, the oldest of them (the first). */
  policyVersion: number;
  /** In-flight updates: the newest version that sampled some of its tokens (absent: policyVersion sampled them all). */
  lastPolicyVersion?: number;
  generatorId: string;
  /** Wall-clock ms: when the prompt was taken and when the sample was finished. */
  startedAt: number;
  createdAt: number;
  promptTokens: number[];
  responseTokens: number[];
  text: string;
  /** True when the response ended with eos (false: cut at maxNewTokens). */
  finished: boolean;
  /**
   * Behaviour log-probs: log pi(y_t | x, y<t) of each response token under the weights that sampled it (unfiltered,
   * temperature 1), little-endian float32, 4 bytes per response token (behaviour_logprobs.ts). The learner recomputes
   * them under the named version to check weight sync. Optional so generators that cannot report them stay valid.
   */
  behaviourLogprobs?: Uint8Array;
}

/** K samples for one prompt travel together: the judge needs the whole group to pick best and worst. */
export interface SampleGroupMsg {
  type: 'samples';
  v: 1;
  runId: string;
  groupId: string;
  promptId: string;
  policyVersion: number;
  generatorId: string;
  samples: Sample[];
}

export interface PairSide {
  sampleId: string;
  responseTokens: number[];
  text: string;
  /** Proxy score (before the length penalty). */
  score: number;
  policyVersion: number;
  /** The sample's lastPolicyVersion, passed through by the judge. */
  lastPolicyVersion?: number;
  /** The sample's behaviourLogprobs, passed through by the judge (without them the learner cannot check this side). */
  behaviourLogprobs?: Uint8Array;
}

export interface PairMsg {
  type: 'pair';
  v: 1;
  runId: string;
  pairId: string;
  promptId: string;
  groupId: string;
  promptTokens: number[];
  chosen: PairSide;
  rejected: PairSide;
  judgeId: string;
  /** Version (or content hash) of the proxy model that scored the pair. */
  judgeModel: string;
  /** Score gap after the length penalty, the quantity that ranked the pair. */
  margin: number;
  createdAt: number;
}

/** A policy version announced by the learner; the bytes live in the weight store. */
export interface WeightsMsg {
  type: 'weights';
  v: 1;
  runId: string;
  version: number;
  step: number;
  sha256: string;
  size: number;
  createdAt: number;
  /** Set when the learner also wrote the weights to a local file (same-host fast path). */
  file?: string;
}

export interface MetricsMsg {
  type: 'metrics';
  v: 1;
  runId: string;
  actorId: string;
  role: string;
  ts: number;
  /** Gauges and counters, named actor_noun_unit. */
  values: Record<string, number>;
  /** Free-form state for the dashboard's actor table (e.g. 'running', 'draining'). */
  state?: string;
}

export interface DeadLetterMsg {
  type: 'dead_letter';
  v: 1;
  runId: string;
  /** Topic the message was published on. */
  topic: TopicName;
  reason: string;
  deliveries: number;
  /** The original encoded payload, untouched. */
  payload: Uint8Array;
  ts: number;
}

export interface Topics {
  prompts: PromptMsg;
  samples: SampleGroupMsg;
  pairs: PairMsg;
  weights: WeightsMsg;
  metrics: MetricsMsg;
  dead: DeadLetterMsg;
}
export type TopicName = keyof Topics;
export const TOPIC_NAMES: readonly TopicName[] = ['prompts', 'samples', 'pairs', 'weights', 'metrics', 'dead'];
