// The scorers by config name (judge.scorer): an unknown name is refused with the known ones; each builds the judge's ScorerPort.
import type { ScorerPort } from '../actors/ports.js';
import { SCORER_NAMES } from '../config/sections/judge.js';
import type { Config } from '../config/index.js';
import { deriveSeed } from '../kernels/rng.js';
import { HttpClient } from './http_client.js';
import { HttpRewardScorer } from './http_reward.js';
import { LlmJudgeScorer } from './llm_judge.js';
import { loadModuleScorer } from './module_scorer.js';
import { ScorerConfigError, type Scorer } from './scorer.js';
import { TextScorerPort, type TextCodec } from './text_port.js';

export type ScorerName = (typeof SCORER_NAMES)[number];
export { SCORER_NAMES };

export type ScorerSections = Pick<Config, 'judge' | 'rm' | 'scorerHttp' | 'httpReward' | 'llmJudge' | 'scorerModule'>;

export interface ScorerContext {
  /** The trained proxy model of rm.kind, for proxy, bt and pairwise. */
  proxy: () => ScorerPort | Promise<ScorerPort>;
  /** Decodes token ids for the scorers that read text. */
  codec: TextCodec;
  /** Seeds the HTTP client's jitter (derive it per judge). */
  seed: number;
  /** Where the API key variable is read from (the process environment in a run). */
  env: Record<string, string | undefined>;
  /** Module paths resolve against it (default: the working directory). */
  cwd?: string;
}

/** Builds the text scorer a name stands for; the proxy names have none (they score tokens). */
type TextFactory = (cfg: ScorerSections, ctx: ScorerContext) => Promise<Scorer>;

function httpClient(cfg: ScorerSections, ctx: ScorerContext): HttpClient {
  const headers: Record<string, string> = {};
  const envName = cfg.judge.apiKeyEnv;
  if (envName) {
    const key = ctx.env[envName];
    if (key === undefined || key === '') throw new ScorerConfigError(`judge.apiKeyEnv names ${envName}, which is not set in the environment (or is empty)`);
    headers.authorization = `Bearer ${key}`;
  }
  return new HttpClient({ ...cfg.scorerHttp, seed: ctx.seed, headers });
}

const TEXT_SCORERS: Record<Exclude<ScorerName, 'proxy' | 'bt' | 'pairwise'>, TextFactory> = {
  'http-reward': async (cfg, ctx) => new HttpRewardScorer(httpClient(cfg, ctx), { url: cfg.judge.url, format: cfg.httpReward.format }),
  'llm-judge': async (cfg, ctx) => new LlmJudgeScorer(httpClient(cfg, ctx), { url: cfg.judge.url, ...cfg.llmJudge }),
  module: async (cfg, ctx) => loadModuleScorer({ path: cfg.scorerModule.path, kind: cfg.scorerModule.kind, exportName: cfg.scorerModule.export }, ctx.cwd),
};

export function isTextScorer(name: string): name is keyof typeof TEXT_SCORERS {
  return Object.hasOwn(TEXT_SCORERS, name);
}

/** The judge's scorer for `cfg.judge.scorer`. */
export async function createScorerPort(cfg: ScorerSections, ctx: ScorerContext): Promise<ScorerPort> {
  const name = cfg.judge.scorer as string;
  if (!(SCORER_NAMES as readonly string[]).includes(name)) {
    throw new ScorerConfigError(`judge.scorer must be one of ${SCORER_NAMES.join(', ')}; got ${JSON.stringify(name)}`);
  }
  if (!isTextScorer(name)) {
    if (name !== 'proxy' && name !== cfg.rm.kind) throw new ScorerConfigError(`judge.scorer ${name} needs rm.kind ${name}; got ${cfg.rm.kind}`);
    return ctx.proxy();
  }
  return new TextScorerPort(await TEXT_SCORERS[name](cfg, ctx), ctx.codec);
}

/** The seed of one judge's HTTP client (by index or actor id). */
export function scorerSeed(seed: number, judge: string | number): number {
  return deriveSeed(seed, 'scorer-http', judge);
}
