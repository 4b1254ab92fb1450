// Piscina worker holding one compute-heavy role's port (the DPO learner, the proxy scorer or the evaluator's gold judge)
// off the actors' event loop: the main thread only moves messages. Each model thread has its own tfjs engine,
// initialised here once; the gold judge (a language model, a spell checker and harper.js) needs none.
import type { LearnerPort, ScorerPort } from '../actors/ports.js';
import type { Config } from '../config/index.js';
import { createGoldJudge, type GoldJudge } from '../gold/index.js';
import { describeBackend, initBackend } from '../kernels/backend.js';
import type { ModelDirs } from './artifacts.js';
import { learnerPort, proxyModel, type Owned } from './ports.js';

export type WorkerRole = 'learner' | 'scorer' | 'gold';

export interface RoleInit {
  role: WorkerRole;
  cfg: Config;
  dirs: ModelDirs;
}

let held: Owned<LearnerPort> | Owned<ScorerPort> | Owned<GoldJudge> | undefined;

/** Builds the role's port; returns the backend line and, for a scorer, the id it stamps on pairs. */
export async function init(t: RoleInit): Promise<{ line: string; modelId?: string }> {
  if (t.role === 'gold') {
    const judge = await createGoldJudge(t.cfg.data.task, { cacheDir: t.cfg.run.cacheDir });
    held = { port: judge, close: () => judge.close() };
    return { line: `gold judge ${judge.task}` };
  }
  const info = await initBackend(t.cfg.compute.backend, { native: t.cfg.compute.nativeKernels, nativeThreads: t.cfg.compute.nativeThreads });
  if (t.role === 'learner') {
    held = await learnerPort(t.cfg, t.dirs);
    return { line: describeBackend(info) };
  }
  const rm = await proxyModel(t.dirs);
  const port = rm.scorer();
  held = { port, close: async () => (await port.close(), await rm.close()) };
  return { line: describeBackend(info), modelId: port.modelId };
}

/** Calls one method of the held port with structured-cloned arguments; a pairwise scorer's comparison count rides along. */
export async function call(t: { method: string; args: unknown[] }): Promise<{ value: unknown; comparisons?: number }> {
  if (!held) throw new Error('the role worker was called before init');
  const port = held.port as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const f = port[t.method];
  if (typeof f !== 'function') throw new Error(`the role worker's port has no method ${JSON.stringify(t.method)}`);
  const value = await f.apply(port, t.args);
  const comparisons = (held.port as { comparisons?: number }).comparisons;
  return comparisons === undefined ? { value } : { value, comparisons };
}

export async function close(): Promise<void> {
  const h = held;
  held = undefined;
  await h?.close();
}
