// results.md and the plots, generated from the runs: tables, the plain-language verdict, and the charts.
import type { Config } from '../config/index.js';
import type { AdversarialRow } from '../gold/adversarial.js';
import { evalEvery, MODES } from './plan.js';
import { curvesSvg, groupColors, intervalsSvg, scatterSvg } from './plots.js';
import { examplesSection, quality, qualityPlots, qualitySection, qualityVerdict } from './report_quality.js';
import { aggregate, spread, type ArmAggregate, type ArmRun, type Spread } from './results.js';

/** How the report names each preference loss. */
const LOSS_NAMES: Record<Config['learner']['loss'], string> = { dpo: 'DPO', ipo: 'IPO', hinge: 'hinge' };

/** What the stages produced, for the setup section and the proxy comparison. */
export interface StageInfo {
  sftDir: string;
  sftHash: string;
  rm: Record<string, { dir: string; hash: string; heldOutAccuracy: number; hardHalfAccuracy: number; initHeldOutAccuracy: number; trainPairs: number; heldOutPairs: number }>;
  seconds: number;
}

export interface ReportContext {
  id: string;
  configPath: string;
  cfg: Config;
  stages: StageInfo;
  runs: ArmRun[];
  /** Runs planned in all; fewer finished means the experiment was stopped early. */
  planned: number;
  wallSeconds: number;
  machine: string;
  generatedAt: string;
  /** Runs that failed (the experiment went on without them). */
  failed?: { id: string; error: string }[];
  /** The gold judge checked before the arms: agreement with people, the adversarial suite. */
  goldJudge?: GoldJudgeCheck;
}

export interface GoldJudgeCheck {
  task: string;
  agreement: { file: string; agreed: number; pairs: number }[];
  realMedian: number;
  adversarial: AdversarialRow[];
}

/** Whether the judge that scores every arm agrees with people and ranks degenerate answers low (docs/gold_tasks.md). */
function goldJudgeSection(g: GoldJudgeCheck | undefined): string[] {
  if (!g) return [];
  return [
    '## The gold judge',
    '',
    `Agreement of the gold judge (${g.task}) with a person's choice between two answers (\`node scripts/gold_human_agreement.mjs\`):`,
    '',
    '| pairs file | agreed | share |',
    '|---|---|---|',
    ...g.agreement.map((a) => `| ${a.file} | ${a.agreed}/${a.pairs} | ${num((100 * a.agreed) / a.pairs, 1)}% |`),
    '',
    `Degenerate answers to held-out prompts against a real answer to the same prompt (real answers: median gold ${num(g.realMedian)}; \`node scripts/gold_adversarial_report.mjs\` runs more prompts):`,
    '',
    '| answer | mean gold | max gold | loses to the real answer |',
    '|---|---|---|---|',
    ...g.adversarial.map((r) => `| ${r.name}${r.strict ? '' : ' (harder probe)'} | ${num(r.mean)} | ${num(r.max)} | ${r.lost}/${r.of} |`),
    '',
  ];
}

const num = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
/** `mean ± std [min, max]`, or the single value for one seed. */
function ms(s: Spread, d = 3): string {
  if (s.n === 0) return 'n/a';
  if (s.n === 1) return num(s.mean, d);
  return `${num(s.mean, d)} ± ${num(s.std, d)} [${num(s.min, d)}, ${num(s.max, d)}]`;
}
const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : 'n/a');

/** A pairwise model compares two responses; on one response alone its score is a constant, so it is not shown. */
const proxyCell = (kind: string, s: Spread): string => (kind === 'pairwise' ? '– (scores pairs only)' : ms(s));

/** The plot files, by name, and how each is drawn. */
export function renderPlots(ctx: ReportContext): Record<string, string> {
  const aggs = aggregate(ctx.runs);
  const color = groupColors(aggs.map((a) => a.arm));
  const main = ctx.runs.filter((r) => r.group === 'main');
  const sftGold = spread(ctx.runs.map((r) => r.sftGoldReward)).mean;
  const target = ctx.cfg.experiment.targetWinRate;
  const cat = (key: keyof ArmRun) => aggs.map((a) => ({ label: a.arm, values: ctx.runs.filter((r) => r.arm === a.arm).map((r) => r[key] as number) }));
  return {
    ...qualityPlots(ctx.runs, quality(ctx.runs), sftGold),
    'win_rate_over_time.svg': curvesSvg({
      title: 'Gold win rate vs SFT over wall-clock (every main run)',
      xLabel: 'seconds since the arm started',
      yLabel: 'win rate vs SFT (gold judge)',
      curves: main.map((r) => ({ group: r.arm, points: r.evals.map((e) => [e.seconds, e.winRateVsSft] as [number, number]) })),
      ref: { y: target, label: `target ${target}` },
      color,
    }),
    'gold_reward_over_time.svg': curvesSvg({
      title: 'Gold reward over wall-clock (every main run)',
      xLabel: 'seconds since the arm started',
      yLabel: 'mean gold reward',
      curves: main.map((r) => ({ group: r.arm, points: r.evals.map((e) => [e.seconds, e.goldReward] as [number, number]) })),
      ref: { y: sftGold, label: 'SFT' },
      color,
    }),
    'gold_reward_by_arm.svg': intervalsSvg({ title: 'Final gold reward by arm', yLabel: 'mean gold reward (held-out prompts)', categories: cat('goldReward'), ref: { y: sftGold, label: 'SFT' }, color }),
    'win_rate_by_arm.svg': intervalsSvg({ title: 'Final gold win rate vs SFT by arm', yLabel: 'win rate vs SFT (gold judge)', categories: cat('winRateVsSft'), ref: { y: 0.5, label: 'SFT (0.5)' }, color }),
    'response_tokens_by_arm.svg': intervalsSvg({ title: 'Response length by arm', yLabel: 'mean response tokens', categories: cat('responseTokens'), color }),
    'wall_clock_by_arm.svg': intervalsSvg({ title: 'Wall-clock time per run', yLabel: 'seconds', categories: cat('wallSeconds'), color }),
    'samples_per_second_by_arm.svg': intervalsSvg({ title: 'Generation throughput', yLabel: 'samples / s', categories: cat('samplesPerSecond'), color }),
    'kl_vs_gold.svg': scatterSvg({
      title: 'Gold reward against KL to the reference (each run, final policy)',
      xLabel: 'KL(policy || SFT), nats per response',
      yLabel: 'mean gold reward',
      points: ctx.runs.map((r) => ({ group: r.arm, x: r.kl, y: r.goldReward })),
      ref: { y: sftGold, label: 'SFT' },
      color,
    }),
    'core_busy.svg': intervalsSvg({
      title: 'Share of time each core was busy (/proc/stat, whole machine)',
      yLabel: 'busy fraction',
      categories: aggs.flatMap((a) => {
        const rs = ctx.runs.filter((r) => r.arm === a.arm);
        const cores = Math.max(0, ...rs.map((r) => r.coreBusy.length));
        return Array.from({ length: cores }, (_, c) => ({ label: `${a.arm} cpu${c}`, values: rs.map((r) => r.coreBusy[c] ?? Number.NaN) }));
      }),
      color: (label) => color(label.replace(/ cpu\d+$/, '')),
    }),
  };
}

interface Comparison {
  arm: string;
  winDiff: number;
  goldDiff: number;
  /** Every seed of the online arm beat every seed of offline on the win rate. */
  separated: boolean;
}

function compareToOffline(aggs: ArmAggregate[]): { offline?: ArmAggregate; online: Comparison[] } {
  const offline = aggs.find((a) => a.group === 'main' && a.mode === 'offline');
  if (!offline) return { online: [] };
  const online = aggs
    .filter((a) => a.group === 'main' && a.mode !== 'offline')
    .map((a) => ({
      arm: a.arm,
      winDiff: a.figures.winRateVsSft.mean - offline.figures.winRateVsSft.mean,
      goldDiff: a.figures.goldReward.mean - offline.figures.goldReward.mean,
      separated: a.figures.winRateVsSft.min > offline.figures.winRateVsSft.max,
    }));
  return { offline, online };
}

/** Plain sentences on the paper's claim (online > offline) and on streaming against the paper's loop. */
export function verdict(ctx: ReportContext): string[] {
  const aggs = aggregate(ctx.runs);
  const lines: string[] = [];
  const { offline, online } = compareToOffline(aggs);
  const seeds = ctx.cfg.experiment.seeds;
  if (!offline || online.length === 0) {
    lines.push('The online > offline ordering cannot be judged here: the main arms must include offline and at least one online mode.');
  } else {
    const ahead = online.filter((c) => c.winDiff > 0);
    const fmt = (c: Comparison): string =>
      `${c.arm} ${c.winDiff >= 0 ? '+' : ''}${num(c.winDiff)} win rate and ${c.goldDiff >= 0 ? '+' : ''}${num(c.goldDiff)} gold reward against offline` +
      (c.separated ? ' (every seed above every offline seed)' : ' (seed ranges overlap)');
    const n = offline.figures.winRateVsSft.n;
    if (ahead.length === online.length) {
      const caveats: string[] = [];
      if (!online.every((c) => c.goldDiff > 0)) caveats.push('the gold reward does not agree for every online arm');
      if (!online.every((c) => c.separated)) caveats.push('the seed ranges of the win rate overlap');
      lines.push(
        `**Our data reproduces the paper's ordering online > offline** on the gold win rate vs SFT (mean of ${n} seed${n === 1 ? '' : 's'}): ${online.map(fmt).join('; ')}. ` +
          (caveats.length === 0
            ? 'The ordering holds for every seed and on the gold reward too.'
            : `The margin is small against the spread (${caveats.join('; ')}), so this is a weaker result than the paper's wide margin.`),
      );
    } else if (ahead.length > 0) {
      lines.push(`**Our data reproduces the ordering online > offline only in part**: ${online.map(fmt).join('; ')}.`);
    } else {
      lines.push(`**Our data does not reproduce the paper's ordering online > offline**: ${online.map(fmt).join('; ')}.`);
    }
    if (n < seeds) lines.push(`Only ${n} of the ${seeds} planned seeds finished.`);
  }
  const it = aggs.find((a) => a.group === 'main' && a.mode === 'iterative');
  const st = aggs.find((a) => a.group === 'main' && a.mode === 'streaming');
  if (it && st) {
    const speed = it.figures.wallSeconds.mean / st.figures.wallSeconds.mean;
    const target = ctx.cfg.experiment.targetWinRate;
    const reach = (a: ArmAggregate): string =>
      a.reachedTarget === 0 ? `never reached ${target}` : `reached ${target} in ${a.reachedTarget}/${a.figures.wallSeconds.n} runs, after ${num(a.secondsToTarget.mean, 0)} s on average`;
    lines.push(
      `Streaming against the paper's loop (iterative, ${ctx.cfg.run.iterations} iterations) on the same budget: the streaming run took ${num(st.figures.wallSeconds.mean, 0)} s against ${num(it.figures.wallSeconds.mean, 0)} s ` +
        `(${speed >= 1 ? `${num(speed, 2)}x faster` : `${num(1 / speed, 2)}x slower`}), ` +
        `with ${num(st.figures.winRateVsSft.mean)} vs ${num(it.figures.winRateVsSft.mean)} final gold win rate and ${num(st.figures.goldReward.mean)} vs ${num(it.figures.goldReward.mean)} gold reward. ` +
        `Streaming ${reach(st)}; iterative ${reach(it)}.`,
    );
    if (st.figures.pairsDroppedStale.mean > 0) lines.push(`Streaming dropped ${num(st.figures.pairsDroppedStale.mean, 1)} stale pairs per run on average (learner.maxPolicyLag ${ctx.cfg.learner.maxPolicyLag}).`);
  }
  const busy = spread(ctx.runs.map((r) => spread(r.coreBusy).mean)).mean;
  const share = spread(ctx.runs.map((r) => r.processShare));
  if (busy - share.mean > 0.1) {
    lines.push(
      `Other processes shared the machine: its cores were ${pct(busy)} busy on average during the runs, of which this experiment's own share was ${pct(share.mean)} ` +
        `(${pct(share.min)}-${pct(share.max)} by run), so wall-clock, time-to-target and throughput figures carry that noise; the quality figures do not depend on it.`,
    );
  }
  const budget = ctx.cfg.run.prompts;
  const short = ctx.runs.filter((r) => r.promptsSeen < budget);
  if (short.length > 0) lines.push(`Runs that saw fewer than the ${budget} budgeted prompts (stopped by learner.totalSteps or early): ${short.map((r) => `${r.id} (${r.promptsSeen})`).join(', ')}.`);
  return lines;
}

function mainTable(aggs: ArmAggregate[], runs: ArmRun[], target: number): string[] {
  const sft = spread(runs.map((r) => r.sftGoldReward));
  const rows = [
    `| arm | seeds | gold reward | win rate vs SFT | proxy reward | KL to ref (nats) | response tokens | wall-clock (s) | time to win rate ≥ ${target} (s) | samples/s | pairs/s | learner steps/s | core busy |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    `| SFT (start of every arm) | – | ${num(sft.mean)} | 0.500 | – | 0 | – | – | – | – | – | – | – |`,
  ];
  for (const a of aggs) {
    const f = a.figures;
    const t = a.reachedTarget === 0 ? 'not reached' : `${ms(a.secondsToTarget, 0)} (${a.reachedTarget}/${f.wallSeconds.n})`;
    rows.push(
      `| ${a.arm} | ${a.seeds.length} | ${ms(f.goldReward)} | ${ms(f.winRateVsSft)} | ${ms(f.proxyReward)} | ${ms(f.kl)} | ${ms(f.responseTokens, 1)} | ${ms(f.wallSeconds, 0)} | ${t} | ` +
        `${ms(f.samplesPerSecond, 1)} | ${ms(f.pairsPerSecond, 2)} | ${ms(f.stepsPerSecond, 3)} | ${a.coreBusy.map(pct).join(' / ')} |`,
    );
  }
  return rows;
}

function budgetTable(aggs: ArmAggregate[]): string[] {
  const rows = ['| arm | prompts seen | labels used (samples scored) | pairs trained | stale pairs dropped | learner steps | evaluator busy (s) | this process\'s share of the machine |', '|---|---|---|---|---|---|---|---|'];
  for (const a of aggs) {
    const f = a.figures;
    rows.push(`| ${a.arm} | ${ms(f.promptsSeen, 0)} | ${ms(f.labelsUsed, 0)} | ${ms(f.pairsTrained, 0)} | ${ms(f.pairsDroppedStale, 0)} | ${ms(f.steps, 0)} | ${ms(f.evalSeconds, 1)} | ${ms(f.processShare, 2)} |`);
  }
  return rows;
}

function timeTable(aggs: ArmAggregate[]): string[] {
  const rows = [
    '| arm | wall-clock (s) | generating (s) | judging (s) | learning (s) | evaluating (s) | work / wall-clock |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const a of aggs) {
    const f = a.figures;
    const work = f.generateSeconds.mean + f.judgeSeconds.mean + f.learnSeconds.mean + f.evalSeconds.mean;
    rows.push(`| ${a.arm} | ${ms(f.wallSeconds, 0)} | ${ms(f.generateSeconds, 1)} | ${ms(f.judgeSeconds, 1)} | ${ms(f.learnSeconds, 1)} | ${ms(f.evalSeconds, 1)} | ${num(work / f.wallSeconds.mean, 2)} |`);
  }
  return rows;
}

function runTable(runs: ArmRun[]): string[] {
  const rows = [
    '| run | seed | gold reward | win rate | proxy | KL | tokens | wall (s) | to target (s) | samples/s | pairs/s | steps/s | steps | core busy | raw log |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of runs) {
    rows.push(
      `| ${r.arm} | ${r.seed} | ${num(r.goldReward)} | ${num(r.winRateVsSft)} | ${proxyCell(r.rmKind, spread([r.proxyReward]))} | ${num(r.kl)} | ${num(r.responseTokens, 1)} | ${num(r.wallSeconds, 1)} | ` +
        `${r.secondsToTarget === null ? '–' : num(r.secondsToTarget, 0)} | ${num(r.samplesPerSecond, 1)} | ${num(r.pairsPerSecond, 2)} | ${num(r.stepsPerSecond, 3)} | ${r.steps} | ${r.coreBusy.map(pct).join(' / ')} | \`${r.dir}/metrics.jsonl\` |`,
    );
  }
  return rows;
}

function ablationSections(ctx: ReportContext, aggs: ArmAggregate[]): string[] {
  const e = ctx.cfg.experiment;
  const out: string[] = [];
  const base = aggs.find((a) => a.group === 'main' && a.mode === e.ablationMode);
  const nAbl = e.ablationSeeds;
  // The baseline restricted to the ablation's seeds, so both sides saw the same online seeds.
  const baseRuns = ctx.runs.filter((r) => r.group === 'main' && r.mode === e.ablationMode && r.seedIndex < nAbl);
  const baseAgg = aggregate(baseRuns)[0];
  const pw = aggs.find((a) => a.group === 'rm');
  if (e.rmAblation) {
    out.push('## Proxy model: Bradley-Terry reward model vs pairwise preference model', '');
    out.push(
      `Both are trained once on the same preference pairs (sampled from the SFT model, labelled by the gold judge). Held-out accuracy is against gold labels; ` +
        `the gold outcome is the ${e.ablationMode} arm trained with each as the judge's proxy, on seeds ${baseRuns.map((r) => r.seed).join(', ') || 'n/a'}.`,
      '',
      '| proxy | held-out accuracy | hard-half accuracy | accuracy at init | gold reward | win rate vs SFT | proxy reward (own scale) | response tokens | wall-clock (s) |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const [kind, agg] of [['bt', baseAgg], ['pairwise', pw]] as const) {
      const s = ctx.stages.rm[kind];
      const f = agg?.figures;
      out.push(
        `| ${kind === 'bt' ? 'Bradley-Terry (bt)' : 'pairwise preference'} | ${s ? num(s.heldOutAccuracy) : 'n/a'} | ${s ? num(s.hardHalfAccuracy) : 'n/a'} | ${s ? num(s.initHeldOutAccuracy) : 'n/a'} | ` +
          `${f ? ms(f.goldReward) : 'n/a'} | ${f ? ms(f.winRateVsSft) : 'n/a'} | ${f ? proxyCell(kind, f.proxyReward) : 'n/a'} | ${f ? ms(f.responseTokens, 1) : 'n/a'} | ${f ? ms(f.wallSeconds, 0) : 'n/a'} |`,
      );
    }
    const bt = ctx.stages.rm['bt'];
    const pws = ctx.stages.rm['pairwise'];
    if (bt && pws && baseAgg && pw) {
      const better = pws.heldOutAccuracy > bt.heldOutAccuracy ? 'more accurate than' : pws.heldOutAccuracy < bt.heldOutAccuracy ? 'less accurate than' : 'as accurate as';
      const gold = pw.figures.goldReward.mean - baseAgg.figures.goldReward.mean;
      out.push(
        '',
        `The pairwise model is ${better} BT on held-out pairs (${num(pws.heldOutAccuracy)} vs ${num(bt.heldOutAccuracy)}; the paper: pairwise better at equal size), ` +
          `and training against it gives ${gold >= 0 ? '+' : ''}${num(gold)} gold reward relative to BT.`,
      );
    }
    out.push('');
  }
  const lp = aggs.find((a) => a.group === 'length');
  if (e.lengthPenalty > 0) {
    out.push('## Length penalty on vs off', '');
    out.push(`The judge ranks by r - λ·len(y) (λ = ${e.lengthPenalty}) before picking best vs worst; ${e.ablationMode} arm, BT proxy, same seeds.`, '');
    out.push('| length penalty | response tokens | gold reward | win rate vs SFT | proxy reward | KL |', '|---|---|---|---|---|---|');
    for (const [name, agg] of [['off (λ = 0)', baseAgg], [`on (λ = ${e.lengthPenalty})`, lp]] as const) {
      const f = agg?.figures;
      out.push(`| ${name} | ${f ? ms(f.responseTokens, 1) : 'n/a'} | ${f ? ms(f.goldReward) : 'n/a'} | ${f ? ms(f.winRateVsSft) : 'n/a'} | ${f ? ms(f.proxyReward) : 'n/a'} | ${f ? ms(f.kl) : 'n/a'} |`);
    }
    if (baseAgg && lp) {
      const dl = lp.figures.responseTokens.mean - baseAgg.figures.responseTokens.mean;
      const dg = lp.figures.goldReward.mean - baseAgg.figures.goldReward.mean;
      out.push('', `With the penalty, responses are ${dl <= 0 ? 'shorter' : 'longer'} by ${num(Math.abs(dl), 1)} tokens and the gold reward changes by ${dg >= 0 ? '+' : ''}${num(dg)}.`);
    }
    out.push('');
  }
  if (!base && (e.rmAblation || e.lengthPenalty > 0)) out.push(`(The ${e.ablationMode} main arm has no finished run yet, so the ablations have no baseline.)`, '');
  return out;
}

/** The whole results.md; `plotDir` is how the markdown refers to the plots folder (plots/ in the run, results/ in docs). */
export function renderMarkdown(ctx: ReportContext, plotDir: string, plotNames: string[]): string {
  const c = ctx.cfg;
  const aggs = aggregate(ctx.runs);
  const mainAggs = aggs.filter((a) => a.group === 'main');
  const e = c.experiment;
  const bt = ctx.stages.rm['bt'];
  const q = quality(ctx.runs);
  const lines = [
    '# Experiment: online vs offline DPO, and streaming vs the paper\'s loop',
    '',
    `Generated by \`rlhf-stream experiment --config ${ctx.configPath}\` (experiment ${ctx.id}, ${ctx.generatedAt}); ` +
      `${ctx.runs.length} of ${ctx.planned} runs finished in ${num(ctx.wallSeconds / 60, 1)} min of wall-clock, ${num(ctx.stages.seconds, 0)} s of which went to building or loading the cached stages. Machine: ${ctx.machine}.`,
    '',
    ...(ctx.failed && ctx.failed.length > 0 ? [`**${ctx.failed.length} run(s) failed and are left out**: ${ctx.failed.map((f) => `${f.id} (${f.error.replace(/\s+/g, ' ').slice(0, 200)})`).join('; ')}.`, ''] : []),
    '## Verdict',
    '',
    ...verdict(ctx).flatMap((l) => [l, '']),
    ...qualityVerdict(q).flatMap((l) => [l, '']),
    '## Setup',
    '',
    `- Policy: ${c.model.layers}-layer transformer, d=${c.model.dModel}, ${c.model.heads} heads, vocabulary ${c.tokenizer.vocabSize}, context ${c.model.contextLength}. ` +
      `Every arm starts from the same SFT checkpoint (\`${ctx.stages.sftDir}\`, input hash ${ctx.stages.sftHash.slice(0, 12)}) and uses the same proxy ` +
      `(Bradley-Terry, held-out accuracy ${bt ? num(bt.heldOutAccuracy) : 'n/a'}); the reference model is the SFT model.`,
    `- Equal budgets per run: ${c.run.prompts} prompts, K = ${c.generator.samplesPerPrompt} responses each (${c.run.prompts * c.generator.samplesPerPrompt} proxy labels), ` +
      `at most ${c.generator.maxNewTokens} new tokens, temperature ${c.generator.temperature}; best vs worst of K (${c.judge.pairing}); ${LOSS_NAMES[c.learner.loss]} β = ${c.learner.beta}${c.learner.labelSmoothing > 0 ? ` (label smoothing ${c.learner.labelSmoothing})` : ''}, ` +
      `lr ${c.learner.lr} (cosine, ${c.learner.totalSteps} steps), ${c.learner.batchSize} pairs per step, ${c.learner.epochsPerPhase} epoch(s) per phase.`,
    `- offline: one dataset sampled from the SFT model, then ${LOSS_NAMES[c.learner.loss]}. iterative (the paper's loop): ${c.run.iterations} iterations of generate -> label -> train on that iteration's pairs, ` +
      `warm start, reference = SFT. streaming: generator, judge and learner run at once; weights published every ${c.learner.publishEvery} steps; pairs older than ${c.learner.maxPolicyLag} versions are dropped.`,
    `- Evaluation: ${c.evaluator.prompts} held-out prompts, one response each at temperature ${c.evaluator.temperature}, scored by the gold judge (${c.data.task}); ` +
      `win rate = share of prompts where the gold judge prefers the policy's response to the SFT model's (ties half). ` +
      (e.evalsPerRun > 0
        ? `Every run is evaluated at SFT, then every ${MODES.map((m) => `${evalEvery(c, m)} version(s) in ${m}`).join(', ')} (about ${e.evalsPerRun} times in each mode), and at its end; `
        : `Evaluations every ${c.evaluator.everyVersions} policy version(s) and at the end; `) +
      `evaluations run on the same cores as the arm and count in its wall-clock.`,
    `- Seeds: ${[...new Set(ctx.runs.map((r) => r.seed))].join(', ')} (the online stage's sampling, shuffling and evaluation sampling; data, SFT and proxy models are shared). ` +
      `Figures are mean ± sample std [min, max] over seeds, except the interval section (bootstrap over prompts and seeds). KL is KL(policy || SFT) in nats per response, from the evaluation's own samples.`,
    `- Core busy: busy share of each core over the run from /proc/stat, for the whole machine (other processes count too); ` +
      `"this process's share" is the experiment process's own CPU time over (wall-clock × cores).`,
    '',
    '## Main results',
    '',
    ...mainTable(mainAggs, ctx.runs, e.targetWinRate),
    '',
    ...qualitySection(q),
    ...examplesSection(ctx.runs),
    ...goldJudgeSection(ctx.goldJudge),
    '## Budgets used',
    '',
    ...budgetTable(aggs),
    '',
    '## Where the time went',
    '',
    'Seconds each kind of work took (generator batches, proxy scoring, learner steps, evaluations), summed over actors; ' +
      'they overlap, so "work / wall-clock" above 1 means work ran at the same time (2 cores bound it near 2 when nothing else runs).',
    '',
    ...timeTable(aggs),
    '',
    ...ablationSections(ctx, aggs),
    '## Plots',
    '',
    ...plotNames.map((p) => `![${p.replace(/\.svg$/, '').replace(/_/g, ' ')}](${plotDir}/${p})`),
    '',
    '## Every run',
    '',
    ...runTable(ctx.runs),
    '',
    `Raw metrics logs, per-run reports and summaries are in the experiment folder \`${c.run.dir}/experiment-${ctx.id}/\`, one folder per run under \`arms/\`; the numbers above are in \`results.json\`.`,
    '',
  ];
  return lines.join('\n');
}
