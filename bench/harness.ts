// What the benchmarks share: medians, CPU-and-wall timing of a call, and the AdamW language-model training step they time.
import * as tf from '@tensorflow/tfjs-core';
import { loadavg } from 'node:os';
import { AdamW } from '../src/kernels/adamw.js';
import { forwardLogits, type GptModel } from '../src/kernels/gpt.js';
import { lmLoss } from '../src/kernels/lm_loss.js';
import { Rng } from '../src/kernels/rng.js';

/** Median milliseconds of one call: process CPU time (what the run costs alone) and wall-clock. */
export interface Timing {
  cpu: number;
  wall: number;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The machine's 1-, 5- and 15-minute load averages, for the benchmark's header and footer. */
export const loadAverages = (): string => loadavg().map((x) => x.toFixed(1)).join(' ');

/** Per-call CPU and wall milliseconds of `reps` calls of f (no warm-up: the caller runs one when it needs it). */
export function timeCalls(reps: number, f: () => void): { cpu: number[]; wall: number[] } {
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { cpu, wall };
}

/** Median timing of f over reps runs after one warm-up run (kernel setup, first-touch allocation). */
export function time(reps: number, f: () => void): Timing {
  f();
  const t = timeCalls(reps, f);
  return { cpu: median(t.cpu), wall: median(t.wall) };
}

/**
 * One AdamW language-model training step on a fixed random batch of [batch, length] tokens, as SFT takes it.
 * `dispose` frees the batch and the optimizer state (not the model).
 */
export function lmTrainingStep(model: GptModel, batch: number, length: number, seed = 2): { step: () => void; input: tf.Tensor2D; target: tf.Tensor2D; mask: tf.Tensor2D; dispose: () => void } {
  const rng = new Rng(seed);
  const vocab = model.cfg.vocabSize;
  const seqs = Array.from({ length: batch }, () => Array.from({ length: length + 1 }, () => rng.int(vocab)));
  const input = tf.tensor2d(seqs.map((s) => s.slice(0, -1)), [batch, length], 'int32');
  const target = tf.tensor2d(seqs.map((s) => s.slice(1)), [batch, length], 'int32');
  const mask = tf.ones([batch, length]) as tf.Tensor2D;
  const opt = new AdamW({ lr: 1e-4, weightDecay: 0.01 });
  const names = new Map(Object.entries(model.params).map(([n, v]) => [v.name, n]));
  const step = (): void => {
    const { value, grads } = tf.variableGrads(() => lmLoss(forwardLogits(model, input), target, mask), Object.values(model.params));
    opt.step(model.params, Object.fromEntries(Object.entries(grads).map(([k, g]) => [names.get(k)!, g])));
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  return { step, input, target, mask, dispose: () => { opt.dispose(); tf.dispose([input, target, mask]); } };
}
