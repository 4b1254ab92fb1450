// LoRA on imported HF models: the adapted logits equal an independent numpy reference applying PEFT's formula to the
// base (stock and native kernels); the merged folder gives the same logits; the PEFT-layout export reads back
// bit-identical, with PEFT's names and adapter_config.json; an adapter that does not fit the model is refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors } from '../../src/checkpoint/safetensors.js';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, forwardLogits, type GptModel } from '../../src/kernels/gpt.js';
import { attachLora, initLora, setLoraWeights } from '../../src/kernels/lora.js';
import { disableNativeKernels, enableNativeKernels, loadAddon } from '../../src/kernels/native/index.js';
import { Rng } from '../../src/kernels/rng.js';
import { exportMergedHfFolder } from '../../src/models/hf_export.js';
import { readPeftAdapter, writePeftAdapter } from '../../src/models/peft_adapter.js';
import { importHfModel } from '../../src/models/policy_source.js';
import { writeHfFixture, type FixtureSpec } from '../helpers/hf_fixtures.js';
import { maxAbsDiff } from '../kernels/decode_parity.js';

const REFERENCE = fileURLToPath(new URL('../../../test/reference/hf_reference.py', import.meta.url));
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const root = mkdtempSync(join(tmpdir(), 'lora-peft-'));
const nativeSkip = loadAddon().addon === undefined ? 'native addon not built' : false;

before(async () => {
  await initBackend('wasm');
});
after(() => {
  disableNativeKernels();
  rmSync(root, { recursive: true, force: true });
});

function reference(dir: string, tokens: number[][], adapterDir?: string): number[] {
  const args = [REFERENCE, dir, JSON.stringify(tokens), ...(adapterDir ? [adapterDir] : [])];
  return (JSON.parse(execFileSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 1 << 28 })) as { logits: number[][][] }).logits.flat(2);
}

function ours(m: GptModel, tokens: number[][]): Float32Array {
  return tf.tidy(() => forwardLogits(m, tf.tensor2d(tokens, [tokens.length, tokens[0]!.length], 'int32')).dataSync() as Float32Array);
}

function randomTokens(vocab: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: 2 }, () => Array.from({ length: 12 }, () => rng.int(vocab)));
}

/** B as training leaves it (nonzero), so the adapter moves the logits well past the tolerance. */
function trainedLike(m: GptModel, seed: number): void {
  const rng = new Rng(seed);
  const w = Object.fromEntries(
    Object.entries(m.lora!.params).map(([n, p]) => {
      const data = Float32Array.from(p.dataSync() as Float32Array);
      if (n.endsWith('.lora_B')) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * 0.3;
      return [n, { shape: [...p.shape], data }];
    }),
  );
  setLoraWeights(m, w);
}

const CASES: [string, FixtureSpec, string[], string][] = [
  ['gpt2 (Conv1D)', { type: 'gpt2', heads: 4 }, ['c_attn', 'c_proj', 'c_fc'], 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight'],
  ['llama (GQA 4/2, untied)', { type: 'llama', heads: 4, kvHeads: 2, tied: false }, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'],
  ['qwen2 (q/k/v biases), two modules', { type: 'qwen2', heads: 4, kvHeads: 2, tied: true }, ['q_proj', 'v_proj'], 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight'],
];

CASES.forEach(([name, spec, targets, peftName], i) => {
  test(`${name}: adapted logits = numpy PEFT reference = merged folder (1e-4), stock and native; PEFT export reads back bit-identical`, async (t) => {
    const dir = join(root, `case-${i}`);
    const { vocab } = writeHfFixture(dir, { ...spec, seed: 20 + i });
    const { model, tokenizer } = await importHfModel(dir);
    const adapterDir = join(root, `adapter-${i}`);
    const mergedDir = join(root, `merged-${i}`);
    try {
      initLora(model, { rank: 4, alpha: 16, dropout: 0, targetModules: targets }, 5 + i);
      trainedLike(model, 30 + i);
      const tokens = randomTokens(vocab, 50 + i);
      await writePeftAdapter(adapterDir, model, dir);

      const cfgJson = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(cfgJson['peft_type'], 'LORA');
      assert.equal(cfgJson['r'], 4);
      assert.equal(cfgJson['lora_alpha'], 16);
      assert.deepEqual(cfgJson['target_modules'], targets);
      assert.equal(cfgJson['fan_in_fan_out'], spec.type === 'gpt2');
      const names = Object.keys(decodeSafetensors(readFileSync(join(adapterDir, 'adapter_model.safetensors'))).tensors);
      assert.ok(names.includes(peftName), `PEFT's tensor name ${peftName} is among ${names.slice(0, 4).join(', ')} ...`);

      const adapted = ours(model, tokens);
      const base = reference(dir, tokens);
      const want = reference(dir, tokens, adapterDir);
      assert.ok(maxAbsDiff(want, base) > 1e-2, `the adapter moves the reference logits (by ${maxAbsDiff(want, base)})`);
      const d = maxAbsDiff(adapted, want);
      assert.ok(d <= 1e-4, `stock kernels: max |adapted - numpy PEFT reference| = ${d}`);

      await exportMergedHfFolder(mergedDir, model, tokenizer);
      const merged = await importHfModel(mergedDir);
      try {
        assert.equal(merged.model.lora, undefined);
        const dm = maxAbsDiff(ours(merged.model, tokens), adapted);
        assert.ok(dm <= 1e-4, `max |merged folder - adapted| = ${dm}`);
        const dr = maxAbsDiff(reference(mergedDir, tokens), want);
        assert.ok(dr <= 1e-4, `max |numpy on merged folder - numpy PEFT reference| = ${dr}`);
      } finally {
        disposeModel(merged.model);
      }

      // Export -> import: the same tensors, bit for bit, on a freshly imported base.
      const { spec: readSpec, weights } = await readPeftAdapter(adapterDir, model.cfg);
      assert.deepEqual(readSpec, { rank: 4, alpha: 16, dropout: 0, targetModules: targets });
      const again = await importHfModel(dir);
      try {
        attachLora(again.model, readSpec, weights);
        for (const [n, p] of Object.entries(model.lora!.params)) {
          assert.deepEqual(again.model.lora!.params[n]!.dataSync(), p.dataSync(), `${n} reads back bit-identical`);
        }
        assert.deepEqual(ours(again.model, tokens), adapted);
      } finally {
        disposeModel(again.model);
      }

      if (nativeSkip) return t.diagnostic(`native kernels skipped: ${nativeSkip}`);
      enableNativeKernels({ threads: 1 });
      try {
        const dn = maxAbsDiff(ours(model, tokens), want);
        assert.ok(dn <= 1e-4, `native kernels: max |adapted - numpy PEFT reference| = ${dn}`);
      } finally {
        disableNativeKernels();
      }
    } finally {
      disposeModel(model);
    }
  });
});

test('an adapter folder that does not fit the model is refused, naming the field and what is accepted', async () => {
  const dir = join(root, 'refuse');
  writeHfFixture(dir, { type: 'gpt2', seed: 3 });
  const { model } = await importHfModel(dir);
  const adapterDir = join(root, 'refuse-adapter');
  try {
    initLora(model, { rank: 2, alpha: 4, dropout: 0, targetModules: ['c_attn'] }, 1);
    await writePeftAdapter(adapterDir, model);
    const cfgPath = join(adapterDir, 'adapter_config.json');
    const good = readFileSync(cfgPath, 'utf8');
    writeFileSync(cfgPath, good.replace('"c_attn"', '"q_proj"'));
    await assert.rejects(readPeftAdapter(adapterDir, model.cfg), /field target_modules is \["q_proj"\]; supported: a list of c_attn, c_proj, c_fc/);
    writeFileSync(cfgPath, good.replace('"use_dora": false', '"use_dora": true'));
    await assert.rejects(readPeftAdapter(adapterDir, model.cfg), /field use_dora is true; supported: false/);
    writeFileSync(cfgPath, good);
    await assert.rejects(readPeftAdapter(join(root, 'nowhere'), model.cfg), /needs a readable adapter_config\.json/);
  } finally {
    disposeModel(model);
  }
});
