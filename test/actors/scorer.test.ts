// Proxy scorer ports: BT batching equals per-group scoring; the pairwise scorer's both-order scores cancel position bias.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BtScorer, PairwiseScorer, promptBody } from '../../src/actors/compute/scorer.js';
import { initBackend } from '../../src/kernels/backend.js';
import { initGpt, type GptConfig } from '../../src/kernels/gpt.js';

const GPT: GptConfig = { vocabSize: 40, contextLength: 32, layers: 1, dModel: 16, heads: 2, dropout: 0, positional: 'learned' };
const S = { bos: 32, eos: 33, pad: 34, prompt: 35, response: 36, context: 37, responseA: 38, responseB: 39 };

test('BtScorer: scoreMany over several groups equals scoring each group; a trailing eos is not doubled', async () => {
  await initBackend('wasm');
  const bt = new BtScorer(initGpt(GPT, 3, 'scalar'), S, 'bt@test');
  const g1 = { promptTokens: [S.bos, S.prompt, 5, 6, S.response], responses: [[7, 8], [9], [10, 11, S.eos]] };
  const g2 = { promptTokens: [S.bos, S.prompt, 2, S.response], responses: [[1, 2, 3], [4, 4]] };
  const many = await bt.scoreMany([g1, g2]);
  const one = [await bt.score(g1.promptTokens, g1.responses), await bt.score(g2.promptTokens, g2.responses)];
  many.flat().forEach((x, i) => assert.ok(Math.abs(x - one.flat()[i]!) < 1e-5));
  const [withEos, without] = await bt.score(g1.promptTokens, [[10, 11, S.eos], [10, 11]]);
  assert.ok(Math.abs(withEos! - without!) < 1e-6);
});

test('PairwiseScorer: the anchor scores 0 and swapping which response is the anchor flips the sign exactly', async () => {
  await initBackend('wasm');
  const pw = new PairwiseScorer(initGpt(GPT, 4, 'scalar'), S, 'pairwise@test');
  const prompt = [S.bos, S.prompt, 5, 6, S.response];
  assert.deepEqual(promptBody(prompt, S), [5, 6]);
  const a = [7, 8, S.eos];
  const b = [9, 10, 11];
  const [s0, sb] = await pw.score(prompt, [a, b]);
  const [t0, ta] = await pw.score(prompt, [b, a]);
  assert.equal(s0, 0);
  assert.equal(t0, 0);
  assert.ok(Number.isFinite(sb!) && Math.abs(sb!) > 0);
  assert.ok(Math.abs(sb! + ta!) < 1e-5, `score(b vs a) ${sb} = -score(a vs b) ${ta}`);
  const many = await pw.scoreMany([{ promptTokens: prompt, responses: [a, b, [12]] }, { promptTokens: prompt, responses: [b, a] }]);
  assert.equal(many[0]!.length, 3);
  assert.ok(Math.abs(many[0]![1]! - sb!) < 1e-5 && Math.abs(many[1]![1]! - ta!) < 1e-5);
});
