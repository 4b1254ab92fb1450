// Child process for the checkpoint crash test: saves checkpoints in a loop (weights filled with the step) until killed.
import { saveCheckpoint } from '../../src/checkpoint/checkpoint.js';

const dir = process.argv[2]!;
const start = Number(process.argv[3] ?? '0');
const numel = 256 * 1024; // 1 MiB of F32: the write phase takes long enough for a kill to land in any part of a save

async function main(): Promise<void> {
  for (let step = start; ; step++) {
    const fill = new Float32Array(numel).fill(step);
    await saveCheckpoint(dir, {
      weights: { 'w.a': { dtype: 'F32', shape: [numel / 2], data: fill.subarray(0, numel / 2) }, 'w.b': { dtype: 'F32', shape: [numel / 2], data: fill.subarray(numel / 2) } },
      config: { step },
      optimizer: { 'adam.m': { dtype: 'F32', shape: [4], data: new Float32Array(4).fill(step) } },
      state: { step },
    });
    // One line per committed save, so the parent knows the newest step that must survive.
    process.stdout.write(`${step}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
