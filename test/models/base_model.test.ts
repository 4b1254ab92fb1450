// The shipped base model: its files are the ones its checksums name, it loads as a Hugging Face folder, and it is the
// model config/base.yaml describes and config/default.yaml starts from.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { loadHfFolder } from '../../src/models/hf_folder.js';

const DIR = 'models/wordnet-base';

test('the shipped base model matches its checksums, config/base.yaml and the configs that start from it', async () => {
  const sums = readFileSync(join(DIR, 'SHA256SUMS'), 'utf8').trim().split('\n');
  assert.ok(sums.length >= 3, 'model, config and tokenizer are listed');
  for (const line of sums) {
    const [hash, name] = line.split(/\s+/);
    assert.equal(createHash('sha256').update(readFileSync(join(DIR, name!))).digest('hex'), hash, `${name} is the file the checksum names`);
  }
  const base = loadConfig({ file: 'config/base.yaml' });
  const hf = await loadHfFolder(DIR);
  assert.equal(hf.cfg.layers, base.model.layers);
  assert.equal(hf.cfg.dModel, base.model.dModel);
  assert.equal(hf.cfg.heads, base.model.heads);
  assert.equal(hf.cfg.vocabSize, base.tokenizer.vocabSize);
  assert.deepEqual(hf.tokenizer.encode('A store that sells food.').length > 0, true);
  for (const file of ['config/default.yaml', 'config/experiment.yaml']) {
    const cfg = loadConfig({ file });
    assert.equal(cfg.model.source, DIR, `${file} starts from the base model`);
    assert.deepEqual(cfg.data.sources, base.data.sources, `${file} reads the corpus the base model was trained on`);
    assert.equal(cfg.data.validFraction, base.data.validFraction, `${file} holds out the words the base model never read`);
  }
});
