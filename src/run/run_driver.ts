// Drives a run over the RunControl port, the same in one process and across processes: the drain check of a streaming
// run, the phase loop of an iterative or offline run (learner side and source side), and the end record.
import type { Clock } from '../clock.js';
import type { Learner } from '../actors/learner.js';
import type { PromptSource } from '../actors/prompt_source.js';
import { checkPhaseStart, type Config } from '../config/index.js';
import type { Backlog, PairsStored, PhaseProgress, RunControl, RunEnd, SourceProgress } from '../streams/run_control.js';
import { isPhased, phasePrompts } from './actor_options.js';

export class PhasedRunError extends Error {
  override name = 'PhasedRunError';
}

// ---- Decisions (pure) ----

/** Quiet polls in a row that make a pipeline drained: a pair taken between the backlog read and the learner's count cannot fool two. */
export const QUIET_POLLS = 2;

/**
 * Nothing more will reach the learner: the source spent its budget, no prompt or sample group waits, and every stored
 * pair is one the learner holds. `backlog` is undefined while the source is still publishing.
 */
export function pipelineDrained(source: SourceProgress | undefined, backlog: Backlog | undefined, learnerHeld: number): boolean {
  return source?.exhausted === true && backlog !== undefined && backlog.prompts === 0 && backlog.samples === 0 && backlog.pairs === learnerHeld;
}

/** Work waiting downstream of the generators: sample groups, and pairs not yet delivered (streaming flow control). */
export const waitingWork = (b: Backlog): number => b.samples + b.pairsUndelivered;

/** The quiet-poll count after one drain poll: one more when the pipeline looks drained, back to 0 otherwise. */
export const drainPoll = (quiet: number, source: SourceProgress | undefined, backlog: Backlog | undefined, learnerHeld: number): number =>
  pipelineDrained(source, backlog, learnerHeld) ? quiet + 1 : 0;

/** Cumulative prompt counts at the end of each phase. */
export function phaseEnds(cfg: Config): number[] {
  let total = 0;
  return phasePrompts(cfg).map((n) => (total += n));
}

/** The first phase to drive: the one after the last recorded as completed; a record made by another phase count is refused. */
export function resumePhase(prev: PhaseProgress | undefined, iterations: number, what: string): number {
  if (prev && prev.iterations !== iterations) throw new PhasedRunError(`the run's control record has ${prev.iterations} phases but this config makes ${iterations} (${what})`);
  return prev?.completed ?? 0;
}

/**
 * The pairs sequence a phase's count starts after. At the driver's first phase, stored and not yet acked pairs (a
 * restart mid-phase) still come to it, acked ones never again. After a phase it drove itself every earlier pair was
 * its own: its last acks may still be in flight, so the phase starts at the last sequence.
 */
export const phaseBase = (t: number, first: number, stored: PairsStored): number => (t === first ? stored.lastSeq - stored.messages : stored.lastSeq);

/** The source published every prompt of the phase ending at `phaseEnd` (or all it had). */
export const phasePromptsOut = (source: SourceProgress | undefined, phaseEnd: number): boolean =>
  source !== undefined && (source.published >= phaseEnd || source.exhausted);

/** The quiet-poll count after one poll of a phase's labelling: its prompts are all out and no prompt or sample group waits. */
export function phasePoll(quiet: number, source: SourceProgress | undefined, backlog: Backlog | undefined, phaseEnd: number): number {
  return phasePromptsOut(source, phaseEnd) && backlog !== undefined && backlog.prompts === 0 && backlog.samples === 0 ? quiet + 1 : 0;
}

/** The phase whose prompts the source publishes next: the first whose end it has not reached (ends.length when none). */
export const nextPhaseToRelease = (published: number, ends: readonly number[]): number => {
  const t = ends.findIndex((end) => published < end);
  return t < 0 ? ends.length : t;
};

/** The record that ends the run. */
export const runEnd = (reason: RunEnd['reason'], l: { step: number; version: number }, learnerId: string, ts: number): RunEnd => ({
  state: 'done',
  reason,
  steps: l.step,
  version: l.version,
  learnerId,
  ts,
});

// ---- The loops ----

export interface DriverContext {
  control: RunControl;
  clock: Clock;
  log: (line: string) => void;
  /** Aborted when the run is stopped from outside. */
  signal: AbortSignal;
  /** Set when the bus is closed: control reads then stop retrying. */
  closed: () => boolean;
  pollMs?: number;
}

/** Polls `read` until it returns true (false: stopped); a failing read (server restarting) is logged and retried. */
async function pollUntil(what: string, c: DriverContext, everyMs: number, read: () => Promise<boolean>): Promise<boolean> {
  let lastLog = -Infinity;
  while (!c.signal.aborted) {
    try {
      if (await read()) return true;
    } catch (err) {
      if (c.closed()) return false;
      if (c.clock.now() - lastLog > 5000) c.log(`${what}: control read failed (${(err as Error).message}); retrying`);
      lastLog = c.clock.now();
    }
    await c.clock.sleep(everyMs, c.signal);
  }
  return false;
}

/**
 * Resolves once the prompt budget is spent and every stored pair is in the learner's hands (QUIET_POLLS in a row),
 * or when stopped. `onStall` hears, at most every 10 s, the backlog of a spent budget whose pipeline does not empty.
 */
export async function waitDrained(c: DriverContext & { held: () => number; onStall?: (b: Backlog) => Promise<void> }): Promise<void> {
  let quiet = 0;
  let lastSaid = c.clock.now();
  await pollUntil('learner: drain check', c, c.pollMs ?? 500, async () => {
    const before = quiet;
    quiet = 0; // a failed read breaks the run of quiet polls
    const src = await c.control.source();
    const b = src?.exhausted ? await c.control.backlog() : undefined;
    quiet = drainPoll(before, src, b, c.held());
    if (b && quiet === 0 && c.onStall && c.clock.now() - lastSaid > 10_000) {
      lastSaid = c.clock.now();
      await c.onStall(b);
    }
    return quiet >= QUIET_POLLS;
  });
}

/**
 * The source of a phase-driven run: phase t's prompts go out once the learner recorded `completed >= t`. A restarted
 * source skips the prompts it already published (`source.published`) and finishes a phase it had started.
 */
export async function releasePhases(
  cfg: Config,
  source: PromptSource,
  c: DriverContext & { save: () => Promise<void>; setState: (s: string) => void },
): Promise<void> {
  const ends = phaseEnds(cfg);
  for (let t = nextPhaseToRelease(source.published, ends); t < ends.length && !c.signal.aborted; t++) {
    c.setState(`iteration ${t + 1}/${ends.length}: waiting for the learner`);
    const released = await pollUntil('source', c, Math.min(c.pollMs ?? 100, 100), async () => ((await c.control.phase())?.completed ?? -1) >= t);
    if (!released) return;
    c.setState(`iteration ${t + 1}/${ends.length}: released`);
    await source.publishNext(ends[t]! - source.published);
    // The learner's phase-end check reads this record: it must say the phase's prompts are all out.
    await c.save();
    c.log(`source: iteration ${t + 1}/${ends.length} released (${source.published} of ${cfg.run.prompts} prompts)`);
  }
}

/**
 * The learner of a phase-driven run. For each phase: notes the pairs topic's position, records the phase as open
 * (which releases its prompts), takes the phase's pairs as they are labelled, and, once the source published the
 * phase's prompts and no prompt or sample group is left, knows the phase's pair count from the pairs sequence. It then
 * trains the rest, publishes one version and records the phase as completed.
 *
 * A restarted learner resumes at the first phase not recorded as completed (phaseBase). A pair whose ack a crash lost
 * is acked by the ledger filter without reaching the learner; the phase counts it as settled (`skippedSeqs`).
 */
export async function drivePhases(cfg: Config, l: Learner, c: DriverContext & { skippedSeqs?: readonly number[] }): Promise<void> {
  checkPhaseStart(cfg);
  const ends = phaseEnds(cfg);
  const iterations = ends.length;
  const first = resumePhase(await c.control.phase(), iterations, `run.mode ${cfg.run.mode}, run.iterations ${cfg.run.iterations}`);
  if (first > 0) c.log(`learner: resuming at iteration ${first + 1}/${iterations}`);
  const record = (completed: number): Promise<void> => c.control.setPhase({ completed, iterations, version: l.version, ts: c.clock.now() });
  for (let t = first; t < iterations && !c.signal.aborted; t++) {
    const base = phaseBase(t, first, await c.control.pairsStored());
    await record(t);
    let settle!: { resolve: (n: number) => void; reject: (e: unknown) => void };
    const expected = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
    // A pair past `base` that the ledger filter settled belongs to this phase's count though the learner never sees it.
    const skipped = c.skippedSeqs ?? [];
    const training = l.trainPhase(expected, cfg.learner.epochsPerPhase, () => skipped.filter((s) => s > base).length);
    training.catch(() => undefined);
    try {
      let quiet = 0;
      const labelled = await pollUntil('learner', c, c.pollMs ?? 250, async () => {
        // The record that releases this phase's prompts is written again if anything replaced it: the source waits on it.
        if ((await c.control.phase())?.completed !== t) await record(t);
        const src = await c.control.source();
        const b = phasePromptsOut(src, ends[t]!) ? await c.control.backlog() : undefined;
        quiet = phasePoll(quiet, src, b, ends[t]!);
        return quiet >= QUIET_POLLS;
      });
      if (!labelled) throw new PhasedRunError(`stopped while iteration ${t + 1}/${iterations} was labelled`);
      settle.resolve((await c.control.pairsStored()).lastSeq - base);
      const r = await training;
      if (c.signal.aborted) return;
      await record(t + 1);
      c.log(`learner: iteration ${t + 1}/${iterations} trained: ${r.pairs} pairs, ${r.steps} steps, version ${r.version}`);
    } catch (err) {
      settle.reject(err);
      await training.catch(() => undefined);
      throw err;
    }
  }
}

/**
 * Why the learner's part of the run ends: every phase trained (phase-driven), or totalSteps reached or the pipeline
 * drained (streaming), whichever comes first. Resolves only once one of them happened; undefined when stopped.
 */
export async function driveLearner(
  cfg: Config,
  l: Learner,
  c: DriverContext & {
    skippedSeqs?: readonly number[];
    /** The drain check's poll period (default 500 ms); `pollMs` is the phase loop's. */
    drainPollMs?: number;
    onStall?: (b: Backlog) => Promise<void>;
    onPhases?: (driving: Promise<void>) => void;
  },
): Promise<RunEnd['reason'] | undefined> {
  if (isPhased(cfg)) {
    const driving = drivePhases(cfg, l, c);
    c.onPhases?.(driving);
    await driving;
    return c.signal.aborted ? undefined : 'phases';
  }
  const byDrain = waitDrained({ ...c, pollMs: c.drainPollMs ?? 500, held: () => l.held }).then(() => (c.signal.aborted ? undefined : ('drained' as const)));
  return Promise.race([l.finished.then(() => 'totalSteps' as const), byDrain]);
}
