// The import rules of src/: folders import only downward in docs/architecture.md's table, and no two files load each
// other. Reads the sources as text (no build needed) and names every offending file.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

/** The repository's src/, from test/ or from dist/test/ (the compiled copy runs there). */
function srcRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      if (statSync(join(dir, 'src', 'streams')).isDirectory() && statSync(join(dir, 'package.json')).isFile()) return join(dir, 'src');
    } catch {
      // not here; one folder up
    }
  }
  throw new Error(`no src/ above ${fileURLToPath(import.meta.url)}`);
}

/**
 * docs/architecture.md's table, top to bottom: a folder may import its own rank or a lower one (a larger number).
 * Folders on one row share a rank; src/clock.ts sits beside them all.
 */
const RANK: Record<string, number> = {
  cli: 0,
  experiment: 1,
  run: 2,
  actors: 3,
  monitor: 4,
  scorers: 5,
  gold: 6,
  data: 7,
  train: 7,
  models: 8,
  streams: 9,
  config: 10,
  kernels: 11,
  checkpoint: 11,
  clock: 12,
};

/** Rules that hold with no exception: the layers the whole design leans on. */
const NEVER: Record<string, string[]> = {
  kernels: ['actors', 'streams', 'cli', 'run', 'monitor'],
  streams: ['actors', 'cli', 'run', 'monitor'],
  actors: ['cli', 'run'],
};

/**
 * Upward imports that remain, each with why it is still there. The list only shrinks: an entry whose import is gone
 * fails the test until it is removed, and a new upward import fails until it is fixed (or, at worst, listed here).
 */
const ALLOWED_UPWARD: Record<string, string> = {
  'monitor/report_responses.ts -> actors/evaluator.ts': 'EvalResponse (type) is defined by the evaluator that writes it',
  'monitor/responses_log.ts -> actors/evaluator.ts': 'EvalResponse (type) is defined by the evaluator that writes it',
  'scorers/http_metrics.ts -> actors/metrics.ts': 'MetricsRegistry (type): the metrics types still live with the actors',
  'scorers/registry.ts -> actors/ports.ts': 'ScorerPort (type): the scorer ports still live with the actors',
  'scorers/text_port.ts -> actors/ports.ts': 'ScorerPort (type): the scorer ports still live with the actors',
  'data/build.ts -> gold/tasks/index.ts': 'prompt selection asks the gold task which prompts it can score',
  'train/preference_data.ts -> gold/judge.ts': 'the preference cache is keyed by the gold judge version',
  'train/stages.ts -> gold/index.ts': 'the preference stage labels pairs with the gold judge',
  'models/hf_export.ts -> data/hf_tokenizer.ts': 'the tokenizers live in data/, below which models/ sits in the table',
  'models/hf_export.ts -> data/text_tokenizer.ts': 'the tokenizers live in data/, below which models/ sits in the table',
  'models/hf_export.ts -> data/tokenizer.ts': 'the tokenizers live in data/, below which models/ sits in the table',
  'models/hf_folder.ts -> data/hf_tokenizer.ts': 'the tokenizers live in data/, below which models/ sits in the table',
  'models/policy_source.ts -> data/load_tokenizer.ts': 'the tokenizers live in data/, below which models/ sits in the table',
  'models/policy_source.ts -> data/text_tokenizer.ts': 'the tokenizers live in data/, below which models/ sits in the table',
  'models/policy_source.ts -> train/model_io.ts': 'checkpoint loading (model_io) is still in train/',
  'config/sections/data.ts -> gold/tasks/index.ts': 'the accepted task names come from the task registry',
  'config/sections/llm_judge.ts -> scorers/llm_judge.ts': "the default prompt texts live with the LLM judge",
};

interface Edge {
  from: string;
  to: string;
  /** `import type` / `export type`, or only `type` names: erased, so it cannot take part in a load-time cycle. */
  typeOnly: boolean;
  /** `import('...')`: loaded when called (or a type position), never while the importer loads. */
  lazy: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

const STATIC = /^\s*(?:import|export)\s+(type\s+)?(?:([^'";]*?)\s+from\s+)?['"](\.[^'"]+)['"]/gm;
const LAZY = /\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g;

/** Every relative import of every file under src/, as paths relative to src/ with `/` separators. */
function importEdges(root: string): Edge[] {
  const rel = (p: string): string => relative(root, p).split('\\').join(posix.sep);
  const target = (file: string, spec: string): string => rel(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  const edges: Edge[] = [];
  for (const file of sourceFiles(root)) {
    // Comments hold example imports in prose; dropping them keeps those out.
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
    for (const m of text.matchAll(STATIC)) {
      const names = (m[2] ?? '').trim();
      const onlyTypes = /^\{[^}]*\}$/.test(names) && names.slice(1, -1).split(',').map((x) => x.trim()).filter(Boolean).every((x) => x.startsWith('type '));
      edges.push({ from: rel(file), to: target(file, m[3]!), typeOnly: Boolean(m[1]) || (names !== '' && onlyTypes), lazy: false });
    }
    for (const m of text.matchAll(LAZY)) edges.push({ from: rel(file), to: target(file, m[1]!), typeOnly: false, lazy: true });
  }
  return edges;
}

const folderOf = (path: string): string => path.split('/')[0]!.replace(/\.ts$/, '');

/** Strongly connected groups of more than one file over the load-time imports (Tarjan). */
function importCycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) if (!e.typeOnly && !e.lazy) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      group.push(w);
      if (w === v) break;
    }
    if (group.length > 1) out.push(group.sort());
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

describe('import layers of src/', () => {
  const root = srcRoot();
  const edges = importEdges(root);

  it('finds the imports (the parser reads this tree)', () => {
    assert.ok(edges.length > 300, `only ${edges.length} imports found under ${root}`);
    assert.ok(edges.some((e) => e.from === 'streams/index.ts' && e.to === 'streams/nats/bus.ts' && e.lazy), 'a lazy import is seen');
    assert.ok(edges.some((e) => e.from === 'run/launcher.ts' && folderOf(e.to) === 'monitor' && !e.typeOnly), 'a value import is seen');
    for (const e of edges) assert.ok(folderOf(e.to) in RANK, `${e.from} imports ${e.to}, outside the known folders`);
  });

  it('kernels, streams and actors import none of the layers above them', () => {
    const bad = edges.filter((e) => NEVER[folderOf(e.from)]?.includes(folderOf(e.to))).map((e) => `${e.from} -> ${e.to}`);
    assert.deepEqual(bad, [], `imports that point up:\n${bad.join('\n')}`);
  });

  it('every other folder imports only downward in the architecture table, but for the listed exceptions, which still exist', () => {
    const upward = [...new Set(edges.filter((e) => RANK[folderOf(e.from)]! > RANK[folderOf(e.to)]!).map((e) => `${e.from} -> ${e.to}`))].sort();
    const fresh = upward.filter((e) => !(e in ALLOWED_UPWARD));
    assert.deepEqual(fresh, [], `imports that point up the table in docs/architecture.md (move the imported code down, or the importer up):\n${fresh.join('\n')}`);
    const gone = Object.keys(ALLOWED_UPWARD).filter((e) => !upward.includes(e));
    assert.deepEqual(gone, [], `listed as allowed but no longer imported: remove from ALLOWED_UPWARD:\n${gone.join('\n')}`);
  });

  it('no two files load each other (type-only and lazy imports aside)', () => {
    const cycles = importCycles(edges);
    assert.deepEqual(cycles, [], `import cycles:\n${cycles.map((c) => c.join(' <-> ')).join('\n')}`);
  });

  it('the cycle check finds a cycle where there is one', () => {
    const e = (from: string, to: string, typeOnly = false): Edge => ({ from, to, typeOnly, lazy: false });
    assert.deepEqual(importCycles([e('a.ts', 'b.ts'), e('b.ts', 'c.ts'), e('c.ts', 'a.ts'), e('c.ts', 'd.ts')]), [['a.ts', 'b.ts', 'c.ts']]);
    assert.deepEqual(importCycles([e('a.ts', 'b.ts'), e('b.ts', 'a.ts', true)]), [], 'a type-only import closes no cycle');
  });
});
