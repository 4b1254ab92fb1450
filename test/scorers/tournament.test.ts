// The pairwise tournament: linear in K, finds the best and the worst under transitive preferences, treats a tie as a tie.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/kernels/rng.js';
import { bothOrders, runTournaments, Tournament } from '../../src/scorers/tournament.js';

/** Plays a tournament where response i has hidden quality q[i]: the better one wins each match. */
async function play(q: number[]): Promise<{ scores: number[]; comparisons: number }> {
  const r = await runTournaments([q.length], async (ms) => ms.map(({ a, b }) => (q[a]! > q[b]! ? 1 : q[a]! < q[b]! ? 0 : 0.5)));
  return { scores: r.scores[0]!, comparisons: r.comparisons[0]! };
}

const argmax = (xs: number[]): number => xs.indexOf(Math.max(...xs));
const argmin = (xs: number[]): number => xs.indexOf(Math.min(...xs));

test('tournament: the best response is the unique maximum and the worst the unique minimum, for K = 2..16', async () => {
  const rng = new Rng(7);
  for (let k = 2; k <= 16; k++) {
    for (let trial = 0; trial < 5; trial++) {
      const q = rng.shuffle(Array.from({ length: k }, (_, i) => i));
      const { scores } = await play(q);
      assert.equal(argmax(scores), q.indexOf(k - 1), `K=${k} q=${q} scores=${scores}`);
      assert.equal(scores.filter((s) => s === Math.max(...scores)).length, 1);
      if (k % 2 === 0) {
        // With odd K the worst may draw the first-round bye and never reach the lower bracket.
        assert.equal(argmin(scores), q.indexOf(0), `K=${k} q=${q} scores=${scores}`);
        assert.equal(scores.filter((s) => s === Math.min(...scores)).length, 1);
      }
    }
  }
});

test('tournament: comparisons grow linearly: (K - 1) + (ceil(K/2) - 1) matches for even K, against K(K-1)/2 for a round robin', async () => {
  for (const k of [2, 4, 8, 16, 32, 64]) {
    const { comparisons } = await play(Array.from({ length: k }, (_, i) => (i * 7919) % k));
    assert.equal(comparisons, k - 1 + k / 2 - 1, `K=${k}`);
    assert.ok(comparisons < 1.5 * k);
  }
});

test('tournament: a tied deciding match leaves the two responses level (the pairing rules then drop the group)', async () => {
  const { scores } = await play([3, 3]);
  assert.deepEqual(scores, [0.5, 0.5]);
  const t = new Tournament(2);
  assert.deepEqual(t.pending, [{ a: 0, b: 1 }]);
  t.record([bothOrders(1, 1)]); // a wins as first, b wins as first: position bias, a disagreement
  assert.ok(t.done);
  assert.equal(t.scores[0], t.scores[1]);
});

test('tournament: rounds of many groups are batched into one compare call each', async () => {
  let calls = 0;
  const r = await runTournaments([8, 8, 4], async (ms) => {
    calls++;
    return ms.map(({ a, b }) => (a < b ? 0.9 : 0.1));
  });
  assert.equal(calls, 3, 'log2(8) rounds');
  assert.deepEqual(r.comparisons, [10, 10, 4]);
  assert.equal(argmax(r.scores[0]!), 0);
  assert.equal(argmin(r.scores[0]!), 7);
});

test('tournament: an outcome that is not a probability is refused', async () => {
  await assert.rejects(runTournaments([2], async () => [1.5]), /probability in \[0, 1\]; got 1.5/);
  await assert.rejects(runTournaments([4], async () => [0.2]), /compare returned 1 outcomes for 2 matches/);
});
