// The learner's saved state: checked when a checkpoint is loaded; covered pair ids kept newest-last within a limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoveredPairs, learnerStateOf, LearnerStateError } from '../../src/actors/learner_state.js';

test('a checkpoint without step, version and ackedAfterCheckpoint is refused, naming the folder and the keys found', () => {
  assert.throws(
    () => learnerStateOf({ step: 3, other: 1 }, 'ck/dir'),
    (e: Error) => e instanceof LearnerStateError && e.name === 'LearnerStateError' && /checkpoint in ck\/dir lacks learner state .*got keys step, other/.test(e.message),
  );
  const ok = { learnerId: 'l', step: 3, version: 2, ackedAfterCheckpoint: ['a'] };
  assert.deepEqual(learnerStateOf(ok, 'ck'), ok);
});

test('covered pairs forget the oldest beyond the limit; a pair covered again counts as new', () => {
  const c = new CoveredPairs(3);
  c.add(['a', 'b', 'c']);
  c.add(['a']);
  c.add(['d']);
  assert.deepEqual(c.toArray(), ['c', 'a', 'd']);
  assert.ok(!c.has('b'));
  assert.ok(c.has('a'));
});
