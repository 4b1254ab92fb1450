// What the run's learner started from (the SFT checkpoint's folder and content hash), kept in the run folder for replay.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { redactSecrets, type Config } from '../config/index.js';
import { readManifest } from '../train/manifest.js';

export class LearnerStartError extends Error {
  override name = 'LearnerStartError';
}

export interface LearnerStart {
  sftDir: string;
  /** The SFT stage's input hash (its manifest): a replay refuses a folder whose hash differs. */
  sftHash: string;
  /** The proxy model the run's judges used (a counterfactual's evaluator reports its reward). */
  rmDir?: string;
}

export const learnerStartFile = (runDir: string): string => join(runDir, 'learner_start.json');
/** The learner's resolved config (secrets left out): the settings its steps were taken with, whoever started it. */
export const learnerConfigFile = (runDir: string): string => join(runDir, 'learner_config.json');

export function writeLearnerStart(runDir: string, dirs: { sftDir: string; rmDir?: string }, cfg: Config): LearnerStart {
  const start: LearnerStart = { sftDir: dirs.sftDir, sftHash: readManifest(dirs.sftDir)?.hash ?? 'unversioned', ...(dirs.rmDir ? { rmDir: dirs.rmDir } : {}) };
  writeFileSync(learnerStartFile(runDir), `${JSON.stringify(start, null, 2)}\n`);
  writeFileSync(learnerConfigFile(runDir), `${JSON.stringify(redactSecrets(cfg).cfg, null, 2)}\n`);
  return start;
}

/** The start record, checked against the SFT folder as it is now. */
export function readLearnerStart(runDir: string): LearnerStart {
  const file = learnerStartFile(runDir);
  if (!existsSync(file)) throw new LearnerStartError(`${file} is missing: the run predates replay records, or ${runDir} is not a run folder`);
  const start = JSON.parse(readFileSync(file, 'utf8')) as LearnerStart;
  const now = readManifest(start.sftDir)?.hash;
  if (now === undefined) throw new LearnerStartError(`the run started from ${start.sftDir}, which no longer holds an SFT checkpoint (rebuild it with the run's config, or point run.cacheDir at the original cache)`);
  if (now !== start.sftHash) throw new LearnerStartError(`${start.sftDir} now holds SFT ${now.slice(0, 12)}, not the run's ${start.sftHash.slice(0, 12)}`);
  return start;
}
