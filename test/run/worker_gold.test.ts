// The evaluator's gold judge in a worker thread scores exactly as the judge on this thread does.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { createGoldJudge } from '../../src/gold/index.js';
import { goldScorer } from '../../src/run/ports.js';

test('gold judge in a worker thread (compute.roleThreads) gives the same scores as on the main thread', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'rlhf-gold-worker-'));
  const items = [
    { prompt: 'Describe a walk by the river.', response: 'The river was calm and the morning light was lovely on the water.' },
    { prompt: 'Describe a walk by the river.', response: 'the great the good the best the happy the love the hope' },
    { prompt: 'Define commissary.', response: 'A commissary is a store that sells food and supplies to soldiers or workers.' },
  ];
  const lines: string[] = [];
  const worker = await goldScorer(parseConfig({ data: { task: 'positive-vader' }, run: { cacheDir } }), (l) => lines.push(l));
  const local = await createGoldJudge('positive-vader', { cacheDir });
  try {
    const fromWorker = await worker.port(items.map((x, i) => ({ prompt: { promptId: `p${i}`, text: x.prompt, tokens: [] }, tokens: [], text: x.response })));
    const here = (await local.scoreBatch(items)).map((g) => g.score);
    assert.deepEqual(fromWorker, here);
    assert.ok(here[0]! > here[1]!, 'the sanity of the comparison: a real sentence beats function-word salad');
    assert.ok(lines.some((l) => /gold judge worker thread: gold judge positive-vader/.test(l)), lines.join('\n'));
  } finally {
    await worker.close();
    await local.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});
