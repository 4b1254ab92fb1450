// Each actor's options from the config, as both the one-process cluster and the actor processes build them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backlogLimit, evaluatorOptions, generatorOptions, judgeOptions, learnerOptions, phasePrompts, sourceOptions } from '../../src/run/actor_options.js';
import { config, prompts } from '../actors/fakes.js';

test('the generators\' backlog limit is maxBacklog, else what the learner consumes before its policy goes stale', () => {
  assert.equal(backlogLimit(config({ generator: { maxBacklog: 7 } })), 7);
  assert.equal(backlogLimit(config({ generator: { maxBacklog: 0 }, learner: { batchSize: 4, publishEvery: 2, maxPolicyLag: 3 } })), 24);
  assert.equal(backlogLimit(config({ generator: { maxBacklog: 0 }, learner: { batchSize: 4, publishEvery: 2, maxPolicyLag: 0 } })), 8, 'a lag of 0 counts as 1');
});

test('phases: offline is one phase of the whole budget; iterative splits it, the last phase taking the remainder', () => {
  assert.deepEqual(phasePrompts(config({ run: { mode: 'offline', prompts: 100, iterations: 3 } })), [100]);
  assert.deepEqual(phasePrompts(config({ run: { mode: 'iterative', prompts: 100, iterations: 3 } })), [33, 33, 34]);
  assert.deepEqual(phasePrompts(config({ run: { mode: 'iterative', prompts: 2, iterations: 3 } })), [0, 0, 2]);
});

test('streaming sources keep their rate limit and generators follow the weight watch; phases publish at once and poll weights', () => {
  const streaming = config({ run: { mode: 'streaming', promptsPerSecond: 5 } });
  const phased = config({ run: { mode: 'iterative', promptsPerSecond: 5 } });
  const items = prompts(3);
  assert.equal(sourceOptions(streaming, items).promptsPerSecond, 5);
  assert.equal(sourceOptions(phased, items).promptsPerSecond, 0);
  assert.equal(sourceOptions(streaming, items, 2).startAt, 2);
  assert.equal(generatorOptions(streaming, 'g').pollWeights, undefined);
  assert.equal(generatorOptions(phased, 'g').pollWeights, true);
});

test('every actor takes its id, its config slice, a seed derived per role and the bus ack wait', () => {
  const cfg = config({ bus: { ackWaitMs: 1234 }, model: { contextLength: 64 }, generator: { maxNewTokens: 10 } });
  const g = generatorOptions(cfg, 'generator-1');
  assert.equal(g.generatorId, 'generator-1');
  assert.equal(g.maxPromptTokens, 54);
  assert.equal(g.ackWaitMs, 1234);
  const j = judgeOptions(cfg, 'judge-0');
  assert.equal(j.samplesPerPrompt, cfg.generator.samplesPerPrompt);
  assert.notEqual(j.seed, g.seed, 'each role draws from its own seed');
  assert.deepEqual(learnerOptions(cfg, 'learner', 'ck'), { learnerId: 'learner', config: cfg.learner, checkpointDir: 'ck', ackWaitMs: 1234 });
  const e = evaluatorOptions(cfg, 'evaluator', prompts(2));
  assert.equal(e.topK, cfg.generator.topK);
  assert.equal(e.prompts.length, 2);
});
