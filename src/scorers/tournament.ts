// The pairwise tournament that ranks K responses with a linear number of comparisons (the recipe's pairwise model, n > 2).

/**
 * A knockout bracket finds the best response in K - 1 matches; a second knockout among the first-round losers, where the
 * loser advances, finds the worst in ceil(K/2) - 1 more. With odd K the first round leaves one response unplayed (the
 * bye); it could be the worst, so it enters the lower bracket with the first-round losers (and stays in the upper one).
 * Every match is one comparison asked in both orders (the caller averages them), so a group of K costs about 3K model
 * calls: linear in K, against K(K-1) for a round robin.
 *
 * Scores: +1 per upper-bracket win, -1 per lower-bracket loss, a tied match half to each side. A later-round bye counts
 * as a win (upper) or a loss (lower), so depth stays what the score says; byes go to responses that have already
 * played. The first-round bye is held until the response's first upper match: kept if it goes on (a win or a tie),
 * dropped if it loses outright, so an unplayed worst response does not keep a win it never had. The champion is the
 * unique maximum and the last loser of the lower bracket the unique minimum under consistent (transitive) outcomes,
 * unless a deciding match was a tie, in which case the two share that match's half point and the pairing rules see
 * how close they are.
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
  private firstBye: number | undefined;
  /** Upper-bracket byes of a response that had not played yet, settled by its first upper match. */
  private readonly heldByes: number[];
  private readonly played: boolean[];
  private pendingMatches: { bracket: Bracket; m: Match }[] = [];

  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`a tournament needs at least one response; got ${k}`);
    this.scores = new Array<number>(k).fill(0);
    this.heldByes = new Array<number>(k).fill(0);
    this.played = new Array<boolean>(k).fill(false);
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
    pAB.forEach((p) => {
      if (!(p >= 0 && p <= 1)) throw new RangeError(`a comparison must be a probability in [0, 1]; got ${p}`);
    });
    const nextUpper: number[] = [];
    const nextLower: number[] = [];
    const firstLosers: number[] = [];
    this.pendingMatches.forEach(({ bracket, m }, i) => {
      const p = pAB[i]!;
      this.comparisons++;
      const tie = Math.abs(p - 0.5) <= TIE_BAND;
      // On a tie the earlier response goes on, so the result does not depend on arrival order.
      const aWins = tie ? m.a < m.b : p > 0.5;
      const [winner, loser] = aWins ? [m.a, m.b] : [m.b, m.a];
      if (bracket === 'upper') {
        this.scores[winner]! += tie ? 0.5 : 1;
        if (tie) this.scores[loser]! += 0.5;
        this.settleHeldBye(winner, true);
        this.settleHeldBye(loser, tie);
        nextUpper.push(winner);
        if (this.firstRound) firstLosers.push(loser);
      } else {
        this.scores[loser]! -= tie ? 0.5 : 1;
        if (tie) this.scores[winner]! -= 0.5;
        nextLower.push(loser);
      }
      this.played[winner] = true;
      this.played[loser] = true;
    });
    // Byes (odd counts) go on unplayed; the first round's bye also joins the lower bracket, since it may be the worst.
    this.upper = [...nextUpper, ...this.upper];
    const unplayed = this.firstRound && this.firstBye !== undefined ? [this.firstBye] : [];
    this.lower = [...nextLower, ...firstLosers, ...unplayed, ...this.lower];
    this.firstRound = false;
    this.schedule();
  }

  private settleHeldBye(i: number, goesOn: boolean): void {
    if (goesOn) this.scores[i]! += this.heldByes[i]!;
    this.heldByes[i] = 0;
  }

  private schedule(): void {
    this.pendingMatches = [];
    const pairUp = (ids: number[], bracket: Bracket): number[] => {
      const sorted = [...ids].sort((x, y) => x - y);
      let bye: number | undefined;
      if (sorted.length % 2 === 1) {
        // The bye goes to a response that has already played (the highest index in the upper bracket, the lowest in
        // the lower one, so the first round's bye, the highest index, plays in both brackets next round).
        const byPlayed = sorted.filter((i) => this.played[i]);
        const from = byPlayed.length > 0 ? byPlayed : sorted;
        bye = bracket === 'upper' ? from.at(-1)! : from[0]!;
        sorted.splice(sorted.indexOf(bye), 1);
      }
      for (let i = 0; i + 1 < sorted.length; i += 2) this.pendingMatches.push({ bracket, m: { a: sorted[i]!, b: sorted[i + 1]! } });
      if (bye === undefined) return [];
      // A bye goes a round deeper like a match's winner (upper) or loser (lower), so depth stays what the score says.
      if (bracket === 'lower') this.scores[bye]! -= 1;
      else if (this.played[bye]) this.scores[bye]! += 1;
      else this.heldByes[bye]! += 1;
      if (this.firstRound && bracket === 'upper') this.firstBye = bye;
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
