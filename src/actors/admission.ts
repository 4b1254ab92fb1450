// What the learner does with an arriving pair, decided without a bus: train on it, or skip it as a duplicate, stale or invalid.
import type { PairMsg } from '../streams/topics.js';

/** Staleness: how many versions the older of the pair's two samples is behind the learner. */
export function policyLag(version: number, pair: PairMsg): number {
  return version - Math.min(pair.chosen.policyVersion, pair.rejected.policyVersion);
}

/**
 * The loss weight of a pair with lag `lag`: 1 up to maxLag; beyond it 'drop' gives 0 and 'downweight' halves the
 * weight per extra version, 0.5^(lag - maxLag) (stale pairs still count, less and less, instead of being wasted).
 */
export function stalenessWeight(lag: number, maxLag: number, policy: 'drop' | 'downweight'): number {
  if (lag <= maxLag) return 1;
  return policy === 'drop' ? 0 : 0.5 ** (lag - maxLag);
}

/** What admission reads of the learner. */
export interface AdmissionState {
  runId: string;
  /** The learner's policy version now; for a pair redelivered after a restart, the version the learner restored. */
  version: number;
  maxPolicyLag: number;
  stalePairs: 'drop' | 'downweight';
  /** Pair ids a checkpoint already covers (trained and acked). */
  covered: Pick<ReadonlySet<string>, 'has'>;
  /** Pair ids held unacked: waiting for a step, or trained and waiting for a checkpoint. */
  held: Pick<ReadonlySet<string>, 'has'>;
}

export type Admission =
  /** Not a pair this run can train on; it goes to the dead letters with the reason. */
  | { kind: 'invalid'; reason: string }
  /** Seen before: 'checkpointed' is acked at once, 'held' joins its first delivery and is acked with it. */
  | { kind: 'duplicate'; of: 'checkpointed' | 'held' }
  /** Older than maxPolicyLag under stalePairs 'drop': acked and counted (a normal outcome, not a poison message). */
  | { kind: 'stale'; lag: number }
  /** To train on with this loss weight (below 1: down-weighted for staleness). */
  | { kind: 'train'; lag: number; weight: number };

export function admitPair(s: AdmissionState, p: PairMsg): Admission {
  if (p.runId !== s.runId) return { kind: 'invalid', reason: `pair from run ${JSON.stringify(p.runId)}; this run is ${JSON.stringify(s.runId)}` };
  if (p.chosen.sampleId === p.rejected.sampleId) return { kind: 'invalid', reason: `pair ${p.pairId} has the same sample ${p.chosen.sampleId} on both sides` };
  if (s.covered.has(p.pairId)) return { kind: 'duplicate', of: 'checkpointed' };
  if (s.held.has(p.pairId)) return { kind: 'duplicate', of: 'held' };
  // Never below 0: a redelivered pair may come from a version the restored learner has not reached again.
  const lag = Math.max(0, policyLag(s.version, p));
  const weight = stalenessWeight(lag, s.maxPolicyLag, s.stalePairs);
  return weight === 0 ? { kind: 'stale', lag } : { kind: 'train', lag, weight };
}
