// Placement of a multi-process run's actors on cores: which cores each role's processes may use (taskset -c) and how
// many GEMM threads each process runs, so generation and training can be given disjoint hardware.
import { spawnSync } from 'node:child_process';
import { ACTOR_ROLES, type ActorRole } from './actor_process.js';

export class PlacementError extends Error {
  override name = 'PlacementError';
}

/** Cores per role, as asked for; roles left out run on every core. */
export type PlacementSpec = Partial<Record<ActorRole, number[]>>;

const ROLE_NAMES: Record<string, ActorRole> = Object.fromEntries(ACTOR_ROLES.flatMap((r) => [[r, r], [`${r}s`, r]]));

/** One core list: `0`, `0-3`, `0+2` or a mix (`0-1+4`). */
function parseCores(text: string, cpus: number, entry: string): number[] {
  const cores = new Set<number>();
  for (const part of text.split('+')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new PlacementError(`placement entry ${JSON.stringify(entry)}: ${JSON.stringify(part)} is not a core, a range a-b, or cores joined by +`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new PlacementError(`placement entry ${JSON.stringify(entry)}: range ${part} runs backwards`);
    if (hi >= cpus) throw new PlacementError(`placement entry ${JSON.stringify(entry)}: core ${hi} does not exist (this machine has cores 0-${cpus - 1})`);
    for (let c = lo; c <= hi; c++) cores.add(c);
  }
  return [...cores].sort((a, b) => a - b);
}

/**
 * Parses `--placement`: comma-separated `role=cores` entries, role one of source, generator(s), judge(s), learner(s),
 * evaluator(s); cores as in `0`, `0-3`, `0+2`. Example: `generators=0,learner=1,judge=1`.
 */
export function parsePlacement(text: string, cpus: number): PlacementSpec {
  const spec: PlacementSpec = {};
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) throw new PlacementError('--placement is empty; expected role=cores entries such as generators=0,learner=1,judge=1');
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new PlacementError(`placement entry ${JSON.stringify(entry)} is not role=cores (e.g. generators=0 or learner=1-3)`);
    const name = entry.slice(0, eq).trim();
    const role = ROLE_NAMES[name];
    if (!role) throw new PlacementError(`placement entry ${JSON.stringify(entry)}: unknown role ${JSON.stringify(name)}; accepted: ${ACTOR_ROLES.join(', ')} (or the plural)`);
    if (spec[role]) throw new PlacementError(`placement names ${role} twice`);
    spec[role] = parseCores(entry.slice(eq + 1), cpus, entry);
  }
  return spec;
}

export interface RolePlacement {
  /** Cores the role's processes are pinned to; null: not pinned (every core). */
  cores: number[] | null;
  /** compute.nativeThreads for each of the role's processes. */
  nativeThreads: number;
}

export interface PlacementPlan {
  byRole: Record<ActorRole, RolePlacement>;
  /** True when the processes are actually pinned (taskset exists and some role has cores). */
  pinned: boolean;
  /** The command prefix for a role's process (empty: none). */
  prefix: (role: ActorRole) => string[];
  /** One line for the log and the run record. */
  describe: string;
  /** Why pinning was asked for but not done, if it was not. */
  warning?: string;
}

export interface PlanInputs {
  /** Processes per role (generators and judges may be several). */
  processes: Record<ActorRole, number>;
  /** compute.nativeThreads of the config: what unpinned roles keep. */
  nativeThreads: number;
  /** Whether `taskset` can be run here. */
  taskset: boolean;
}

/**
 * Decides each role's cores and GEMM threads: a pinned role's processes split its cores' GEMM threads evenly (at least
 * one each); unpinned roles keep the config's. Without taskset nothing is pinned, but the thread counts still apply.
 */
export function planPlacement(spec: PlacementSpec, o: PlanInputs): PlacementPlan {
  const byRole = {} as Record<ActorRole, RolePlacement>;
  for (const role of ACTOR_ROLES) {
    const cores = spec[role] ?? null;
    const n = Math.max(1, o.processes[role]);
    byRole[role] = { cores, nativeThreads: cores ? Math.max(1, Math.floor(cores.length / n)) : o.nativeThreads };
  }
  const asked = Object.keys(spec).length > 0;
  const pinned = asked && o.taskset;
  const parts = ACTOR_ROLES.filter((r) => o.processes[r] > 0).map((r) => {
    const p = byRole[r];
    return `${r}${o.processes[r] > 1 ? ` x${o.processes[r]}` : ''}: ${p.cores ? `cores ${p.cores.join('+')}` : 'all cores'}, ${p.nativeThreads} GEMM thread${p.nativeThreads === 1 ? '' : 's'}`;
  });
  return {
    byRole,
    pinned,
    prefix: (role) => (pinned && byRole[role].cores ? ['taskset', '-c', byRole[role].cores!.join(',')] : []),
    describe: `placement${pinned ? ' (taskset -c)' : asked ? ' (not pinned)' : ''}: ${parts.join('; ')}`,
    ...(asked && !o.taskset ? { warning: 'taskset was not found (Debian: apt-get install util-linux): the actors are not pinned to cores; only their GEMM threads follow the placement' } : {}),
  };
}

/** Whether `taskset` runs here. */
export function tasksetAvailable(): boolean {
  const r = spawnSync('taskset', ['-V'], { stdio: 'ignore' });
  return r.status === 0;
}
