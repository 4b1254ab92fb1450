// Evaluation after a run, from the versions it left in the weight store: for speed benchmarks that keep the evaluator
// off the cores being measured. Each version is scored exactly as the evaluator actor would have scored it during the
// run (same prompts, seeds and gold judge); its time is when the learner published it.
import { systemClock } from '../src/clock.js';
import { Evaluator, type EvalReport } from '../src/actors/evaluator.js';
import { MetricsRegistry } from '../src/actors/metrics.js';
import type { Config } from '../src/config/index.js';
import { evalPoints, type EvalPoint } from '../src/experiment/results.js';
import { evaluatorOptions } from '../src/run/actor_options.js';
import { evalPrompts, findArtifacts, loadTokenizer } from '../src/run/artifacts.js';
import { closeAll, goldScorer, localPolicy, scorerPort, workerPolicy } from '../src/run/ports.js';
import { NatsBus } from '../src/streams/nats/bus.js';

/** The versions to score: every `every`-th one published, and the last. */
export function versionsToScore(latest: number, every: number): number[] {
  const out: number[] = [];
  for (let v = every; v <= latest; v += every) out.push(v);
  if (latest > 0 && out.at(-1) !== latest) out.push(latest);
  return out;
}

/**
 * Scores the run's versions (`every`-th and the last) against its NATS server, which must still hold them, and returns
 * one point per version timed at its publication (seconds from `startedAt`). The SFT baseline is scored first, as the
 * evaluator actor does.
 */
export async function evaluateAfterRun(cfg: Config, servers: string[], runId: string, startedAt: number, every: number): Promise<EvalPoint[]> {
  const bus = await NatsBus.connect({ ...cfg.bus, kind: 'nats', servers }, runId, { log: () => undefined });
  const artifacts = findArtifacts(cfg);
  const tok = loadTokenizer(artifacts);
  const policy = await workerPolicy(cfg, artifacts, () => undefined);
  const reference = await localPolicy(artifacts);
  const scorer = await scorerPort(artifacts);
  const gold = await goldScorer(cfg);
  try {
    const ev = new Evaluator(
      { bus, policy: policy.port, reference: reference.port, scorer: scorer.port, gold: gold.port, decode: policy.decode, clock: systemClock, metrics: new MetricsRegistry() },
      evaluatorOptions(cfg, 'posthoc-evaluator', evalPrompts(cfg, artifacts.data.prompts.eval, tok)),
    );
    await ev.evaluateVersion(0);
    const latest = (await bus.weights.latest())?.version ?? 0;
    const points: EvalPoint[] = [];
    for (const v of versionsToScore(latest, every)) {
      const meta = (await bus.weights.get(v))?.meta;
      if (!meta) throw new Error(`version ${v} of run ${runId} is no longer in the weight store`);
      const r: EvalReport = await ev.evaluateVersion(v);
      // Timed at the version's publication, not at this evaluation.
      points.push(...evalPoints([{ ...r, ts: meta.createdAt }], startedAt));
    }
    return points;
  } finally {
    await closeAll([gold, scorer, reference, policy]);
    await bus.close();
  }
}
