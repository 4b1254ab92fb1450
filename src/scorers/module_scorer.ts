// module: a JS/TS module of the user's that exports a scoring function (pointwise `score` or pairwise `compare`), loaded and checked at start-up.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { excerpt, MalformedReplyError, ScorerConfigError, type PairwiseScorer, type PointwiseScorer, type Scorer, type TextGroup } from './scorer.js';

export const MODULE_KINDS = ['pointwise', 'pairwise'] as const;
export type ModuleKind = (typeof MODULE_KINDS)[number];

export interface ModuleScorerOptions {
  path: string;
  kind: ModuleKind;
  /** The export's name; empty = `score` (pointwise) or `compare` (pairwise). */
  exportName: string;
}

/** score(prompt, responses) -> one number per response (or a promise of them). */
export type ScoreFn = (prompt: string, responses: string[]) => number[] | Promise<number[]>;
/** compare(prompt, a, b) -> P(a is better than b) in [0, 1] (or a promise of it). */
export type CompareFn = (prompt: string, a: string, b: string) => number | Promise<number>;

const show = (v: unknown): string => excerpt(typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v)), 160);

function checkScores(v: unknown, k: number): number[] {
  if (!Array.isArray(v) || v.length !== k || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new MalformedReplyError(`score() must return ${k} finite numbers for ${k} responses; got ${show(v)}`);
  }
  return v as number[];
}

function checkProbability(v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new MalformedReplyError(`compare() must return P(a better than b), a number in [0, 1]; got ${show(v)}`);
  return v;
}

async function call<T>(what: string, f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof MalformedReplyError) throw err;
    throw new MalformedReplyError(`${what} threw: ${(err as Error)?.message ?? String(err)}`);
  }
}

/** How to do without the transpiler: a compiled ES module. */
const COMPILE_HINT = 'compile it to an ES module (npx tsc --module es2022 --target es2022 FILE.ts && mv FILE.js FILE.mjs) and set scorerModule.path to the .mjs';

const loadTypescript = () => import('typescript');

/**
 * Imports a .js/.mjs module as is; a .ts/.mts module is transpiled (types stripped) beside itself so its relative
 * imports resolve. `typescript` is a run-time dependency for this (Node 20 cannot strip types itself).
 */
async function importModule(path: string): Promise<Record<string, unknown>> {
  if (!/\.(ts|mts)$/.test(path)) return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  let ts: Awaited<ReturnType<typeof loadTypescript>>;
  try {
    ts = await loadTypescript();
  } catch (err) {
    throw new Error(`a .ts module needs the typescript package, which is not installed (${(err as Error).message}); install the dependencies (npm ci) or ${COMPILE_HINT}`);
  }
  const out = ts.default.transpileModule(readFileSync(path, 'utf8'), {
    compilerOptions: { module: ts.default.ModuleKind.ESNext, target: ts.default.ScriptTarget.ES2022 },
    fileName: path,
  });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.mjs`);
  try {
    writeFileSync(tmp, out.outputText);
  } catch (err) {
    throw new Error(`its transpiled copy cannot be written beside it (${(err as Error).message}); ${COMPILE_HINT}`);
  }
  try {
    return (await import(pathToFileURL(tmp).href)) as Record<string, unknown>;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Loads the module, finds the export, checks its shape and probes it once on a tiny input. */
export async function loadModuleScorer(o: ModuleScorerOptions, cwd = process.cwd()): Promise<Scorer> {
  if (!o.path) throw new ScorerConfigError('judge.scorer module needs scorerModule.path: a .js, .mjs or .ts file exporting the scoring function');
  const path = resolve(cwd, o.path);
  if (!existsSync(path)) throw new ScorerConfigError(`scorerModule.path ${JSON.stringify(o.path)} does not exist (resolved to ${path})`);
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(path);
  } catch (err) {
    throw new ScorerConfigError(`scorerModule.path ${path} could not be loaded: ${(err as Error).message}`);
  }
  const name = o.exportName || (o.kind === 'pointwise' ? 'score' : 'compare');
  const fn = mod[name];
  const found = Object.keys(mod).filter((k) => k !== '__esModule');
  if (fn === undefined) {
    throw new ScorerConfigError(`${path} has no export named ${JSON.stringify(name)} (a ${o.kind} scorer); its exports are ${found.length > 0 ? found.join(', ') : 'none'}`);
  }
  if (typeof fn !== 'function') throw new ScorerConfigError(`${path} export ${JSON.stringify(name)} must be a function; got ${typeof fn}`);
  const arity = o.kind === 'pointwise' ? 2 : 3;
  const signature = o.kind === 'pointwise' ? 'score(prompt, responses) -> number[]' : 'compare(prompt, a, b) -> P(a better) in [0, 1]';
  if (fn.length > arity) throw new ScorerConfigError(`${path} export ${JSON.stringify(name)} takes ${fn.length} parameters; a ${o.kind} scorer is ${signature}`);
  const id = `module:${basename(path)}#${name}`;
  const scorer: Scorer =
    o.kind === 'pointwise'
      ? new ModulePointwise(id, fn as ScoreFn)
      : new ModulePairwise(id, fn as CompareFn);
  try {
    if (scorer.kind === 'pointwise') await scorer.score({ prompt: 'Say something kind.', responses: ['Thank you!', 'No.'] });
    else await scorer.compare('Say something kind.', 'Thank you!', 'No.');
  } catch (err) {
    throw new ScorerConfigError(`${path} export ${JSON.stringify(name)} failed its start-up check (${signature}): ${(err as Error).message}`);
  }
  return scorer;
}

class ModulePointwise implements PointwiseScorer {
  readonly kind = 'pointwise';
  constructor(
    readonly id: string,
    private readonly fn: ScoreFn,
  ) {}
  async score(g: TextGroup): Promise<number[]> {
    return checkScores(await call('score()', () => this.fn(g.prompt, [...g.responses])), g.responses.length);
  }
  async close(): Promise<void> {}
}

class ModulePairwise implements PairwiseScorer {
  readonly kind = 'pairwise';
  constructor(
    readonly id: string,
    private readonly fn: CompareFn,
  ) {}
  async compare(prompt: string, a: string, b: string): Promise<number> {
    return checkProbability(await call('compare()', () => this.fn(prompt, a, b)));
  }
  async close(): Promise<void> {}
}
