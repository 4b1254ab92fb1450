// `train-rm --labels runs/<id>`: the proxy model trained again on the original preference data plus a run's human labels.
import type { LabelRecord } from '../streams/labels.js';
import type { Config } from '../config/index.js';
import { humanPreferencePairs, HumanPrefsError } from './human_prefs.js';
import { hashInputs, readManifest, writeManifest } from './manifest.js';
import { loadPreferenceData, prefsDir } from './preference_data.js';
import { rmDir, trainRewardModel, type RmKind } from './stages.js';
import type { TrainOptions } from './sft.js';

export interface RefitResult {
  dir: string;
  humanPairs: number;
  originalPairs: number;
  summary: Record<string, unknown>;
}

/** The refitted model goes into `dir` (the CLI: the run's rm-<kind>-labels), so the cached proxy of the config stays as it was. */
export async function refitOnLabels(cfg: Config, kind: RmKind, sftDir: string, labels: { records: readonly LabelRecord[]; from: string }, dir: string, opts: TrainOptions = {}): Promise<RefitResult> {
  const human = humanPreferencePairs(labels.records);
  if (human.length === 0) throw new HumanPrefsError(`${labels.from} holds no label that prefers one response (only ties, or none)`);
  const prefs = loadPreferenceData(prefsDir(cfg));
  // The held-out pairs stay the original gold-labelled ones: the figure compares the refit with the cached proxy.
  const summary = { ...(await trainRewardModel(cfg, kind, sftDir, { train: [...prefs.train, ...human], heldOut: prefs.heldOut }, { ...opts, dir })), humanPairs: human.length };
  // Its own version: the judge's model id (kind@hash) tells pairs of the refit from pairs of the cached proxy.
  const inputs = { stage: `rm-${kind}-labels`, base: readManifest(rmDir(cfg, kind))?.hash ?? 'unversioned', labels: hashInputs(human) };
  writeManifest(dir, { stage: `rm-${kind}-labels`, hash: hashInputs(inputs), inputs, files: ['model.safetensors', 'config.json', 'tokenizer.json'], summary });
  return { dir, humanPairs: human.length, originalPairs: prefs.train.length, summary };
}
