// Wires a person into a one-process run (judge.human): the desk the judges share, its label log, and the /label routes.
import { HumanDesk } from '../actors/human_desk.js';
import type { Config } from '../config/index.js';
import { ConfigError } from '../config/index.js';
import { deriveSeed } from '../kernels/rng.js';
import { labelRoutes, type LabelHandler } from '../monitor/label_routes.js';
import { LabelLog, labelsFile } from './label_log.js';

export interface HumanLabelling {
  desk: HumanDesk;
  routes: LabelHandler;
  close(): void;
}

/** The label token from the environment variable judge.humanTokenEnv names; undefined when judge.human is off. */
export function labelToken(cfg: Config, env: NodeJS.ProcessEnv): string | undefined {
  if (cfg.judge.human === 'off') return undefined;
  const name = cfg.judge.humanTokenEnv;
  const token = env[name];
  if (token === undefined || token.length < 8) {
    throw new ConfigError(`judge.human is ${JSON.stringify(cfg.judge.human)}: the /label page needs a token of at least 8 characters in the environment variable ${name} (judge.humanTokenEnv); ${token === undefined ? 'it is not set' : `it holds ${token.length}`}`);
  }
  return token;
}

export function humanLabelling(cfg: Config, runDir: string, token: string, decode: (ids: number[]) => string): HumanLabelling {
  const log = new LabelLog(labelsFile(runDir));
  const desk = new HumanDesk({ now: () => Date.now(), decode, record: (r) => log.append(r), seed: deriveSeed(cfg.compute.seed, 'judge') });
  const routes = labelRoutes({ desk, token, tokenSource: `environment variable ${cfg.judge.humanTokenEnv}` });
  return { desk, routes, close: () => log.close() };
}
