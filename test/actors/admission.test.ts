// Admission, decided without a bus: each pair is trained on, or skipped as a duplicate, stale or invalid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admitPair, policyLag, stalenessWeight, type AdmissionState } from '../../src/actors/admission.js';
import { pair } from './fakes.js';

function state(over: Partial<AdmissionState> = {}): AdmissionState {
  return { runId: 'test', version: 5, maxPolicyLag: 2, stalePairs: 'drop', covered: new Set(), held: new Set(), ...over };
}

test('staleness: lag is counted from the older sample; drop gives weight 0, downweight halves per extra version', () => {
  assert.equal(policyLag(7, pair('a', 6, 3)), 4);
  assert.equal(stalenessWeight(2, 2, 'drop'), 1);
  assert.equal(stalenessWeight(3, 2, 'drop'), 0);
  assert.equal(stalenessWeight(2, 2, 'downweight'), 1);
  assert.equal(stalenessWeight(5, 2, 'downweight'), 0.125);
});

test('a fresh pair is trained on with full weight, carrying its lag', () => {
  assert.deepEqual(admitPair(state(), pair('a', 4, 3)), { kind: 'train', lag: 2, weight: 1 });
});

test('a pair of another run, or with one sample on both sides, is invalid and says why', () => {
  const other = admitPair(state(), pair('a', 5, 5, 'other-run'));
  assert.equal(other.kind, 'invalid');
  assert.match((other as { reason: string }).reason, /pair from run "other-run"; this run is "test"/);
  const same = pair('b', 5);
  same.rejected = { ...same.rejected, sampleId: same.chosen.sampleId };
  const r = admitPair(state(), same);
  assert.equal(r.kind, 'invalid');
  assert.match((r as { reason: string }).reason, /pair b has the same sample b:0 on both sides/);
});

test('a pair seen before is a duplicate: of a checkpoint when covered, of a held delivery otherwise', () => {
  assert.deepEqual(admitPair(state({ covered: new Set(['a']) }), pair('a', 5)), { kind: 'duplicate', of: 'checkpointed' });
  assert.deepEqual(admitPair(state({ held: new Set(['a']) }), pair('a', 5)), { kind: 'duplicate', of: 'held' });
  // Covered wins over held: a checkpoint already acked it.
  assert.deepEqual(admitPair(state({ covered: new Set(['a']), held: new Set(['a']) }), pair('a', 5)), { kind: 'duplicate', of: 'checkpointed' });
});

test('validity is checked before duplicates, and duplicates before staleness', () => {
  assert.equal(admitPair(state({ covered: new Set(['a']) }), pair('a', 5, 5, 'other-run')).kind, 'invalid');
  assert.equal(admitPair(state({ held: new Set(['a']) }), pair('a', 0)).kind, 'duplicate');
});

test("beyond maxPolicyLag a pair is stale under 'drop' and down-weighted under 'downweight'", () => {
  assert.deepEqual(admitPair(state(), pair('a', 2)), { kind: 'stale', lag: 3 });
  assert.deepEqual(admitPair(state({ stalePairs: 'downweight' }), pair('a', 1)), { kind: 'train', lag: 4, weight: 0.25 });
});
