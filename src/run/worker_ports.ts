// Main-thread ports whose compute runs in a worker thread (src/run/role_worker.ts): the DPO learner, the proxy scorer
// and the gold judge.
import { workerBackendNote } from '../kernels/backend.js';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { GoldScorer } from '../actors/evaluator.js';
import type { LearnerPort, ScoreRequest, ScorerPort, StepStats } from '../actors/ports.js';
import type { GoldScore } from '../gold/index.js';
import type { PairMsg } from '../streams/topics.js';
import type { Config } from '../config/index.js';
import type { ModelDirs } from './artifacts.js';
import type { Owned } from './ports.js';
import type { WorkerRole } from './role_worker.js';
import { CheckpointError, NoCheckpointError } from '../checkpoint/checkpoint.js';
import { ComputeError } from '../actors/compute/local_policy.js';
import { HfFolderError } from '../models/hf_folder.js';
import { TokenizerError } from '../data/tokenizer.js';

// A worker thread's error reaches this thread structured-cloned: a plain Error whose stack still starts with the class
// name. The classes callers tell apart (a corrupt checkpoint is the user's to fix, not a bug) are rebuilt from it.
const REVIVED: Record<string, new (message: string, options?: ErrorOptions) => Error> = {
  CheckpointError,
  NoCheckpointError,
  ComputeError,
  HfFolderError,
  TokenizerError,
};

/** The error as its own class again when it is one of REVIVED; the cloned original is its cause. */
export function reviveWorkerError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const name = /^(\w+)(?::|$)/.exec(err.stack ?? '')?.[1] ?? err.name;
  const cls = REVIVED[name];
  if (cls === undefined || err instanceof cls) return err;
  return new cls((err as Error).message, { cause: err });
}

async function run<T>(pool: Piscina, task: unknown, name: string): Promise<T> {
  try {
    return (await pool.run(task, { name })) as T;
  } catch (err) {
    throw reviveWorkerError(err);
  }
}

/** One worker thread for one role's port; calls queue in order, and the model stays put between them. */
class RoleThread {
  private constructor(
    private readonly pool: Piscina,
    readonly line: string,
    readonly modelId: string | undefined,
  ) {}

  static async start(role: WorkerRole, cfg: Config, dirs: Pick<ModelDirs, 'sftDir' | 'rmDir'> = { sftDir: '', rmDir: '' }): Promise<RoleThread> {
    const filename = fileURLToPath(new URL('./role_worker.js', import.meta.url));
    const pool = new Piscina({ filename, minThreads: 1, maxThreads: 1, idleTimeout: Number.POSITIVE_INFINITY });
    try {
      const r = await run<{ line: string; modelId?: string }>(pool, { role, cfg, dirs: { sftDir: dirs.sftDir, rmDir: dirs.rmDir } }, 'init');
      return new RoleThread(pool, r.line, r.modelId);
    } catch (err) {
      await pool.destroy();
      throw err;
    }
  }

  /** The port's comparison count after the last call (pairwise scorers). */
  comparisons: number | undefined;

  async call<T>(method: string, ...args: unknown[]): Promise<T> {
    const r = await run<{ value: T; comparisons?: number }>(this.pool, { method, args }, 'call');
    if (r.comparisons !== undefined) this.comparisons = r.comparisons;
    return r.value;
  }

  async close(): Promise<void> {
    try {
      await this.pool.run({}, { name: 'close' });
    } finally {
      await this.pool.destroy();
    }
  }
}

/** The DPO learner (policy, reference, optimizer) in its own worker thread. */
export async function workerLearner(cfg: Config, dirs: ModelDirs, log: (line: string) => void): Promise<Owned<LearnerPort>> {
  const t = await RoleThread.start('learner', cfg, dirs);
  log(`learner worker thread: ${workerBackendNote(t.line) ?? 'started, same backend'}`);
  const port: LearnerPort = {
    step: (pairs: PairMsg[], weights: number[]) => t.call<StepStats>('step', pairs, weights),
    exportWeights: () => t.call<Uint8Array>('exportWeights'),
    saveCheckpoint: (dir: string, state: Record<string, unknown>) => t.call<void>('saveCheckpoint', dir, state),
    loadCheckpoint: (dir: string) => t.call<Record<string, unknown> | undefined>('loadCheckpoint', dir),
    setThreads: (threads: number) => t.call<number>('setThreads', threads),
    close: async () => {},
  };
  return { port, close: () => t.close() };
}

/** The proxy preference model in its own worker thread; every judge of the process shares it. */
export async function workerScorer(cfg: Config, dirs: ModelDirs, log: (line: string) => void): Promise<Owned<ScorerPort>> {
  const t = await RoleThread.start('scorer', cfg, dirs);
  log(`scorer worker thread: ${workerBackendNote(t.line) ?? 'started, same backend'}`);
  const port: ScorerPort = {
    modelId: t.modelId ?? 'unknown',
    get comparisons() {
      return t.comparisons;
    },
    score: (promptTokens: number[], responses: number[][]) => t.call<number[]>('score', promptTokens, responses),
    scoreMany: (requests: ScoreRequest[]) => t.call<number[][]>('scoreMany', requests),
    close: async () => {},
  };
  return { port, close: () => t.close() };
}

/**
 * The evaluator's gold judge in its own worker thread: scoring an evaluation's responses (harper.js linting most of
 * it) would otherwise hold the main thread, which moves every actor's messages, for seconds at a time.
 */
export async function workerGold(cfg: Config, log: (line: string) => void): Promise<Owned<GoldScorer>> {
  const t = await RoleThread.start('gold', cfg);
  log(`gold judge worker thread: ${workerBackendNote(t.line) ?? 'started, same backend'}`);
  const score: GoldScorer = async (items) => {
    const scores = await t.call<GoldScore[]>('scoreBatch', items.map((x) => ({ prompt: x.prompt.text, response: x.text })));
    return scores.map((g) => g.score);
  };
  return { port: score, close: () => t.close() };
}
