// The dashboard's figures on people in the loop (judge.human): share of pairs they labelled, agreement with the scorer, groups waiting.

export interface PeopleView {
  /** Pairs made of people's labels over all pairs; null before any pair. */
  share: number | null;
  /** Labels where the scorer ranked the two responses the person's way, over those it could rank; null before any. */
  agreement: number | null;
  /** Groups waiting for a person now, over every judge. */
  waiting: number;
  labels: number;
  fallbacks: number;
}

/** From the judges' counters (run totals) and their latest waiting gauges. */
export function peopleView(total: (name: string) => number, sumLatest: (name: string) => number): PeopleView {
  const pairs = total('judge_pairs_total');
  const compared = total('judge_human_compared_total');
  return {
    share: pairs > 0 ? total('judge_human_pairs_total') / pairs : null,
    agreement: compared > 0 ? total('judge_human_agreed_total') / compared : null,
    waiting: sumLatest('judge_human_waiting_groups'),
    labels: total('judge_human_labels_total'),
    fallbacks: total('judge_human_fallback_total'),
  };
}
