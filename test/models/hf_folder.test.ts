// HF folders load from one file or shards, in F32, F16 or BF16; bad folders are refused with errors naming the problem;
// export -> import gives bit-identical weights and logits for imported and for the project's own models.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BpeTokenizer } from '../../src/data/tokenizer.js';
import { formatPrompt } from '../../src/data/template.js';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, forwardLogits, initGpt, type GptModel } from '../../src/kernels/gpt.js';
import { exportHfFolder } from '../../src/models/hf_export.js';
import { loadHfFolder } from '../../src/models/hf_folder.js';
import { importHfModel, loadPolicy } from '../../src/models/policy_source.js';
import { safetensorsBytes, writeHfFixture, type FixtureSpec } from '../helpers/hf_fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'hf-folder-'));
let n = 0;
const fresh = (spec: FixtureSpec): string => {
  const dir = join(root, `m${n++}`);
  writeHfFixture(dir, spec);
  return dir;
};

before(async () => {
  await initBackend('wasm');
});
after(() => rmSync(root, { recursive: true, force: true }));

function logits(m: GptModel, tokens: number[][]): Float32Array {
  return tf.tidy(() => forwardLogits(m, tf.tensor2d(tokens, [tokens.length, tokens[0]!.length], 'int32')).dataSync() as Float32Array);
}

test('sharded and BF16/F16 checkpoints load: the same tensors as one F32 file, rounded as stored', async () => {
  const base = await loadHfFolder(fresh({ type: 'llama', seed: 3 }));
  const sharded = await loadHfFolder(fresh({ type: 'llama', seed: 3, shards: 3 }));
  const bf16 = await loadHfFolder(fresh({ type: 'llama', seed: 3, dtype: 'BF16', shards: 2 }));
  const f16 = await loadHfFolder(fresh({ type: 'llama', seed: 3, dtype: 'F16' }));
  assert.deepEqual(Object.keys(sharded.weights).sort(), Object.keys(base.weights).sort());
  for (const [name, w] of Object.entries(base.weights)) {
    assert.deepEqual(sharded.weights[name]!.data, w.data, `${name} from shards`);
    const b = bf16.weights[name]!.data;
    const h = f16.weights[name]!.data;
    for (let i = 0; i < w.data.length; i++) {
      assert.ok(Math.abs(b[i]! - w.data[i]!) <= Math.abs(w.data[i]!) * 2 ** -7, `${name}[${i}] BF16 ${b[i]} vs ${w.data[i]}`);
      assert.ok(Math.abs(h[i]! - w.data[i]!) <= Math.abs(w.data[i]!) * 2 ** -10 + 1e-7, `${name}[${i}] F16 ${h[i]} vs ${w.data[i]}`);
    }
  }
});

test('a missing shard, a wrong shape, an unexpected tensor and an unknown model_type each give a clear error', async () => {
  const missing = fresh({ type: 'llama', shards: 2 });
  unlinkSync(join(missing, 'model-00002-of-00002.safetensors'));
  await assert.rejects(loadHfFolder(missing), /shard model-00002-of-00002\.safetensors named by .*model\.safetensors\.index\.json .* does not exist/);

  const wrong = fresh({ type: 'gpt2' });
  const cfg = JSON.parse(readFileSync(join(wrong, 'config.json'), 'utf8'));
  writeFileSync(join(wrong, 'config.json'), JSON.stringify({ ...cfg, n_embd: 32 }));
  await assert.rejects(loadHfFolder(wrong), /tensor "transformer\.wte\.weight" has shape \[\d+, 64\], expected \[\d+, 32\]/);

  const extra = fresh({ type: 'llama' });
  writeFileSync(join(extra, 'model.safetensors'), safetensorsBytes({ ...Object.fromEntries(Object.entries((await loadRaw(extra)))), 'model.extra.weight': { shape: [2], data: new Float32Array(2) } }, 'F32'));
  await assert.rejects(loadHfFolder(extra), /unexpected tensor "model\.extra\.weight"/);

  await assert.rejects(loadHfFolder(fresh({ type: 'llama', extraConfig: { model_type: 'falcon' } })), /model_type is "falcon"; supported: gpt2, llama, mistral, qwen2/);
});

/** The raw F32 tensors of a single-file fixture, by HF name. */
async function loadRaw(dir: string): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
  const { decodeSafetensors } = await import('../../src/checkpoint/safetensors.js');
  const t = decodeSafetensors(readFileSync(join(dir, 'model.safetensors'))).tensors;
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { shape: v.shape, data: v.data as Float32Array }]));
}

test('settings the kernels do not implement are refused, naming the field, its value and what is supported', async () => {
  const cases: [FixtureSpec, RegExp][] = [
    [{ type: 'llama', extraConfig: { rope_scaling: { rope_type: 'llama3', factor: 8 } } }, /field rope_scaling is \{"rope_type":"llama3","factor":8\}; supported: null/],
    [{ type: 'mistral', extraConfig: { sliding_window: 16 } }, /field sliding_window is 16; supported: null, or a window >= max_position_embeddings \(64\)/],
    [{ type: 'qwen2', extraConfig: { use_sliding_window: true } }, /field use_sliding_window is true; supported: false/],
    [{ type: 'llama', extraConfig: { num_local_experts: 8 } }, /field num_local_experts is 8; supported: absent \(mixture-of-experts/],
    [{ type: 'gpt2', extraConfig: { activation_function: 'relu' } }, /field activation_function is "relu"; supported: "gelu_new"/],
    [{ type: 'llama', extraConfig: { hidden_act: 'gelu' } }, /field hidden_act is "gelu"; supported: "silu"/],
  ];
  for (const [spec, re] of cases) await assert.rejects(loadHfFolder(fresh(spec)), re);
  await assert.rejects(loadHfFolder(join(root, 'nope')), /is not a Hugging Face model folder: .*config\.json does not exist/);
});

test('import -> export -> import is bit-identical in weights and logits (GPT-2, Llama untied, Qwen2)', async () => {
  for (const spec of [{ type: 'gpt2' }, { type: 'llama', tied: false, kvHeads: 1 }, { type: 'qwen2' }] as FixtureSpec[]) {
    const src = fresh({ ...spec, dtype: 'BF16', chatTemplate: '{{ messages[0].content }}' });
    const a = await importHfModel(src);
    const out = join(root, `export-${n++}`);
    await exportHfFolder(out, a.model, a.tokenizer);
    const b = await importHfModel(out);
    try {
      for (const [name, p] of Object.entries(a.model.params)) assert.deepEqual(b.model.params[name]!.dataSync(), p.dataSync(), name);
      const tokens = [[1, 5, 9, 30, 2, 7], [4, 4, 4, 8, 16, 3]];
      assert.deepEqual(logits(b.model, tokens), logits(a.model, tokens));
      assert.equal(readFileSync(join(out, 'tokenizer.json'), 'utf8'), readFileSync(join(src, 'tokenizer.json'), 'utf8'));
      assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).model_type, spec.type);
      assert.deepEqual(formatPrompt(b.tokenizer, 'hello there'), formatPrompt(a.tokenizer, 'hello there'));
    } finally {
      disposeModel(a.model);
      disposeModel(b.model);
    }
  }
});

test("the project's own model exports as GPT-2 with a chat template that reproduces its prompt layout", async () => {
  const texts = ['the cat sat on the mat and the dog sat on the log', 'a prompt and a response, then more text'];
  const tok = await BpeTokenizer.train(texts, 300);
  const model = initGpt({ vocabSize: tok.vocabSize, contextLength: 32, layers: 2, dModel: 32, heads: 4, dropout: 0, positional: 'learned' }, 5);
  const out = join(root, 'own-export');
  await exportHfFolder(out, model, tok);
  const back = await loadPolicy(out);
  try {
    assert.equal(back.format, 'hf');
    assert.deepEqual(back.tokenizer.formatPrompt!('the cat sat'), formatPrompt(tok, 'the cat sat'));
    assert.equal(back.tokenizer.special.eos, tok.special.eos);
    const tokens = [formatPrompt(tok, 'the dog sat on')];
    assert.deepEqual(logits(back.model, tokens), logits(model, tokens));
  } finally {
    disposeModel(model);
    disposeModel(back.model);
  }
  const rotary = initGpt({ vocabSize: tok.vocabSize, contextLength: 32, layers: 1, dModel: 32, heads: 4, dropout: 0, positional: 'rotary' }, 5);
  await assert.rejects(exportHfFolder(join(root, 'rotary'), rotary, tok), /exports only with model\.positional learned .*got rotary/);
  disposeModel(rotary);
});
