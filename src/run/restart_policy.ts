// What the launcher does when an actor process exits: the decision alone, as a pure function of what it knows.
import type { ActorRole } from './actor_process.js';

export interface ActorExit {
  role: ActorRole;
  /** Exit code; null when a signal killed it. */
  code: number | null;
  /** The run ended (the learner wrote its end) or the launcher is stopping it. */
  runOver: boolean;
  /** Restarts this actor already had. */
  restarts: number;
  maxRestarts: number;
  /** Other actors of the same role still up or restartable (not given up on). */
  peersLeft: number;
}

export type ExitDecision =
  /** Gone for good and nothing to worry about: the run is over, or an actor was taken out on purpose. */
  | { action: 'let-go'; why: 'run over' | 'clean exit' }
  | { action: 'restart'; attempt: number }
  /** Crashed past the restart limit; `fatal` when the run cannot go on without it. */
  | { action: 'give-up'; fatal: boolean };

/** Roles a run cannot end without: they come back whatever stopped them, and losing them ends the run. */
const ESSENTIAL: ReadonlySet<ActorRole> = new Set(['learner', 'source']);

export function decideOnExit(e: ActorExit): ExitDecision {
  if (e.runOver) return { action: 'let-go', why: 'run over' };
  // A clean exit mid-run is an actor taken out on purpose (SIGTERM): the others carry on without it.
  if (e.code === 0 && !ESSENTIAL.has(e.role)) return { action: 'let-go', why: 'clean exit' };
  if (e.restarts < e.maxRestarts) return { action: 'restart', attempt: e.restarts + 1 };
  return { action: 'give-up', fatal: ESSENTIAL.has(e.role) || e.peersLeft === 0 };
}
