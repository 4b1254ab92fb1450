// The gold language model as a cached stage: fitted once, written under <cacheDir>/gold-lm with its input hash.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { goldLmInputs, loadGoldLm } from '../../src/gold/language_model.js';
import { hashInputs, readManifest } from '../../src/train/manifest.js';
import { WordLm, type WordLmJson } from '../../src/gold/word_lm.js';

const dir = mkdtempSync(join(tmpdir(), 'rlhf-gold-lm-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the fitted model is written as a stage artefact that reads back to the same scores', async () => {
  const lines: string[] = [];
  const lm = await loadGoldLm(dir, (l) => lines.push(l));
  assert.ok(lines.some((l) => l.startsWith('gold-lm: fitted on')), lines.join('\n'));
  assert.equal(await loadGoldLm(dir), lm, 'fitted once per process');
  const manifest = readManifest(join(dir, 'gold-lm'));
  assert.equal(manifest?.hash, hashInputs(goldLmInputs()));
  assert.ok((manifest?.summary.sentences as number) > 1000);
  const back = WordLm.fromJson(JSON.parse(readFileSync(join(dir, 'gold-lm', 'model.json'), 'utf8')) as WordLmJson);
  for (const [p, r] of [['Write a sentence.', 'It was a pleasant day, and I spent most of it reading.'], ['The jury further said', 'that the city was well run.']] as const) {
    assert.deepEqual(back.score(p, r), lm.score(p, r));
  }
  assert.ok(lm.score('Write a sentence.', 'It was a pleasant day.').slor > lm.score('Write a sentence.', 'the to the of a the and it is').slor);
});
