// A synthetic run for monitor tests: fake generator, judge and learner actors publishing MetricsMsg on a bus.
import type { Bus } from '../../src/streams/bus.js';
import type { MetricsMsg } from '../../src/streams/topics.js';

export interface SyntheticRun {
  /** Publishes one round of metrics from every actor (what a periodic reporter does). */
  round(): Promise<void>;
  /** Starts publishing a round every `ms`. */
  start(ms: number): void;
  stop(): Promise<void>;
  rounds(): number;
}

export function syntheticRun(bus: Bus, opts: { now?: () => number } = {}): SyntheticRun {
  const now = opts.now ?? Date.now;
  let r = 0;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const m = (actorId: string, role: string, values: Record<string, number>, state = 'running'): MetricsMsg => ({
    type: 'metrics',
    v: 1,
    runId: bus.runId,
    actorId,
    role,
    ts: now(),
    values,
    state,
  });
  const round = async (): Promise<void> => {
    r++;
    const version = Math.floor(r / 3);
    const lagObs = 4 * r;
    await bus.publish('metrics', m('gen-0', 'generator', { generator_samples_total: 16 * r, generator_tokens_total: 128 * r, generator_policy_version: version }));
    await bus.publish('metrics', m('gen-1', 'generator', { generator_samples_total: 8 * r, generator_tokens_total: 64 * r, generator_policy_version: version }));
    await bus.publish('metrics', m('judge-0', 'judge', { judge_pairs_total: 6 * r, judge_score_mean: 0.1 + 0.01 * r }));
    await bus.publish(
      'metrics',
      m('learner-0', 'learner', {
        learner_steps_total: r,
        learner_loss: 0.69 / (1 + 0.05 * r),
        learner_reward_margin: 0.02 * r,
        learner_reward_accuracy: Math.min(1, 0.5 + 0.02 * r),
        learner_policy_version: version,
        learner_policy_lag_count: lagObs,
        learner_policy_lag_sum: 1.5 * lagObs,
        learner_policy_lag_max: 3,
        learner_policy_lag_bucket_le_0: r,
        learner_policy_lag_bucket_le_1: 2 * r,
        learner_policy_lag_bucket_le_2: 3 * r,
        learner_policy_lag_bucket_le_4: 4 * r,
        learner_publish_seconds_count: version,
        learner_publish_seconds_sum: 0.02 * version,
        learner_publish_seconds_bucket_le_0_025: version,
        // The weight-sync check's per-version gauges: in sync (float rounding) for the current version.
        [`learner_sync_logprob_diff_version_${version}`]: 1e-7,
        [`learner_sync_seq_ratio_version_${version}`]: 1.000001,
      }),
    );
    await bus.publish('metrics', m('eval-0', 'evaluator', { evaluator_gold_reward: 0.05 * Math.log1p(r), evaluator_proxy_reward: 0.08 * Math.log1p(r), evaluator_kl_nats: 0.01 * r }));
  };
  return {
    round,
    start(ms) {
      timer = setInterval(() => {
        inFlight = inFlight.then(round);
      }, ms);
    },
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
    rounds: () => r,
  };
}
