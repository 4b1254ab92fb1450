// Where a run's files go: <run.dir>/<run id>/ with the actors' exit records and the learner's trained-pair ledger.
import { join } from 'node:path';
import type { Config } from '../config/index.js';

export const runDirOf = (cfg: Config, runId: string): string => join(cfg.run.dir, runId);
export const ledgerFile = (runDir: string): string => join(runDir, 'trained_pairs.jsonl');
export const actorsDir = (runDir: string): string => join(runDir, 'actors');
