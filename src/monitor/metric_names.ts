// The actor metric names the monitor reads, and how flat MetricsMsg values encode counters and histograms.

/**
 * Candidate names per derived quantity, first match wins. Several names are accepted where two actors can
 * report the same thing (a learner's weight-sync time and a generator's weight-load time both count as sync).
 */
export const WELL_KNOWN = {
  samples: ['generator_samples_total'],
  tokens: ['generator_tokens_total'],
  pairs: ['judge_pairs_total'],
  steps: ['learner_steps_total'],
  policyVersion: ['learner_policy_version', 'generator_policy_version'],
  /** Histogram of how many versions old a pair's samples were when the learner took it. */
  policyLag: ['learner_policy_lag'],
  /** Weight sync is two halves: the learner storing and announcing a version, a generator fetching and loading it. */
  weightPublishSeconds: ['learner_publish_seconds'],
  weightLoadSeconds: ['generator_weight_load_seconds'],
  loss: ['learner_loss'],
  margin: ['learner_reward_margin'],
  accuracy: ['learner_reward_accuracy'],
  /** Proxy-model reward of the current policy on held-out prompts (the evaluator), next to the gold reward. */
  proxyReward: ['evaluator_proxy_reward'],
  /** Mean proxy score of what the judge is scoring right now (online, every batch). */
  judgeScore: ['judge_score_mean'],
  goldReward: ['evaluator_gold_reward'],
  /** KL(pi || ref) from the evaluator's own samples (the learner's pair-based learner_pair_kl_nats is biased; it is not used here). */
  kl: ['evaluator_kl_nats', 'evaluator_kl'],
  winRate: ['evaluator_win_rate'],
} as const satisfies Record<string, readonly string[]>;

/** States an actor reports when it has ended on purpose: such an actor is 'stopped', never 'dead'. */
export const TERMINAL_STATES: ReadonlySet<string> = new Set(['stopped', 'done', 'finished', 'exited', 'closed']);

const BUCKET = /^(.+)_bucket_le_([0-9][0-9_]*|inf)$/;

/** `learner_policy_lag_bucket_le_2_5` -> { base: 'learner_policy_lag', le: 2.5 }; undefined for other names. */
export function parseBucketName(name: string): { base: string; le: number } | undefined {
  const m = BUCKET.exec(name);
  if (!m) return undefined;
  // The reporter writes the bound with its decimal point as '_' (metric names allow no dots).
  const le = m[2] === 'inf' ? Number.POSITIVE_INFINITY : Number(m[2]!.replace('_', '.'));
  return Number.isFinite(le) || m[2] === 'inf' ? { base: m[1]!, le } : undefined;
}

const PER_VERSION = /^(.+)_version_([0-9]+)$/;

/** `learner_sync_logprob_diff_version_3` -> { base: 'learner_sync_logprob_diff', version: 3 }: a gauge per policy version. */
export function parseVersionName(name: string): { base: string; version: number } | undefined {
  const m = PER_VERSION.exec(name);
  if (!m) return undefined;
  const version = Number(m[2]);
  return Number.isSafeInteger(version) ? { base: m[1]!, version } : undefined;
}

/** Names of every histogram encoded in one flat value map. */
export function histogramBases(values: Record<string, number>): Set<string> {
  const out = new Set<string>();
  for (const k of Object.keys(values)) {
    const b = parseBucketName(k);
    if (b) out.add(b.base);
  }
  return out;
}

/** Counters only go up between restarts: `_total` names, and a histogram's `_count` and `_sum`. */
export function isCounterName(name: string, bases: Set<string>): boolean {
  if (name.endsWith('_total')) return true;
  for (const suffix of ['_count', '_sum']) {
    if (name.endsWith(suffix) && bases.has(name.slice(0, -suffix.length))) return true;
  }
  return false;
}

/** The metric name prefix each role reports under (`actor_noun_unit`): a role reports no other role's names. */
export const ROLE_METRIC_PREFIX: Readonly<Record<string, string>> = {
  generator: 'generator_',
  judge: 'judge_',
  learner: 'learner_',
  prompt_source: 'source_',
  evaluator: 'evaluator_',
  monitor: 'monitor_',
};

/** The role an actor id names by its form (`generator-0`, `learner`, ...), or undefined for another id (a foreign client's). */
export function roleOfActorId(actorId: string): string | undefined {
  const m = /^(generator|judge|learner|source|evaluator|monitor)(-[0-9]+)?$/.exec(actorId);
  if (!m) return undefined;
  return m[1] === 'source' ? 'prompt_source' : m[1];
}

/** The range a value may take, by the name's unit: counts and times are never negative, ratios lie in [0, 1]. */
function boundsOf(name: string, bases: Set<string>): [number, number] | undefined {
  if (parseBucketName(name) || isCounterName(name, bases)) return [0, 1e12];
  if (name.endsWith('_seconds')) return [0, 1e9];
  if (name.endsWith('_ratio') || name.endsWith('_accuracy') || name.endsWith('_win_rate')) return [0, 1];
  if (name.endsWith('_version')) return [0, 1e9];
  return undefined;
}

/**
 * Why the monitor refuses a metrics message, or undefined: its role must be a known one and the one its actor id
 * names, every value must carry that role's prefix, and each value must lie in its unit's range. A process can then
 * speak only for itself, and no count reaches the run record that no actor could have made.
 */
export function metricsProblem(msg: { actorId: string; role: string; values: Record<string, number> }): string | undefined {
  const prefix = ROLE_METRIC_PREFIX[msg.role];
  if (prefix === undefined) return `role ${JSON.stringify(msg.role)} is not one of ${Object.keys(ROLE_METRIC_PREFIX).join(', ')}`;
  const idRole = roleOfActorId(msg.actorId);
  if (idRole !== undefined && idRole !== msg.role) return `actor ${msg.actorId} reports as role ${msg.role}; its id makes it a ${idRole}`;
  const bases = histogramBases(msg.values);
  for (const [name, v] of Object.entries(msg.values)) {
    if (!name.startsWith(prefix)) return `value ${name} is not a ${msg.role} metric (names start with ${prefix})`;
    const b = boundsOf(name, bases);
    if (b && (v < b[0] || v > b[1])) return `value ${name} = ${v} is outside [${b[0]}, ${b[1]}]`;
  }
  return undefined;
}
