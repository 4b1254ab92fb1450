// The dashboard's weight-sync table: per policy version, how far generators' behaviour log-probs were from the learner's.
import { parseVersionName } from './metric_names.js';

export interface WeightSyncRow {
  version: number;
  /** Mean absolute per-token log-prob difference (nats) over the samples the learner checked for this version. */
  logprobDiff: number | null;
  /** Implied sequence ratio pi / mu of the checked sample furthest from 1. */
  seqRatio: number | null;
}

/** The per-version gauges every learner reported, kept beyond the learner's own keep window (newest `keep` versions). */
export class WeightSyncTable {
  private readonly rows = new Map<number, WeightSyncRow>();
  constructor(private readonly keep = 1000) {}

  /** Takes one learner metrics message's values. */
  observe(values: Record<string, number>): void {
    for (const [name, value] of Object.entries(values)) {
      const p = parseVersionName(name);
      if (!p || (p.base !== 'learner_sync_logprob_diff' && p.base !== 'learner_sync_seq_ratio')) continue;
      let row = this.rows.get(p.version);
      if (!row) this.rows.set(p.version, (row = { version: p.version, logprobDiff: null, seqRatio: null }));
      if (p.base === 'learner_sync_logprob_diff') row.logprobDiff = value;
      else row.seqRatio = value;
    }
    if (this.rows.size > this.keep) {
      const old = [...this.rows.keys()].sort((a, b) => a - b).slice(0, this.rows.size - this.keep);
      for (const v of old) this.rows.delete(v);
    }
  }

  /** Newest version first. */
  view(): WeightSyncRow[] {
    return [...this.rows.values()].sort((a, b) => b.version - a.version);
  }
}
