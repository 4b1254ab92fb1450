// The pairwise tournament that ranks K responses with a linear number of comparisons (the recipe's pairwise model, n > 2).

/**
 * A knockout bracket finds the best response in K - 1 matches; a second knockout among the first-round losers, where the
 * loser advances, finds the worst in about K/2 - 1 more. Every match is one comparison asked in both orders (the caller
 * averages them), so a group of K costs about 3K model calls: linear in K, against K(K-1) for a round robin.
 *
 * Scores: +1 per upper-bracket win, -1 per lower-bracket loss (a bye counts as either), a tied match half to each side. The champion is
 * the unique maximum and the last loser of the lower bracket the unique minimum unless a deciding match was a tie,
 * in which case the two share the score and the pairing rules see the tie.
 */

/** P(a better than b) at or within this distance of 1/2 is a tie. */
export const TIE_BAND = 1e-9;

export interface Match {
  a: number;
  b: number;
}

type Bracket = 'upper' | 'lower';

/** One group's tournament, driven round by round so a caller can batch the matches of many groups into one call. */
export class Tournament {
  readonly scores: number[];
  comparisons = 0;
  private upper: number[];
  private lower: number[] = [];
  private firstRound = true;
  private pendingMatches: { bracket: Bracket; m: Match }[] = [];

  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`a tournament needs at least one response; got ${k}`);
    this.scores = new Array<number>(k).fill(0);
    this.upper = Array.from({ length: k }, (_, i) => i);
    this.schedule();
  }

  /** Matches of the current round; empty when the tournament is over. */
  get pending(): readonly Match[] {
    return this.pendingMatches.map((p) => p.m);
  }

  get done(): boolean {
    return this.pendingMatches.length === 0;
  }

  /** Records the current round's outcomes, `pAB[i]` = P(a beats b) for pending()[i], and schedules the next round. */
  record(pAB: readonly number[]): void {
    if (pAB.length !== this.pendingMatches.length) throw new RangeError(`expected ${this.pendingMatches.length} outcomes; got ${pAB.length}`);
    const nextUpper: number[] = [];
    const nextLower: number[] = [];
    const firstLosers: number[] = [];
    this.pendingMatches.forEach(({ bracket, m }, i) => {
      const p = pAB[i]!;
      if (!(p >= 0 && p <= 1)) throw new RangeError(`a comparison must be a probability in [0, 1]; got ${p}`);
      this.comparisons++;
      const tie = Math.abs(p - 0.5) <= TIE_BAND;
      // On a tie the earlier response goes on, so the result does not depend on arrival order.
      const aWins = tie ? m.a < m.b : p > 0.5;
      const [winner, loser] = aWins ? [m.a, m.b] : [m.b, m.a];
      if (bracket === 'upper') {
        this.scores[winner]! += tie ? 0.5 : 1;
        if (tie) this.scores[loser]! += 0.5;
        nextUpper.push(winner);
        if (this.firstRound) firstLosers.push(loser);
      } else {
        this.scores[loser]! -= tie ? 0.5 : 1;
        if (tie) this.scores[winner]! -= 0.5;
        nextLower.push(loser);
      }
    });
    // Byes (odd counts) go on unplayed.
    this.upper = [...nextUpper, ...this.upper];
    this.lower = [...nextLower, ...firstLosers, ...this.lower];
    this.firstRound = false;
    this.schedule();
  }

  private schedule(): void {
    this.pendingMatches = [];
    const pairUp = (ids: number[], bracket: Bracket): number[] => {
      const sorted = [...ids].sort((x, y) => x - y);
      for (let i = 0; i + 1 < sorted.length; i += 2) this.pendingMatches.push({ bracket, m: { a: sorted[i]!, b: sorted[i + 1]! } });
      if (sorted.length % 2 === 0) return [];
      // A bye goes a round deeper like a match's winner (upper) or loser (lower), so depth stays what the score says.
      const bye = sorted.at(-1)!;
      this.scores[bye]! += bracket === 'upper' ? 1 : -1;
      return [bye];
    };
    this.upper = this.upper.length > 1 ? pairUp(this.upper, 'upper') : this.upper;
    this.lower = this.lower.length > 1 ? pairUp(this.lower, 'lower') : this.lower;
  }
}

/**
 * Runs one tournament per group, all groups' matches of a round in one `compare` call (where a batched model gets its
 * throughput). `compare` returns P(a beats b) per match. Returns the scores and the comparisons each group took.
 */
export async function runTournaments(
  ks: readonly number[],
  compare: (matches: { group: number; a: number; b: number }[]) => Promise<number[]>,
): Promise<{ scores: number[][]; comparisons: number[] }> {
  const ts = ks.map((k) => new Tournament(k));
  for (;;) {
    const batch = ts.flatMap((t, group) => t.pending.map((m) => ({ group, a: m.a, b: m.b })));
    if (batch.length === 0) break;
    const p = await compare(batch);
    if (p.length !== batch.length) throw new RangeError(`compare returned ${p.length} outcomes for ${batch.length} matches`);
    let at = 0;
    for (const t of ts) {
      const n = t.pending.length;
      if (n > 0) t.record(p.slice(at, at + n));
      at += n;
    }
  }
  return { scores: ts.map((t) => t.scores), comparisons: ts.map((t) => t.comparisons) };
}

/** P(a beats b) from both orders: (P(a over b) + 1 - P(b over a)) / 2, which cancels a preference for a position. */
export function bothOrders(pAB: number, pBA: number): number {
  return (pAB + 1 - pBA) / 2;
}
