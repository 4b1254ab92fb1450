// Per-prompt evaluation paths of a run (from its responses.jsonl), and the arms compared at a matched KL(policy || SFT).
import { readResponses, responsesFile } from '../monitor/responses_log.js';
import type { RunExample } from './results.js';

export class FrontierError extends Error {
  override name = 'FrontierError';
}

/** One evaluation of a run: its KL estimate and the gold score and win (vs SFT) of each held-out prompt, in prompt order. */
export interface PromptEval {
  version: number;
  step: number;
  kl: number;
  gold: number[];
  win: number[];
}

const round = (x: number): number => Math.round(x * 1e5) / 1e5;

/** Every evaluation in a run folder's responses.jsonl, in evaluation order, prompts in the evaluator's order. */
export function promptEvals(runDir: string): PromptEval[] {
  const rows = readResponses(responsesFile(runDir));
  const groups = new Map<string, typeof rows>();
  for (const r of rows) {
    const k = `${r.ts}:${r.version}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()]
    .sort((x, y) => x[0]!.ts - y[0]!.ts || x[0]!.version - y[0]!.version)
    .map((g) => ({
      version: g[0]!.version,
      step: g[0]!.step,
      kl: g.reduce((t, r) => t + (r.logRatio ?? Number.NaN), 0) / g.length,
      gold: g.map((r) => round(r.gold)),
      win: g.map((r) => r.win),
    }));
}

/**
 * The run's per-prompt gold and win at KL = `kl`, linearly interpolated between the two evaluations whose KL brackets
 * it, walking the evaluations in training order (the first crossing counts); undefined when the run never reaches it.
 */
export function atKl(path: readonly PromptEval[], kl: number): { gold: number[]; win: number[] } | undefined {
  for (let i = 0; i < path.length; i++) {
    const b = path[i]!;
    if (!Number.isFinite(b.kl)) continue;
    if (b.kl === kl) return { gold: [...b.gold], win: [...b.win] };
    const a = path[i - 1];
    if (!a || !Number.isFinite(a.kl) || !((a.kl - kl) * (b.kl - kl) < 0)) continue;
    const w = (kl - a.kl) / (b.kl - a.kl);
    const mix = (x: number[], y: number[]): number[] => x.map((v, j) => (1 - w) * v + w * y[j]!);
    return { gold: mix(a.gold, b.gold), win: mix(a.win, b.win) };
  }
  return undefined;
}

/** The largest KL every path reaches (its evaluations' maximum, then the minimum over paths): the common point of comparison. */
export function matchedKl(paths: readonly (readonly PromptEval[])[]): number {
  if (paths.length === 0) throw new FrontierError('a matched KL needs at least one run');
  const reach = paths.map((p) => Math.max(...p.map((e) => e.kl).filter(Number.isFinite)));
  if (!reach.every(Number.isFinite)) throw new FrontierError('every run needs a finite KL estimate in at least one evaluation (the evaluator ports give log-probs)');
  return Math.min(...reach);
}

/** The first `n` held-out prompts of the run's last evaluation, with the SFT answer beside the final policy's. */
export function runExamples(runDir: string, n: number): RunExample[] {
  const rows = readResponses(responsesFile(runDir));
  if (rows.length === 0) return [];
  const last = rows.reduce((a, r) => (r.ts > a.ts || (r.ts === a.ts && r.version > a.version) ? r : a));
  return rows
    .filter((r) => r.ts === last.ts && r.version === last.version)
    .slice(0, n)
    .map((r) => ({ prompt: r.prompt, sft: r.sftResponse, sftGold: r.sftGold, response: r.response, gold: r.gold }));
}
