// The run report's evaluation sections from <run dir>/responses.jsonl: gold and proxy per version, the gold-KL path, example answers.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalResponse } from '../actors/evaluator.js';
import { readResponses, responsesFile, RESPONSES_LOG } from './responses_log.js';
import { lineChartSvg } from './svg_chart.js';

/** Example prompts shown in a report: the first held-out prompts, the same in every run of the same data. */
export const EXAMPLE_PROMPTS = 8;

export interface EvalSummary {
  version: number;
  step: number;
  ts: number;
  prompts: number;
  gold: number;
  proxy: number;
  win: number;
  kl: number | null;
  klK3: number | null;
  tokens: number;
}

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const fmt = (v: number | null, d = 3): string => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));

/** One row per evaluation (rows grouped by version and time), in evaluation order. */
export function evaluations(rows: readonly EvalResponse[]): EvalSummary[] {
  const groups = new Map<string, EvalResponse[]>();
  for (const r of rows) {
    const k = `${r.ts}:${r.version}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()]
    .map((g) => ({
      version: g[0]!.version,
      step: g[0]!.step,
      ts: g[0]!.ts,
      prompts: g.length,
      gold: mean(g.map((r) => r.gold)),
      proxy: mean(g.map((r) => r.proxy)),
      win: mean(g.map((r) => r.win)),
      kl: g.every((r) => r.logRatio !== undefined) ? mean(g.map((r) => r.logRatio!)) : null,
      klK3: g.every((r) => r.k3 !== undefined) ? mean(g.map((r) => r.k3!)) : null,
      tokens: mean(g.map((r) => r.responseTokens)),
    }))
    .sort((a, b) => a.ts - b.ts || a.version - b.version);
}

/** A response as one table cell: quotes and pipes escaped, newlines flattened, long text cut. */
export function cell(text: string, max = 160): string {
  const t = text.replace(/\s+/g, ' ').trim();
  const cut = t.length > max ? `${t.slice(0, max - 1)}…` : t;
  return cut === '' ? '(empty)' : cut.replace(/\|/g, '\\|').replace(/</g, '&lt;');
}

/** Markdown lines (and the gold-vs-KL SVG, written into runDir) for a run's report; [] when the run wrote no responses. */
export function responsesSection(runDir: string): { md: string[]; plots: string[] } {
  const rows = readResponses(responsesFile(runDir));
  if (rows.length === 0) return { md: [], plots: [] };
  const evals = evaluations(rows);
  const md = ['## Evaluations', '', `From \`${RESPONSES_LOG}\` (${rows.length} responses): gold and proxy reward of each evaluated version on the same held-out prompts, win rate against the SFT answers, and KL(policy || SFT) estimated from the evaluation's own samples (sequence log-ratio, and per-token k3).`, ''];
  md.push('| version | step | prompts | gold reward | proxy reward | win rate vs SFT | KL (nats) | KL k3 (nats) | response tokens |', '|---|---|---|---|---|---|---|---|---|');
  for (const e of evals) md.push(`| ${e.version} | ${e.step} | ${e.prompts} | ${fmt(e.gold)} | ${fmt(e.proxy)} | ${fmt(e.win)} | ${fmt(e.kl)} | ${fmt(e.klK3)} | ${fmt(e.tokens, 1)} |`);
  md.push('');
  const plots: string[] = [];
  if (evals.some((e) => e.kl !== null)) {
    const file = 'gold_vs_kl.svg';
    writeFileSync(
      join(runDir, file),
      lineChartSvg({ title: 'Gold and proxy reward against KL to SFT (each evaluation)', xLabel: 'KL(policy || SFT), nats per response', yLabel: 'mean reward', series: [{ name: 'gold', points: evals.map((e) => [e.kl ?? Number.NaN, e.gold]) }, { name: 'proxy', points: evals.map((e) => [e.kl ?? Number.NaN, e.proxy]) }] }),
    );
    plots.push(join(runDir, file));
    md.push(`![Gold and proxy reward against KL](${file})`, '');
  }
  const last = evals.at(-1)!;
  const finalRows = rows.filter((r) => r.version === last.version && r.ts === last.ts).slice(0, EXAMPLE_PROMPTS);
  md.push(`## Responses: SFT and the final policy (version ${last.version})`, '', 'The same held-out prompts; gold score in brackets.', '', '| prompt | SFT | final policy |', '|---|---|---|');
  for (const r of finalRows) md.push(`| ${cell(r.prompt, 80)} | ${cell(r.sftResponse)} [${fmt(r.sftGold)}] | ${cell(r.response)} [${fmt(r.gold)}] |`);
  md.push('');
  return { md, plots };
}
