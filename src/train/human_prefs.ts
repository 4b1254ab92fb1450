// People's labels (a run's labels.jsonl) as preference pairs, so the proxy model can be refitted on them.
import type { LabelRecord } from '../streams/labels.js';
import type { PreferencePair, ScoredResponse } from './preference_data.js';

export class HumanPrefsError extends Error {
  override name = 'HumanPrefsError';
}

/**
 * One pair per labelled group (ties give none; a group labelled twice keeps its last answer). Late labels count: a
 * person's answer is as good after the scorer's fallback as before.
 */
export function humanPreferencePairs(records: readonly LabelRecord[]): PreferencePair[] {
  const byGroup = new Map<string, LabelRecord>();
  for (const r of records) {
    if (!r.a || !r.b || !Array.isArray(r.promptTokens)) {
      throw new HumanPrefsError(`label of group ${JSON.stringify(r.groupId)} has no prompt or response tokens (written by an older version); it cannot train a proxy`);
    }
    byGroup.set(r.groupId, r);
  }
  const out: PreferencePair[] = [];
  for (const r of byGroup.values()) {
    if (r.choice === 'tie') continue;
    const [c, w] = r.choice === 'a' ? [r.a, r.b] : [r.b, r.a];
    // A person's label has no gold score; training reads only the order.
    const side = (x: typeof c): ScoredResponse => ({ text: x.text, tokens: x.tokens, gold: Number.NaN, finished: x.finished });
    out.push({ promptId: r.promptId, prompt: r.prompt, promptTokens: r.promptTokens, chosen: side(c), rejected: side(w), agreesWithGold: true });
  }
  return out;
}
