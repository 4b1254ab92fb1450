// The data build's parts, without reading the corpus: the tokenizer's texts, the prompt options, the files and the manifest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentHashOf, DATA_FILES, dataFileContents, fileEntries, manifestOf, promptOptions, tokenizerTexts, type DataParts } from '../../src/data/build.js';
import { sha256 } from '../../src/data/text.js';
import { tinyArtifacts, tinyConfig } from '../train/fixtures.js';

async function parts(): Promise<DataParts> {
  const a = await tinyArtifacts();
  return { corpus: a.corpus, instructions: a.instructions, prompts: a.prompts, tokenizer: a.tokenizer };
}

test('the tokenizer learns from the training documents and the training instruction pairs only', async () => {
  const p = await parts();
  const texts = tokenizerTexts(p.corpus, p.instructions);
  assert.equal(texts.length, p.corpus.train.length + p.instructions.train.length);
  assert.equal(texts[0], p.corpus.train[0]!.text);
  const first = p.instructions.train[0]!;
  assert.equal(texts[p.corpus.train.length], `${first.prompt}\n${first.response}`);
  assert.ok(!texts.includes(p.corpus.valid[0]!.text), 'no validation document');
});

test('prompts: training ones from the train split, eval ones from the test split and the held-out pairs', async () => {
  const p = await parts();
  const cfg = tinyConfig();
  const o = promptOptions(cfg, p.corpus, p.instructions);
  assert.equal(o.trainDocs, p.corpus.train);
  assert.equal(o.evalDocs, p.corpus.test);
  assert.equal(o.trainInstructions, p.instructions.train);
  assert.equal(o.evalInstructions, p.instructions.valid);
  assert.equal(o.trainPrompts, cfg.data.trainPrompts);
  assert.equal(o.promptWords, cfg.data.promptWords);
});

test('every artifact file is JSONL of its records (the tokenizer as its JSON), counted and hashed for the manifest', async () => {
  const p = await parts();
  const contents = dataFileContents(p);
  assert.deepEqual(Object.keys(contents).sort(), [...DATA_FILES].sort());
  const lines = contents['corpus.train.jsonl'].text.trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => JSON.parse(l)), p.corpus.train);
  assert.equal(contents['corpus.test.jsonl'].text, '', 'an empty split is an empty file');
  assert.equal(contents['tokenizer.json'].records, p.tokenizer.vocabSize);
  const files = fileEntries(contents);
  assert.equal(files['prompts.train.jsonl'].records, p.prompts.train.length);
  assert.equal(files['prompts.train.jsonl'].sha256, sha256(contents['prompts.train.jsonl'].text));
  assert.equal(files['corpus.train.jsonl'].bytes, Buffer.byteLength(contents['corpus.train.jsonl'].text));
});

test('the content hash depends on every file, in order, and on nothing else', async () => {
  const files = fileEntries(dataFileContents(await parts()));
  const again = fileEntries(dataFileContents(await parts()));
  assert.equal(contentHashOf(files), contentHashOf(again));
  const changed = { ...files, 'prompts.eval.jsonl': { ...files['prompts.eval.jsonl'], sha256: sha256('other') } };
  assert.notEqual(contentHashOf(changed), contentHashOf(files));
});

test('the manifest counts what was built and names the task and the inputs hash', async () => {
  const p = await parts();
  const cfg = tinyConfig();
  const files = fileEntries(dataFileContents(p));
  const m = manifestOf(cfg, 'inputs-hash', p, files);
  assert.equal(m.inputsHash, 'inputs-hash');
  assert.equal(m.task, cfg.data.task);
  assert.equal(m.contentHash, contentHashOf(files));
  assert.deepEqual(m.instructions, { train: p.instructions.train.length, valid: p.instructions.valid.length });
  assert.equal(m.corpus.train.documents, p.corpus.train.length);
  assert.equal(m.corpus.train.characters, p.corpus.train.reduce((s, d) => s + d.text.length, 0));
  assert.ok(m.corpus.train.tokens > 0 && m.corpus.train.sentences > 0);
  assert.deepEqual(m.corpus.test, { documents: 0, sentences: 0, characters: 0, tokens: 0 });
});
