// The launcher's restart policy: when an actor process exits, let it go, restart it, or give up (ending the run if needed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideOnExit, type ActorExit } from '../../src/run/restart_policy.js';

const exit = (over: Partial<ActorExit>): ActorExit => ({ role: 'generator', code: 1, runOver: false, restarts: 0, maxRestarts: 3, peersLeft: 1, ...over });

test('once the run is over every exit is let go, crashed or not', () => {
  for (const role of ['learner', 'source', 'generator'] as const) {
    assert.deepEqual(decideOnExit(exit({ role, code: null, runOver: true })), { action: 'let-go', why: 'run over' });
  }
});

test('a clean exit mid-run lets a worker go, but the learner and the source come back', () => {
  assert.deepEqual(decideOnExit(exit({ role: 'judge', code: 0 })), { action: 'let-go', why: 'clean exit' });
  assert.deepEqual(decideOnExit(exit({ role: 'evaluator', code: 0 })), { action: 'let-go', why: 'clean exit' });
  assert.deepEqual(decideOnExit(exit({ role: 'learner', code: 0 })), { action: 'restart', attempt: 1 });
  assert.deepEqual(decideOnExit(exit({ role: 'source', code: 0 })), { action: 'restart', attempt: 1 });
});

test('a crash is restarted until maxRestarts, counting attempts', () => {
  assert.deepEqual(decideOnExit(exit({ code: null, restarts: 0 })), { action: 'restart', attempt: 1 });
  assert.deepEqual(decideOnExit(exit({ code: 137, restarts: 2 })), { action: 'restart', attempt: 3 });
  assert.equal(decideOnExit(exit({ restarts: 3 })).action, 'give-up');
  assert.equal(decideOnExit(exit({ maxRestarts: 0 })).action, 'give-up', 'maxRestarts 0 never restarts');
});

test('giving up ends the run when the role is essential or no peer of the role is left', () => {
  assert.deepEqual(decideOnExit(exit({ role: 'generator', restarts: 3, peersLeft: 2 })), { action: 'give-up', fatal: false });
  assert.deepEqual(decideOnExit(exit({ role: 'generator', restarts: 3, peersLeft: 0 })), { action: 'give-up', fatal: true });
  assert.deepEqual(decideOnExit(exit({ role: 'learner', restarts: 3, peersLeft: 5 })), { action: 'give-up', fatal: true });
  assert.deepEqual(decideOnExit(exit({ role: 'source', restarts: 3, peersLeft: 5 })), { action: 'give-up', fatal: true });
});
