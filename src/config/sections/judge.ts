// Config slice for Judge actors: which scorer judges, and pair construction.
import { float, int, oneOf, str } from '../fields.js';

export const SCORER_NAMES = ['proxy', 'bt', 'pairwise', 'http-reward', 'llm-judge', 'module'] as const;

/** How a judge picks (chosen, rejected) among K scored responses; src/actors/pairing.ts implements them. */
export const PAIRING_RULES = ['max_min', 'max_random', 'random'] as const;
export type PairingRule = (typeof PAIRING_RULES)[number];

/** Whether a person labels groups on the dashboard's /label page (docs/labelling.md). */
export const HUMAN_MODES = ['off', 'mix', 'only'] as const;
export type HumanMode = (typeof HUMAN_MODES)[number];

export const judge = {
  count: int(1, 0, 256, 'judge actors; 0 (NATS only): the run waits for judges started by hand or written in another language'),
  scorer: oneOf(SCORER_NAMES, 'proxy', 'proxy: the trained proxy model of rm.kind; bt, pairwise: that proxy model (rm.kind must match); http-reward, llm-judge, module: a judge you bring (docs/scorers.md)'),
  url: str('', 'http-reward: the POST URL; llm-judge: the server (base, /v1 or full /chat/completions URL)'),
  apiKeyEnv: str('', 'name of the environment variable holding the API key, sent as a Bearer token; empty sends none', /^([A-Za-z_][A-Za-z0-9_]*)?$/),
  outageWaitMs: int(2_000, 1, 600_000, 'while the scorer is unavailable the judge holds its groups (unacked, kept alive) and retries this often'),
  pairing: oneOf(PAIRING_RULES, 'max_min', 'chosen/rejected rule: best vs worst of K, best vs random, or two random'),
  lengthPenalty: float(0, 0, 100, 'rank by r - lambda * length(tokens); 0 disables'),
  minMargin: float(1e-6, 0, 1e6, 'pairs whose (penalised) scores differ by less are ties and dropped'),
  batchSize: int(32, 1, 4096, 'samples scored per scorer call (groups of a call go out concurrently to network scorers)'),
  human: oneOf(HUMAN_MODES, 'off', 'a person in the loop on the dashboard\'s /label page: off; mix (judge.humanShare of groups wait for a person, then fall back to the scorer); only (every group waits for a person)'),
  humanShare: float(0.25, 0, 1, 'judge.human=mix: share of groups (drawn by group id) that wait for a person'),
  humanTimeoutMs: int(60_000, 1, 86_400_000, 'judge.human=mix: how long a group waits for a person before the scorer judges it'),
  proxyDir: str('', 'a proxy model folder to judge with instead of the cached one of rm.kind (e.g. runs/<id>/rm-bt-labels, written by train-rm --labels); empty: the cached one'),
  humanTokenEnv: str('RLHF_STREAM_LABEL_TOKEN', 'name of the environment variable holding the token the /label page asks for', /^[A-Za-z_][A-Za-z0-9_]*$/),
};
