// The run's control plane inside one process: phase and end records in memory, source progress and backlog read live
// from the actors' own counters (the in-process bus has no server to ask).
import type { Backlog, PairsStored, PhaseProgress, RunControl, RunEnd, SourceProgress } from '../run_control.js';

/** Live counters of a one-process run: what the NATS implementation reads from the server. */
export interface InProcessRunView {
  /** The source's progress now; undefined until it started. */
  source(): SourceProgress | undefined;
  backlog(): Backlog;
  pairsStored(): PairsStored;
}

export class InProcessRunControl implements RunControl {
  private phaseRecord: PhaseProgress | undefined;
  private endRecord: RunEnd | undefined;
  private readonly endWaiters = new Set<(e: RunEnd) => void>();

  constructor(private readonly view: InProcessRunView) {}

  async source(): Promise<SourceProgress | undefined> {
    return this.view.source();
  }

  /** The live view already holds the source's progress: a one-process source has nothing to save for a successor. */
  async setSource(_p: SourceProgress): Promise<void> {}

  async phase(): Promise<PhaseProgress | undefined> {
    return this.phaseRecord;
  }

  async setPhase(p: PhaseProgress): Promise<void> {
    this.phaseRecord = { ...p };
  }

  async end(): Promise<RunEnd | undefined> {
    return this.endRecord;
  }

  async markEnd(e: RunEnd): Promise<void> {
    this.endRecord = { ...e };
    for (const w of this.endWaiters) w(this.endRecord);
    this.endWaiters.clear();
  }

  waitEnd(signal: AbortSignal): Promise<RunEnd | undefined> {
    if (this.endRecord) return Promise.resolve(this.endRecord);
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onEnd = (e: RunEnd): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(e);
      };
      const onAbort = (): void => {
        this.endWaiters.delete(onEnd);
        resolve(undefined);
      };
      this.endWaiters.add(onEnd);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async backlog(): Promise<Backlog> {
    return this.view.backlog();
  }

  async pairsStored(): Promise<PairsStored> {
    return this.view.pairsStored();
  }
}
