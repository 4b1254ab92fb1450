// A word n-gram language model with interpolated, modified Kneser-Ney smoothing (Chen & Goodman 1998), in plain
// TypeScript, for the gold judge's fluency term. Tokens are integers; the caller maps words to them (see lm_text.ts).
//
//   P(w | h) = max(c(h w) - D(c(h w)), 0) / c(h .) + gamma(h) * P(w | h')        h' = h without its first word
//   gamma(h) = (D1 N1(h .) + D2 N2(h .) + D3+ N3+(h .)) / c(h .)
// c is the raw count at the highest order and the continuation count (distinct left neighbours) below it;
// D1, D2, D3+ per order from the counts of counts: Y = n1 / (n1 + 2 n2), Dk = k - (k + 1) Y n(k+1) / nk.
// The unigram level interpolates with the uniform distribution over the vocabulary, so no token has probability 0.
// A context never seen falls through to the next shorter one.

export class NgramLmError extends Error {
  override name = 'NgramLmError';
}

interface ContextStats {
  /** Sum of the (raw or continuation) counts of the n-grams extending this context. */
  total: number;
  /** How many distinct words follow it once, twice, three or more times. */
  n1: number;
  n2: number;
  n3: number;
}

interface Level {
  counts: Map<string, number>;
  contexts: Map<string, ContextStats>;
  discounts: [number, number, number];
}

const key = (ids: readonly number[], from: number, to: number): string => ids.slice(from, to).join(',');

export interface NgramLmJson {
  order: number;
  vocabSize: number;
  levels: { counts: [string, number][]; discounts: [number, number, number] }[];
}

export class KneserNeyLm {
  private constructor(
    readonly order: number,
    /** Distinct token ids the model can emit (the uniform floor divides by this). */
    readonly vocabSize: number,
    /** levels[k] holds the (k+1)-grams. */
    private readonly levels: Level[],
  ) {}

  /**
   * Fits on token sequences. Each sequence should already carry its boundary tokens (begin-of-sentence ids padded to
   * order - 1 at the start, end-of-sentence at the end); n-grams are counted over whole sequences.
   */
  static fit(sequences: readonly (readonly number[])[], order: number, vocabSize: number): KneserNeyLm {
    if (!Number.isInteger(order) || order < 1 || order > 6) throw new NgramLmError(`order must be an integer in 1..6; got ${order}`);
    // Raw counts at every order; the top order keeps them, lower orders are replaced by continuation counts.
    const raw: Map<string, number>[] = Array.from({ length: order }, () => new Map());
    for (const seq of sequences) {
      for (let i = 0; i < seq.length; i++) {
        for (let n = 1; n <= order && n <= i + 1; n++) {
          const k = key(seq as number[], i - n + 1, i + 1);
          const m = raw[n - 1]!;
          m.set(k, (m.get(k) ?? 0) + 1);
        }
      }
    }
    const counts: Map<string, number>[] = Array.from({ length: order }, () => new Map());
    counts[order - 1] = raw[order - 1]!;
    for (let n = order; n >= 2; n--) {
      // Continuation count of the (n-1)-gram suffix: how many distinct words precede it.
      const lower = counts[n - 2]!;
      for (const k of raw[n - 1]!.keys()) {
        const suffix = k.slice(k.indexOf(',') + 1);
        lower.set(suffix, (lower.get(suffix) ?? 0) + 1);
      }
      // N-grams that only ever start a sequence have no left neighbour; they keep their raw count.
      for (const [k, c] of raw[n - 2]!) if (!lower.has(k)) lower.set(k, c);
    }
    const levels: Level[] = counts.map((m) => ({ counts: m, contexts: new Map(), discounts: discountsOf(m) }));
    for (const level of levels) indexContexts(level);
    return new KneserNeyLm(order, vocabSize, levels);
  }

  /** Rebuilds a model written by toJson. */
  static fromJson(json: NgramLmJson): KneserNeyLm {
    if (json.levels.length !== json.order) throw new NgramLmError(`model has ${json.levels.length} levels for order ${json.order}`);
    const levels: Level[] = json.levels.map((l) => ({ counts: new Map(l.counts), contexts: new Map(), discounts: l.discounts }));
    for (const level of levels) indexContexts(level);
    return new KneserNeyLm(json.order, json.vocabSize, levels);
  }

  toJson(): NgramLmJson {
    return { order: this.order, vocabSize: this.vocabSize, levels: this.levels.map((l) => ({ counts: [...l.counts], discounts: l.discounts })) };
  }

  /** Natural-log probability of `ids[at]` given the up to order - 1 ids before it. */
  logProb(ids: readonly number[], at: number): number {
    const n = Math.min(this.order, at + 1);
    return Math.log(this.prob(ids, at, n));
  }

  /** n-gram counts per order, for reports. */
  sizes(): number[] {
    return this.levels.map((l) => l.counts.size);
  }

  private prob(ids: readonly number[], at: number, n: number): number {
    // Lowest level: interpolate the unigram continuation distribution with the uniform one.
    let p = 1 / this.vocabSize;
    for (let m = 1; m <= n; m++) {
      const level = this.levels[m - 1]!;
      const ctx = m === 1 ? '' : key(ids as number[], at - m + 1, at);
      const stats = level.contexts.get(ctx);
      if (!stats) continue;
      const c = level.counts.get(m === 1 ? String(ids[at]) : `${ctx},${ids[at]}`) ?? 0;
      const [d1, d2, d3] = level.discounts;
      const d = c === 0 ? 0 : c === 1 ? d1 : c === 2 ? d2 : d3;
      const gamma = (d1 * stats.n1 + d2 * stats.n2 + d3 * stats.n3) / stats.total;
      p = Math.max(c - d, 0) / stats.total + gamma * p;
    }
    return p;
  }
}

function discountsOf(counts: Map<string, number>): [number, number, number] {
  const n = [0, 0, 0, 0, 0];
  for (const c of counts.values()) if (c <= 4) n[c]!++;
  const [, n1, n2, n3, n4] = n as [number, number, number, number, number];
  if (n1 === 0 || n2 === 0 || n3 === 0 || n4 === 0) return [0.5, 1, 1.5];
  const y = n1 / (n1 + 2 * n2);
  const clamp = (d: number, k: number) => Math.min(k, Math.max(0, d));
  return [clamp(1 - (2 * y * n2) / n1, 1), clamp(2 - (3 * y * n3) / n2, 2), clamp(3 - (4 * y * n4) / n3, 3)];
}

function indexContexts(level: Level): void {
  for (const [k, c] of level.counts) {
    const cut = k.lastIndexOf(',');
    const ctx = cut < 0 ? '' : k.slice(0, cut);
    let s = level.contexts.get(ctx);
    if (!s) level.contexts.set(ctx, (s = { total: 0, n1: 0, n2: 0, n3: 0 }));
    s.total += c;
    if (c === 1) s.n1++;
    else if (c === 2) s.n2++;
    else s.n3++;
  }
}
