// The multi-process run's flow decisions from the server's counts: when the pipeline drained, how much work waits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipelineDrained, waitingWork } from '../../src/run/run_driver.js';
import type { Backlog, SourceProgress } from '../../src/streams/run_control.js';

const spent: SourceProgress = { published: 10, budget: 10, exhausted: true, ts: 0 };
const empty: Backlog = { prompts: 0, samples: 0, pairs: 3, pairsUndelivered: 0 };

test('drained: the budget is spent, no prompt or group waits, and the learner holds every stored pair', () => {
  assert.equal(pipelineDrained(spent, empty, 3), true);
  assert.equal(pipelineDrained({ ...spent, exhausted: false }, empty, 3), false, 'the source still publishes');
  assert.equal(pipelineDrained(undefined, empty, 3), false, 'no source record yet');
  assert.equal(pipelineDrained(spent, undefined, 3), false, 'no backlog read');
  assert.equal(pipelineDrained(spent, { ...empty, prompts: 1 }, 3), false, 'a prompt waits');
  assert.equal(pipelineDrained(spent, { ...empty, samples: 2 }, 3), false, 'a group waits');
  assert.equal(pipelineDrained(spent, empty, 2), false, 'a stored pair the learner has not taken');
});

test('work waiting for the generators to pause on: sample groups and pairs not yet delivered', () => {
  assert.equal(waitingWork({ prompts: 50, samples: 4, pairs: 9, pairsUndelivered: 3 }), 7);
});
