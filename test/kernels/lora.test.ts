// LoRA adapters: B = 0 gives the base's logits exactly, the adapter switched off gives the base, the adapter's gradients
// match finite differences, folded-in weights give the adapted logits, and bad specs are refused naming what is accepted.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, forwardLogits, GptError, initGpt, modelFromWeights, type GptConfig, type GptModel } from '../../src/kernels/gpt.js';
import { initLora, mergedWeights, setLoraWeights, validateLoraSpec, withoutAdapter, type LoraSpec } from '../../src/kernels/lora.js';
import { lmLoss } from '../../src/kernels/lm_loss.js';
import { Rng } from '../../src/kernels/rng.js';
import { assertGradClose } from './grad_check.js';

before(async () => {
  await initBackend('wasm');
});

const GPT2: GptConfig = { vocabSize: 64, contextLength: 16, layers: 2, dModel: 32, heads: 4, dropout: 0, positional: 'learned' };
const LLAMA: GptConfig = { vocabSize: 64, contextLength: 16, layers: 2, dModel: 32, heads: 4, kvHeads: 2, ffDim: 48, dropout: 0, positional: 'rotary', arch: 'llama', qkvBias: true, tiedEmbeddings: false };
const SPEC = (cfg: GptConfig): LoraSpec => ({ rank: 4, alpha: 8, dropout: 0, targetModules: cfg.arch === 'llama' ? ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] : ['c_attn', 'c_proj', 'c_fc'] });

const TOKENS = [
  [3, 7, 7, 1, 9, 2, 11, 40],
  [5, 5, 60, 2, 0, 13, 8, 1],
];

function logits(m: GptModel): Float32Array {
  return tf.tidy(() => forwardLogits(m, tf.tensor2d(TOKENS, [2, 8], 'int32')).dataSync() as Float32Array);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Gives every B random values of about the size training reaches, so the adapter changes the logits. */
function randomizeB(m: GptModel, seed: number, std = 0.2): void {
  const rng = new Rng(seed);
  const w: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, p] of Object.entries(m.lora!.params)) {
    const data = Float32Array.from(p.dataSync() as Float32Array);
    if (name.endsWith('.lora_B')) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    w[name] = { shape: [...p.shape], data };
  }
  setLoraWeights(m, w);
}

for (const cfg of [GPT2, LLAMA]) {
  const arch = cfg.arch ?? 'gpt2';

  test(`${arch}: with B = 0 the adapted logits equal the base's exactly; switched off, the adapter gives the base`, () => {
    const m = initGpt(cfg, 3);
    const base = logits(m);
    const a = initLora(m, SPEC(cfg), 9);
    assert.equal(Object.keys(a.params).length, 2 * cfg.layers * (arch === 'llama' ? 7 : 4), 'an A and a B per adapted projection (GPT-2 c_proj names two)');
    const before = tf.memory().numTensors;
    const adapted = logits(m);
    assert.equal(tf.memory().numTensors, before, 'the adapted forward leaks no tensors');
    assert.deepEqual(adapted, base);
    randomizeB(m, 1);
    const moved = logits(m);
    assert.ok(maxAbsDiff(moved, base) > 1e-3, `a nonzero B changes the logits (max change ${maxAbsDiff(moved, base)})`);
    assert.deepEqual(withoutAdapter(m, () => logits(m)), base);
    assert.deepEqual(logits(m), moved, 'the adapter is back on after withoutAdapter');
    disposeModel(m);
  });

  test(`${arch}: the adapter's gradients match finite differences`, () => {
    const m = initGpt({ ...cfg, layers: 1 }, 4);
    initLora(m, SPEC(cfg), 5);
    randomizeB(m, 2, 0.5);
    const tokens = tf.tensor2d([[3, 7, 7, 1, 9, 2]], [1, 6], 'int32');
    const targets = tf.tensor2d([[7, 7, 1, 9, 2, 5]], [1, 6], 'int32');
    const mask = tf.ones([1, 6]) as tf.Tensor2D;
    const names = arch === 'llama' ? ['h.0.attn.q_proj.lora_A', 'h.0.attn.v_proj.lora_B', 'h.0.mlp.down_proj.lora_A', 'h.0.mlp.up_proj.lora_B'] : ['h.0.attn.c_attn.lora_A', 'h.0.attn.c_attn.lora_B', 'h.0.mlp.c_proj.lora_A', 'h.0.mlp.c_fc.lora_B'];
    for (const name of names) {
      const original = m.lora!.params[name]!;
      const f = (p: tf.Tensor) => {
        const mm: GptModel = { ...m, lora: { ...m.lora!, params: { ...m.lora!.params, [name]: p as tf.Variable } } };
        return tf.mul(lmLoss(forwardLogits(mm, tokens), targets, mask), 100) as tf.Scalar;
      };
      assertGradClose((p) => f(p!), [original], { seed: 7, samples: 5, eps: 1e-2, rtol: 5e-2, atol: 2e-3 });
    }
    // Only the adapter is trainable through the model: the base gets no gradient while an adapter is attached.
    const { value, grads } = tf.variableGrads(() => lmLoss(forwardLogits(m, tokens), targets, mask), Object.values(m.lora!.params));
    assert.equal(Object.keys(grads).length, Object.keys(m.lora!.params).length);
    tf.dispose([value, ...Object.values(grads), tokens, targets, mask]);
    disposeModel(m);
  });

  test(`${arch}: weights with the adapter folded in (W + alpha/r (B A)^T) give the adapted logits within 1e-4`, () => {
    const m = initGpt(cfg, 6);
    initLora(m, { ...SPEC(cfg), alpha: 16 }, 7);
    randomizeB(m, 3);
    const adapted = logits(m);
    const merged = modelFromWeights(m.cfg, 'lm', mergedWeights(m));
    const d = maxAbsDiff(logits(merged), adapted);
    assert.ok(d <= 1e-4, `max |merged - adapted| = ${d}`);
    assert.ok(maxAbsDiff(withoutAdapter(m, () => logits(m)), adapted) > 1e-3, 'the adapter matters to these logits');
    disposeModel(merged);
    disposeModel(m);
  });
}

test('bad adapter specs are refused naming the field and what is accepted', () => {
  const spec = SPEC(GPT2);
  assert.throws(() => validateLoraSpec(GPT2, { ...spec, targetModules: ['q_proj'] }), (e: Error) => e instanceof GptError && /learner\.lora\.targetModules has "q_proj".*its modules are c_attn, c_proj, c_fc/.test(e.message));
  assert.throws(() => validateLoraSpec(LLAMA, { ...spec, targetModules: ['c_attn'] }), /its modules are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/);
  assert.throws(() => validateLoraSpec(GPT2, { ...spec, targetModules: [] }), /learner\.lora\.targetModules must name at least one/);
  assert.throws(() => validateLoraSpec(GPT2, { ...spec, rank: 0 }), /learner\.lora\.rank must be a positive integer; got 0/);
  assert.throws(() => validateLoraSpec(GPT2, { ...spec, alpha: -1 }), /learner\.lora\.alpha must be a positive number; got -1/);
  assert.deepEqual(validateLoraSpec(GPT2, { ...spec, targetModules: ['c_proj'] }), ['h.0.attn.c_proj', 'h.0.mlp.c_proj', 'h.1.attn.c_proj', 'h.1.mlp.c_proj']);
});

test('dropout on the adapter needs a seed in training, and is off at inference', () => {
  const m = initGpt(GPT2, 1);
  initLora(m, { ...SPEC(GPT2), dropout: 0.5 }, 2);
  randomizeB(m, 4);
  const input = tf.tensor2d(TOKENS, [2, 8], 'int32');
  assert.throws(() => forwardLogits(m, input, { training: true }), /learner\.lora\.dropout > 0 needs opts\.seed/);
  const a = tf.tidy(() => forwardLogits(m, input, { training: true, seed: 1 }).dataSync() as Float32Array);
  const b = tf.tidy(() => forwardLogits(m, input, { training: true, seed: 1 }).dataSync() as Float32Array);
  assert.deepEqual(a, b, 'seeded masks repeat');
  assert.ok(maxAbsDiff(a, logits(m)) > 1e-4, 'the masks change the training forward');
  input.dispose();
  disposeModel(m);
});
