// The data build: artifact files, determinism (same content hash twice), cache reuse, and loadData's checks.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseConfig, type Config } from '../../src/config/index.js';
import { buildData, DATA_FILES, DataError, loadData } from '../../src/data/build.js';
import { isGoldDocument, loadCorpus } from '../../src/data/corpus.js';
import { matchKey } from '../../src/data/text.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function smallConfig(over: Record<string, unknown> = {}): Config {
  const cacheDir = mkdtempSync(join(tmpdir(), 'rlhf-data-'));
  dirs.push(cacheDir);
  return parseConfig({
    run: { cacheDir },
    tokenizer: { vocabSize: 512 },
    data: { maxDocsPerSource: 6, validFraction: 0.2, testFraction: 0.2, trainPrompts: 300, evalPrompts: 20, instructionMinCount: 5, ...over },
  });
}

test('a build writes every artifact, is deterministic, and is reused when inputs are unchanged', async () => {
  const cfg = smallConfig();
  const lines: string[] = [];
  const a = await buildData(cfg, { log: (l) => lines.push(l) });
  assert.equal(a.reused, false);
  assert.ok(lines.some((l) => l.includes('[5/5]')), 'progress is logged');
  for (const name of [...DATA_FILES, 'manifest.json']) assert.ok(readFileSync(join(a.dir, name)).length > 0, name);

  const m = a.manifest;
  assert.equal(m.tokenizer.vocabSize, 512);
  // 6 documents from each of the 3 sources, less those reserved for the gold judge.
  const gold = loadCorpus({ sources: cfg.data.sources, maxDocsPerSource: 6 }).filter((d) => isGoldDocument(d.id)).length;
  assert.equal(m.corpus.train.documents + m.corpus.valid.documents + m.corpus.test.documents, 18 - gold);
  assert.ok(m.corpus.train.tokens > 0 && m.corpus.train.sentences > 0 && m.corpus.train.characters > m.corpus.train.tokens);
  assert.equal(m.prompts.eval, 20);
  assert.equal(m.files['prompts.train.jsonl'].records, a.prompts.train.length);

  const b = await buildData(smallConfig());
  assert.equal(b.manifest.contentHash, m.contentHash, 'two builds in different folders give the same content');

  const logs: string[] = [];
  const c = await buildData(cfg, { log: (l) => logs.push(l) });
  assert.equal(c.reused, true);
  assert.match(logs.join('\n'), /inputs unchanged, reusing/);
  assert.deepEqual(c.prompts, a.prompts);
  assert.deepEqual(c.tokenizer.encode('naïve café — ok'), a.tokenizer.encode('naïve café — ok'));

  // Splits hold: no document in two splits, no prompt text in both train and eval.
  const split = (docs: { id: string }[]) => new Set(docs.map((d) => d.id));
  const [tr, va, te] = [split(c.corpus.train), split(c.corpus.valid), split(c.corpus.test)];
  for (const id of va) assert.ok(!tr.has(id) && !te.has(id));
  for (const id of te) assert.ok(!tr.has(id));
  const evalKeys = new Set(c.prompts.eval.map((p) => matchKey(p.text)));
  for (const p of c.prompts.train) assert.ok(!evalKeys.has(matchKey(p.text)));
});

test('loadData refuses stale or tampered artifacts with a message that says what to run', async () => {
  const cfg = smallConfig({ maxDocsPerSource: 3 });
  await buildData(cfg);
  assert.equal(loadData(cfg).reused, true);
  const other = parseConfig({ ...cfg, data: { ...cfg.data, promptWords: 5 } });
  assert.throws(() => loadData(other), (e: Error) => e instanceof DataError && /built for other data\/tokenizer settings.*rlhf-stream data/.test(e.message));
  const file = join(cfg.run.cacheDir, 'data', 'prompts.eval.jsonl');
  writeFileSync(file, readFileSync(file, 'utf8') + '{"id":"x","kind":"opening","text":"Injected"}\n');
  assert.throws(() => loadData(cfg), /does not match its manifest hash/);
  const lines: string[] = [];
  const rebuilt = await buildData(cfg, { log: (l) => lines.push(l) });
  assert.equal(rebuilt.reused, false, 'a tampered cache is rebuilt, not trusted');
  assert.match(lines[0]!, /cache not reused/);
  assert.throws(() => loadData(smallConfig()), /no data artifacts in .*; run `rlhf-stream data`/);
});
