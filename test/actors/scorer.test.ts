// Proxy scorer ports: BT batching equals per-group scoring; the pairwise model's tournament is both-order and batched.
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

test('PairwiseScorer: the tournament ranks alike whatever the order of the responses, batches groups, and counts comparisons', async () => {
  await initBackend('wasm');
  const pw = new PairwiseScorer(initGpt(GPT, 4, 'scalar'), S, 'pairwise@test');
  const prompt = [S.bos, S.prompt, 5, 6, S.response];
  assert.deepEqual(promptBody(prompt, S), [5, 6]);
  const ys = [[7, 8, S.eos], [9, 10, 11], [12], [13, 14], [15, 16, 17, 18], [19]];
  const best = (scores: number[], rs: number[][]): number[] => rs[scores.indexOf(Math.max(...scores))]!;
  const worst = (scores: number[], rs: number[][]): number[] => rs[scores.indexOf(Math.min(...scores))]!;
  const before = pw.comparisons;
  const [fwd] = await pw.scoreMany([{ promptTokens: prompt, responses: ys }]);
  assert.equal(pw.comparisons - before, 5 + 2, 'K - 1 upper matches and K/2 - 1 lower ones for K = 6');
  // Both orders of every match are scored, so P(a beats b) = 1 - P(b beats a) and the order of a pair cannot decide it.
  const [a, b] = await pw.score(prompt, [ys[0]!, ys[1]!]);
  const [b2, a2] = await pw.score(prompt, [ys[1]!, ys[0]!]);
  assert.equal(a! > b!, a2! > b2!, 'the same response wins in either order');
  const rev = [...ys].reverse();
  const many = await pw.scoreMany([{ promptTokens: prompt, responses: ys }, { promptTokens: prompt, responses: ys.slice(0, 2) }]);
  assert.deepEqual(many[0], fwd, 'batching groups together changes nothing');
  assert.equal(many[1]!.length, 2);
  const [back] = await pw.scoreMany([{ promptTokens: prompt, responses: rev }]);
  assert.ok(fwd!.every(Number.isFinite) && back!.every(Number.isFinite));
  assert.ok(new Set(fwd).size > 1);
  assert.notDeepEqual(best(fwd!, ys), worst(fwd!, ys));
});
