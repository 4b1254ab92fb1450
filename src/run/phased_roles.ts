// Iterative and offline runs across processes: the learner drives the phases through the run's control bucket, the
// source releases each phase's prompts only once the learner published the version trained on the phase before it.
import { systemClock } from '../clock.js';
import type { Learner } from '../actors/learner.js';
import type { PromptSource } from '../actors/prompt_source.js';
import { checkPhaseStart, type Config } from '../config/index.js';
import { phasePrompts } from './actor_options.js';
import type { RunControl } from './run_control.js';

export class PhasedRunError extends Error {
  override name = 'PhasedRunError';
}

/** Cumulative prompt counts at the end of each phase. */
export function phaseEnds(cfg: Config): number[] {
  let total = 0;
  return phasePrompts(cfg).map((n) => (total += n));
}

interface PhaseContext {
  control: RunControl;
  log: (line: string) => void;
  /** Set when the bus is closed: control reads then stop retrying. */
  closed: () => boolean;
}

/** Polls `read` until it returns true; a failing read (server restarting) is logged and retried. */
async function pollUntil(what: string, c: PhaseContext, signal: AbortSignal, everyMs: number, read: () => Promise<boolean>): Promise<boolean> {
  let lastLog = 0;
  while (!signal.aborted) {
    try {
      if (await read()) return true;
    } catch (err) {
      if (c.closed()) return false;
      if (Date.now() - lastLog > 5000) c.log(`${what}: control read failed (${(err as Error).message}); retrying`);
      lastLog = Date.now();
    }
    await systemClock.sleep(everyMs, signal);
  }
  return false;
}

/**
 * The source of a phase-driven run: phase t's prompts go out once the learner recorded `completed >= t`. A restarted
 * source skips the prompts it already published (`source.published`) and finishes a phase it had started.
 */
export async function releasePhases(cfg: Config, source: PromptSource, c: PhaseContext & { signal: AbortSignal; save: () => Promise<void>; setState: (s: string) => void }): Promise<void> {
  const ends = phaseEnds(cfg);
  for (let t = 0; t < ends.length && !c.signal.aborted; t++) {
    if (source.published >= ends[t]!) continue;
    c.setState(`iteration ${t + 1}/${ends.length}: waiting for the learner`);
    const released = await pollUntil('source', c, c.signal, 100, async () => ((await c.control.phase())?.completed ?? -1) >= t);
    if (!released) return;
    c.setState(`iteration ${t + 1}/${ends.length}: released`);
    await source.publishNext(ends[t]! - source.published);
    // The learner's phase-end check reads this record: it must say the phase's prompts are all out.
    await c.save();
    c.log(`source: iteration ${t + 1}/${ends.length} released (${source.published} of ${cfg.run.prompts} prompts)`);
  }
}

export interface PhaseDriverContext extends PhaseContext {
  /** Aborted when the learner is stopped from outside. */
  signal: AbortSignal;
  pollMs?: number;
  /** Stream sequences of pairs the ledger filter acked without handing them to the learner (already checkpoint-trained). */
  skippedSeqs?: readonly number[];
}

/**
 * The learner of a phase-driven run. For each phase: notes the pairs stream's position, records the phase as open
 * (which releases its prompts), takes the phase's pairs as they are labelled, and, once the source published the
 * phase's prompts and no prompt or sample group is left unacked, knows the phase's pair count from the stream's
 * sequence numbers. It then trains the rest, publishes one version and records the phase as completed.
 *
 * A restarted learner resumes at the first phase not recorded as completed: pairs of that phase it had already
 * acked (checkpointed) are gone from the stream and are not counted again (`lastSeq - messages` at its start). A pair
 * whose ack a crash lost (checkpointed, then the process died before the ack reached the server) is acked by the
 * ledger filter without reaching the learner; the phase counts it as settled (`skippedSeqs`) instead of waiting for it.
 */
export async function drivePhases(cfg: Config, l: Learner, c: PhaseDriverContext): Promise<void> {
  checkPhaseStart(cfg);
  const ends = phaseEnds(cfg);
  const iterations = ends.length;
  const prev = await c.control.phase();
  if (prev && prev.iterations !== iterations) {
    throw new PhasedRunError(`the run's control record has ${prev.iterations} phases but this config makes ${iterations} (run.mode ${cfg.run.mode}, run.iterations ${cfg.run.iterations})`);
  }
  const first = prev?.completed ?? 0;
  if (first > 0) c.log(`learner: resuming at iteration ${first + 1}/${iterations}`);
  for (let t = first; t < iterations && !c.signal.aborted; t++) {
    const start = await c.control.pairsStored();
    // At this process's first phase, stored and not yet acked pairs (a restart mid-phase) still come to it; acked ones
    // never again. After a phase it drove itself, every earlier pair was its own: its last acks may still be in flight
    // (the server would count those pairs as stored a moment longer), so the phase starts at the last sequence.
    const base = t === first ? start.lastSeq - start.messages : start.lastSeq;
    await c.control.setPhase({ completed: t, iterations, version: l.version, ts: Date.now() });
    let settle!: { resolve: (n: number) => void; reject: (e: unknown) => void };
    const expected = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
    // A pair past `base` that the ledger filter settled belongs to this phase's count though the learner never sees it.
    const skipped = c.skippedSeqs ?? [];
    const training = l.trainPhase(expected, cfg.learner.epochsPerPhase, () => skipped.filter((s) => s > base).length);
    training.catch(() => undefined);
    try {
      let quiet = 0;
      const labelled = await pollUntil('learner', c, c.signal, c.pollMs ?? 250, async () => {
        // The record that releases this phase's prompts is written again if anything replaced it: the source waits on it.
        if ((await c.control.phase())?.completed !== t) await c.control.setPhase({ completed: t, iterations, version: l.version, ts: Date.now() });
        const src = await c.control.source();
        const out = src !== undefined && (src.published >= ends[t]! || src.exhausted);
        const b = out ? await c.control.backlog() : undefined;
        // Two quiet polls in a row, as for the streaming drain check.
        quiet = b && b.prompts === 0 && b.samples === 0 ? quiet + 1 : 0;
        return quiet >= 2;
      });
      if (!labelled) throw new PhasedRunError(`stopped while iteration ${t + 1}/${iterations} was labelled`);
      settle.resolve((await c.control.pairsStored()).lastSeq - base);
      const r = await training;
      if (c.signal.aborted) return;
      await c.control.setPhase({ completed: t + 1, iterations, version: l.version, ts: Date.now() });
      c.log(`learner: iteration ${t + 1}/${iterations} trained: ${r.pairs} pairs, ${r.steps} steps, version ${r.version}`);
    } catch (err) {
      settle.reject(err);
      await training.catch(() => undefined);
      throw err;
    }
  }
}
