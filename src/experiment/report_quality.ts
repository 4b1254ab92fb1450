// results.md's quality sections: bootstrap intervals at equal budget and at matched KL, the gold-KL frontier, proxy vs gold over training, example answers.
import { cell } from '../monitor/report_responses.js';
import { above, bootstrapInterval, type Interval } from '../kernels/bootstrap.js';
import { atKl, matchedKl } from './frontier.js';
import { curvesSvg, groupColors, type RunCurve } from './plots.js';
import type { ArmRun } from './results.js';

export interface ArmQuality {
  arm: string;
  mode: string;
  seeds: number;
  gold: Interval;
  win: Interval;
  /** At the matched KL (undefined when a run lacks per-prompt evaluations). */
  goldAtKl?: Interval;
  winAtKl?: Interval;
}

export interface Quality {
  sftGold?: Interval;
  arms: ArmQuality[];
  /** The KL (nats per response) every main run reaches, where the arms are compared as well. */
  kl?: number;
}

const num = (x: number | undefined, d = 3): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const iv = (i: Interval | undefined): string => (i ? `${num(i.mean)} [${num(i.lo)}, ${num(i.hi)}]` : 'n/a');

/** Runs of the main arms that carry per-prompt evaluations on the same prompts, by arm in first-seen order. */
function byArm(runs: readonly ArmRun[]): Map<string, ArmRun[]> {
  const out = new Map<string, ArmRun[]>();
  for (const r of runs) if (r.group === 'main' && r.promptEvals && r.promptEvals.length > 0) out.set(r.arm, [...(out.get(r.arm) ?? []), r]);
  return out;
}

/** Bootstrap intervals over prompts and seeds of every main arm, at its final policy and at the matched KL. */
export function quality(runs: readonly ArmRun[], replicates = 2000): Quality {
  const arms = byArm(runs);
  if (arms.size === 0) return { arms: [] };
  const all = [...arms.values()].flat();
  const prompts = Math.min(...all.map((r) => r.promptEvals!.at(-1)!.gold.length));
  const cut = (xs: number[]): number[] => xs.slice(0, prompts);
  const kl = all.every((r) => r.promptEvals!.some((e) => Number.isFinite(e.kl))) ? matchedKl(all.map((r) => r.promptEvals!)) : Number.NaN;
  const opts = { replicates };
  const sft = all[0]!.promptEvals![0]!;
  const out: Quality = { arms: [], ...(Number.isFinite(kl) ? { kl } : {}) };
  // Version 0 is SFT, sampled with the evaluation seed alone: the same answers in every run.
  if (sft.version === 0) out.sftGold = bootstrapInterval([cut(sft.gold)], undefined, opts);
  for (const [arm, rs] of arms) {
    const finals = rs.map((r) => r.promptEvals!.at(-1)!);
    const q: ArmQuality = {
      arm,
      mode: rs[0]!.mode,
      seeds: rs.length,
      gold: bootstrapInterval(finals.map((f) => cut(f.gold)), undefined, opts),
      win: bootstrapInterval(finals.map((f) => cut(f.win)), undefined, opts),
    };
    const at = Number.isFinite(kl) ? rs.map((r) => atKl(r.promptEvals!, kl)) : [];
    if (at.length > 0 && at.every((x) => x !== undefined)) {
      q.goldAtKl = bootstrapInterval(at.map((x) => cut(x!.gold)), undefined, opts);
      q.winAtKl = bootstrapInterval(at.map((x) => cut(x!.win)), undefined, opts);
    }
    out.arms.push(q);
  }
  return out;
}

/** "a > b" with non-overlapping intervals, overlapping, or below, in words. */
function order(a: string, ai: Interval | undefined, b: string, bi: Interval | undefined): string {
  if (!ai || !bi) return `${a} vs ${b}: n/a`;
  if (above(ai, bi)) return `**${a} > ${b}**, intervals apart (${iv(ai)} vs ${iv(bi)})`;
  if (above(bi, ai)) return `**${a} < ${b}**, intervals apart (${iv(ai)} vs ${iv(bi)})`;
  return `${a} ${ai.mean >= bi.mean ? '≥' : '≤'} ${b} only within overlapping intervals (${iv(ai)} vs ${iv(bi)}): not a result`;
}

/** The done-when checks in plain lines: online > offline > SFT on gold win rate, at equal budget and at matched KL. */
export function qualityVerdict(q: Quality): string[] {
  const offline = q.arms.find((a) => a.mode === 'offline');
  const online = q.arms.filter((a) => a.mode !== 'offline');
  if (!offline || online.length === 0) return ['The online > offline > SFT check needs the offline arm and an online arm with per-prompt evaluations.'];
  const half: Interval = { mean: 0.5, lo: 0.5, hi: 0.5, seeds: 0, prompts: 0 };
  const lines = [
    `Equal budget, gold win rate vs SFT (bootstrap 95% over ${offline.win.prompts} prompts and ${offline.seeds} seed${offline.seeds === 1 ? '' : 's'}): ` +
      [...online.map((a) => order(a.arm, a.win, 'offline', offline.win)), order('offline', offline.win, 'SFT (0.5)', half)].join('; ') + '.',
  ];
  if (q.kl !== undefined) {
    lines.push(
      `Matched KL (${num(q.kl, 2)} nats, the largest every run reaches; each run's per-prompt scores interpolated between its two evaluations around it): ` +
        [...online.map((a) => order(a.arm, a.winAtKl, 'offline', offline.winAtKl)), order('offline', offline.winAtKl, 'SFT (0.5)', half)].join('; ') + '.',
    );
  }
  return lines;
}

export function qualitySection(q: Quality): string[] {
  if (q.arms.length === 0) return [];
  const out = ['## Gold reward and win rate with 95% intervals: equal budget and matched KL', ''];
  out.push(
    `Bootstrap percentile intervals (2000 replicates; each resamples seeds and held-out prompts with replacement). "Final" is each run's last policy (equal budget); ` +
      `"at KL ${num(q.kl, 2)}" interpolates each run's per-prompt scores at the largest KL(policy || SFT) every main run reaches, so arms are compared at equal distance from SFT. ` +
      `SFT gold reward: ${iv(q.sftGold)}.`,
    '',
  );
  out.push('| arm | seeds | gold reward (final) | win rate vs SFT (final) | gold reward at matched KL | win rate at matched KL |', '|---|---|---|---|---|---|');
  for (const a of q.arms) out.push(`| ${a.arm} | ${a.seeds} | ${iv(a.gold)} | ${iv(a.win)} | ${iv(a.goldAtKl)} | ${iv(a.winAtKl)} |`);
  out.push('', ...qualityVerdict(q).flatMap((l) => [l, '']));
  return out;
}

/** Plots of the quality sections: the gold-KL frontier per run, and proxy and gold reward over learner steps. */
export function qualityPlots(runs: readonly ArmRun[], q: Quality, sftGold: number): Record<string, string> {
  const main = runs.filter((r) => r.group === 'main');
  const color = groupColors(runs.map((r) => r.arm));
  const curves = (f: (e: ArmRun['evals'][number]) => [number, number]): RunCurve[] => main.map((r) => ({ group: r.arm, points: r.evals.map(f) }));
  return {
    'gold_vs_kl_frontier.svg': curvesSvg({
      title: `Gold reward against KL(policy || SFT), every evaluation of every run${q.kl !== undefined ? ` (matched KL ${num(q.kl, 2)})` : ''}`,
      xLabel: 'KL(policy || SFT), nats per response (sequence log-ratio of the evaluation samples)',
      yLabel: 'mean gold reward',
      curves: curves((e) => [e.kl ?? Number.NaN, e.goldReward]),
      ref: { y: sftGold, label: 'SFT' },
      ...(q.kl !== undefined ? { refX: { x: q.kl, label: 'matched KL' } } : {}),
      color,
    }),
    'gold_reward_over_steps.svg': curvesSvg({ title: 'Gold reward over training (every main run)', xLabel: 'learner step', yLabel: 'mean gold reward (held-out)', curves: curves((e) => [e.step, e.goldReward]), ref: { y: sftGold, label: 'SFT' }, color }),
    'proxy_reward_over_steps.svg': curvesSvg({ title: 'Proxy reward over training (every main run)', xLabel: 'learner step', yLabel: 'mean proxy reward (held-out)', curves: curves((e) => [e.step, e.proxyReward]), color }),
  };
}

/** The same held-out prompts answered by SFT and by each main arm's final policy (its first seed). */
export function examplesSection(runs: readonly ArmRun[], n = 6): string[] {
  const firsts = new Map<string, ArmRun>();
  for (const r of runs) if (r.group === 'main' && r.examples && !firsts.has(r.arm)) firsts.set(r.arm, r);
  const arms = [...firsts.values()];
  if (arms.length === 0) return [];
  const rows = Math.min(n, ...arms.map((r) => r.examples!.length));
  const out = ['## Responses: the same held-out prompts, SFT and each arm\'s final policy', '', `Seed ${arms.map((r) => `${r.seed} (${r.arm})`).join(', ')}; gold score in brackets.`, ''];
  out.push(`| prompt | SFT | ${arms.map((r) => r.arm).join(' | ')} |`, `|---|---|${arms.map(() => '---|').join('')}`);
  for (let i = 0; i < rows; i++) {
    const e0 = arms[0]!.examples![i]!;
    out.push(`| ${cell(e0.prompt, 60)} | ${cell(e0.sft, 120)} [${num(e0.sftGold)}] | ${arms.map((r) => `${cell(r.examples![i]!.response, 120)} [${num(r.examples![i]!.gold)}]`).join(' | ')} |`);
  }
  out.push('');
  return out;
}
