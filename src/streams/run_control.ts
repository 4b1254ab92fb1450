// The run's control plane as a port: source progress, work backlog, phases and the end of the run, behind one interface
// with a NATS KV implementation (multi-process runs) and an in-process one (one-process runs), as Bus has two.

/** Where the prompt source stands: a restarted source resumes from `published`; the drain check needs `exhausted`. */
export interface SourceProgress {
  published: number;
  budget: number;
  exhausted: boolean;
  ts: number;
}

/** Written once by the learner when the run is over; every other actor (and the launcher) exits on it. */
export interface RunEnd {
  state: 'done';
  /**
   * totalSteps: the learner reached learner.totalSteps; drained: the prompt budget ran out and the pipeline emptied;
   * phases: the last phase of an iterative or offline run was trained.
   */
  reason: 'totalSteps' | 'drained' | 'phases';
  steps: number;
  version: number;
  learnerId: string;
  ts: number;
}

/**
 * Phase-driven runs (iterative, offline): written by the learner. The source releases iteration t's prompts once
 * `completed >= t`, that is once the learner published the version trained on iteration t - 1.
 */
export interface PhaseProgress {
  /** Phases trained and published. */
  completed: number;
  iterations: number;
  /** The policy version published at the end of the last completed phase (0: SFT). */
  version: number;
  ts: number;
}

/** Work waiting in the pipeline, as every process of the run can see it. */
export interface Backlog {
  /** Prompts stored and not yet acked (waiting, or held by a generator). */
  prompts: number;
  /** Sample groups stored and not yet acked by a judge. */
  samples: number;
  /** Pairs stored and not yet acked (the learner acks at checkpoints). */
  pairs: number;
  /** Pairs the learner has not even been delivered yet. */
  pairsUndelivered: number;
}

/** The pairs topic's position: pairs ever stored (`lastSeq`) and pairs stored and not yet acked (`messages`). */
export interface PairsStored {
  lastSeq: number;
  messages: number;
}

/** What the run driver (src/run/run_driver.ts) reads and writes; the learner, the source and the launcher share it. */
export interface RunControl {
  source(): Promise<SourceProgress | undefined>;
  setSource(p: SourceProgress): Promise<void>;
  phase(): Promise<PhaseProgress | undefined>;
  setPhase(p: PhaseProgress): Promise<void>;
  end(): Promise<RunEnd | undefined>;
  markEnd(e: RunEnd): Promise<void>;
  /** Resolves with the end record once it is written, or undefined when `signal` aborts. */
  waitEnd(signal: AbortSignal): Promise<RunEnd | undefined>;
  backlog(): Promise<Backlog>;
  pairsStored(): Promise<PairsStored>;
}
