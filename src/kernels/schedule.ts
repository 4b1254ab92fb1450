// Learning-rate schedules: linear warm-up then cosine decay (as HF get_cosine_schedule_with_warmup, with a floor).

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

export interface CosineWithWarmupOptions {
  peakLr: number;
  /** Steps of linear warm-up from 0 to peakLr; the peak is reached at step == warmupSteps. */
  warmupSteps: number;
  /** The step at which the cosine reaches its floor; later steps stay at the floor. */
  totalSteps: number;
  /** Floor as a fraction of peakLr, in [0, 1]; default 0. */
  minLrRatio?: number;
}

/** The learning rate for 0-based `step`. */
export function cosineWithWarmup(step: number, opts: CosineWithWarmupOptions): number {
  const { peakLr, warmupSteps, totalSteps } = opts;
  const minLrRatio = opts.minLrRatio ?? 0;
  if (!Number.isFinite(step) || step < 0) throw new ScheduleError(`step must be a finite number >= 0; got ${step}`);
  if (!Number.isFinite(peakLr) || peakLr < 0) throw new ScheduleError(`peakLr must be a finite number >= 0; got ${peakLr}`);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new ScheduleError(`warmupSteps must be an integer >= 0; got ${warmupSteps}`);
  if (!Number.isInteger(totalSteps) || totalSteps < warmupSteps) {
    throw new ScheduleError(`totalSteps must be an integer >= warmupSteps (${warmupSteps}); got ${totalSteps}`);
  }
  if (!(minLrRatio >= 0 && minLrRatio <= 1)) throw new ScheduleError(`minLrRatio must be in [0, 1]; got ${minLrRatio}`);
  if (step < warmupSteps) return (peakLr * step) / warmupSteps;
  const minLr = peakLr * minLrRatio;
  const decaySteps = totalSteps - warmupSteps;
  if (decaySteps === 0) return step === warmupSteps ? peakLr : minLr;
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  return minLr + (peakLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
