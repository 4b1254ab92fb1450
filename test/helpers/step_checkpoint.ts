// Checkpoints whose every part says one step, so a test can tell a whole checkpoint from a mix of two saves.
import assert from 'node:assert/strict';
import { loadCheckpoint, type CheckpointContents } from '../../src/checkpoint/checkpoint.js';

/** A checkpoint of `floats` weights, all equal to `step`, with config and state saying the same step. */
export const stepContents = (step: number, floats = 6): CheckpointContents => ({
  weights: { w: { dtype: 'F32', shape: [floats], data: new Float32Array(floats).fill(step) } },
  config: { step },
  state: { step },
});

/** Loads a checkpoint, checks that weights, config and state all say the same step, and returns it. */
export async function loadedStep(dir: string): Promise<number> {
  const ck = await loadCheckpoint(dir);
  const step = (ck.state as { step: number }).step;
  assert.equal((ck.config as { step: number }).step, step, 'config.json belongs to the same save as state.json');
  for (const t of Object.values(ck.weights)) assert.ok((t.data as Float32Array).every((x) => x === step), `weights belong to step ${step}`);
  return step;
}
