// The run driver's decisions (drain polls, phase resume and counts, release order) and its loops over the in-process control plane.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../helpers/fake_clock.js';
import { drainPoll, nextPhaseToRelease, phaseBase, phasePoll, PhasedRunError, QUIET_POLLS, resumePhase, runEnd, waitDrained } from '../../src/run/run_driver.js';
import { InProcessRunControl } from '../../src/streams/inprocess/run_control.js';
import type { Backlog, SourceProgress } from '../../src/streams/run_control.js';

const spent: SourceProgress = { published: 10, budget: 10, exhausted: true, ts: 0 };
const empty: Backlog = { prompts: 0, samples: 0, pairs: 3, pairsUndelivered: 0 };

test('drain polls: quiet ones count up, any busy one starts the count again', () => {
  let quiet = 0;
  quiet = drainPoll(quiet, spent, empty, 3);
  assert.equal(quiet, 1);
  quiet = drainPoll(quiet, spent, { ...empty, samples: 1 }, 3);
  assert.equal(quiet, 0, 'a group waits');
  quiet = drainPoll(drainPoll(quiet, spent, empty, 3), spent, empty, 3);
  assert.equal(quiet, QUIET_POLLS);
  assert.equal(drainPoll(5, { ...spent, exhausted: false }, empty, 3), 0, 'the source still publishes');
});

test('phase polls: the phase\'s prompts must all be out (or the budget spent) and nothing wait upstream of the pairs', () => {
  const src = (published: number, exhausted = false): SourceProgress => ({ published, budget: 30, exhausted, ts: 0 });
  const idle: Backlog = { prompts: 0, samples: 0, pairs: 7, pairsUndelivered: 7 };
  assert.equal(phasePoll(0, src(20), idle, 20), 1);
  assert.equal(phasePoll(1, src(19), idle, 20), 0, 'one prompt of the phase still to publish');
  assert.equal(phasePoll(1, src(19, true), idle, 20), 2, 'the budget ran out inside the phase');
  assert.equal(phasePoll(1, src(20), { ...idle, prompts: 1 }, 20), 0, 'a prompt waits for a generator');
  assert.equal(phasePoll(1, src(20), { ...idle, samples: 1 }, 20), 0, 'a group waits for a judge');
  assert.equal(phasePoll(1, src(20), undefined, 20), 0, 'no backlog read');
  assert.equal(phasePoll(1, undefined, idle, 20), 0, 'no source record');
});

test('resume: the phase after the last completed one; a record of another phase count is refused with both counts', () => {
  assert.equal(resumePhase(undefined, 3, 'x'), 0);
  assert.equal(resumePhase({ completed: 2, iterations: 3, version: 2, ts: 0 }, 3, 'x'), 2);
  assert.throws(() => resumePhase({ completed: 1, iterations: 4, version: 1, ts: 0 }, 3, 'run.iterations 3'), (err: Error) => {
    assert.ok(err instanceof PhasedRunError);
    assert.match(err.message, /has 4 phases but this config makes 3 \(run\.iterations 3\)/);
    return true;
  });
});

test('phase base: the first phase counts pairs still stored from before a restart, later ones start at the last sequence', () => {
  assert.equal(phaseBase(2, 2, { lastSeq: 40, messages: 6 }), 34);
  assert.equal(phaseBase(3, 2, { lastSeq: 40, messages: 6 }), 40);
  assert.equal(phaseBase(0, 0, { lastSeq: 0, messages: 0 }), 0);
});

test('release order: the first phase whose end the source has not reached', () => {
  const ends = [8, 16, 24];
  assert.equal(nextPhaseToRelease(0, ends), 0);
  assert.equal(nextPhaseToRelease(8, ends), 1);
  assert.equal(nextPhaseToRelease(12, ends), 1, 'a restarted source finishes the phase it started');
  assert.equal(nextPhaseToRelease(24, ends), 3);
});

test('the end record carries the reason, steps, version and learner', () => {
  assert.deepEqual(runEnd('drained', { step: 7, version: 3 }, 'learner-0', 99), { state: 'done', reason: 'drained', steps: 7, version: 3, learnerId: 'learner-0', ts: 99 });
});

test('in-process control: phase and end records round-trip, waitEnd resolves on markEnd or undefined on abort', async () => {
  const c = new InProcessRunControl({ source: () => spent, backlog: () => empty, pairsStored: () => ({ lastSeq: 3, messages: 3 }) });
  assert.equal(await c.phase(), undefined);
  await c.setPhase({ completed: 1, iterations: 2, version: 1, ts: 5 });
  assert.deepEqual(await c.phase(), { completed: 1, iterations: 2, version: 1, ts: 5 });
  const aborted = new AbortController();
  const gaveUp = c.waitEnd(aborted.signal);
  aborted.abort();
  assert.equal(await gaveUp, undefined);
  const waiting = c.waitEnd(new AbortController().signal);
  const end = runEnd('phases', { step: 4, version: 2 }, 'learner', 6);
  await c.markEnd(end);
  assert.deepEqual(await waiting, end);
  assert.deepEqual(await c.end(), end);
  assert.deepEqual(await c.waitEnd(new AbortController().signal), end, 'an end already written is returned at once');
  assert.deepEqual(await c.backlog(), empty);
  assert.deepEqual(await c.pairsStored(), { lastSeq: 3, messages: 3 });
});

test('waitDrained over the in-process control: returns after two quiet polls once the learner holds every stored pair', async () => {
  const clock = new FakeClock(0);
  let held = 1;
  let polls = 0;
  const control = new InProcessRunControl({
    source: () => spent,
    backlog: () => (polls++, empty),
    pairsStored: () => ({ lastSeq: 3, messages: 3 }),
  });
  let done = false;
  const waiting = waitDrained({ control, clock, log: () => undefined, signal: new AbortController().signal, closed: () => false, pollMs: 100, held: () => held }).then(() => (done = true));
  for (let i = 0; i < 5; i++) await clock.advance(100);
  assert.equal(done, false, 'the learner holds 1 of 3 stored pairs');
  held = 3;
  for (let i = 0; i < QUIET_POLLS && !done; i++) await clock.advance(100);
  await waiting;
  assert.ok(polls >= 5 + QUIET_POLLS);
});
