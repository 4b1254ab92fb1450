// Cosine schedule with linear warm-up: the warm-up ramp, the peak, the floor and monotone decay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cosineWithWarmup, ScheduleError } from '../../src/kernels/schedule.js';

const opts = { peakLr: 1e-3, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} != ${b}`);

test('linear warm-up from 0 to the peak at warmupSteps', () => {
  close(cosineWithWarmup(0, opts), 0);
  close(cosineWithWarmup(5, opts), 5e-4);
  close(cosineWithWarmup(10, opts), 1e-3);
  for (let s = 1; s <= 10; s++) assert.ok(cosineWithWarmup(s, opts) > cosineWithWarmup(s - 1, opts));
});

test('cosine decay to minLr at totalSteps, monotone, halfway at the midpoint, flat after', () => {
  close(cosineWithWarmup(60, opts), 1e-4 + 0.5 * (1e-3 - 1e-4));
  close(cosineWithWarmup(110, opts), 1e-4);
  close(cosineWithWarmup(500, opts), 1e-4);
  for (let s = 11; s <= 110; s++) assert.ok(cosineWithWarmup(s, opts) < cosineWithWarmup(s - 1, opts), `step ${s}`);
  close(cosineWithWarmup(110, { ...opts, minLrRatio: undefined }), 0);
});

test('no warm-up starts at the peak; bad options are named', () => {
  close(cosineWithWarmup(0, { peakLr: 2, warmupSteps: 0, totalSteps: 4 }), 2);
  close(cosineWithWarmup(2, { peakLr: 2, warmupSteps: 0, totalSteps: 4 }), 1);
  assert.throws(() => cosineWithWarmup(1, { ...opts, totalSteps: 5 }), (e: Error) => e instanceof ScheduleError && /totalSteps must be an integer >= warmupSteps \(10\); got 5/.test(e.message));
  assert.throws(() => cosineWithWarmup(-1, opts), /step must be a finite number >= 0; got -1/);
  assert.throws(() => cosineWithWarmup(1, { ...opts, minLrRatio: 2 }), /minLrRatio must be in \[0, 1\]; got 2/);
});
