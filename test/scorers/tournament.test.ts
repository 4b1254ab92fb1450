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

/** Plays synchronously, round by round, with the better quality winning each match. */
function playSync(q: readonly number[]): number[] {
  const t = new Tournament(q.length);
  while (!t.done) t.record(t.pending.map(({ a, b }) => (q[a]! > q[b]! ? 1 : 0)));
  return t.scores;
}

/** Every permutation of 0..k-1 (Heap's algorithm), handed to `visit` in place. */
function eachPermutation(k: number, visit: (q: readonly number[]) => void): void {
  const q = Array.from({ length: k }, (_, i) => i);
  const c = new Array<number>(k).fill(0);
  visit(q);
  for (let i = 1; i < k; ) {
    if (c[i]! < i) {
      const j = i % 2 === 0 ? 0 : c[i]!;
      [q[j], q[i]] = [q[i]!, q[j]!];
      visit(q);
      c[i]!++;
      i = 1;
    } else {
      c[i] = 0;
      i++;
    }
  }
}

test('tournament: for every order of K = 2..9 responses the best is the unique maximum and the worst the unique minimum', () => {
  for (let k = 2; k <= 9; k++) {
    let orders = 0;
    eachPermutation(k, (q) => {
      orders++;
      const scores = playSync(q);
      const max = Math.max(...scores);
      const min = Math.min(...scores);
      assert.equal(argmax(scores), q.indexOf(k - 1), `K=${k} q=${q} scores=${scores}`);
      assert.equal(argmin(scores), q.indexOf(0), `K=${k} q=${q} scores=${scores}`);
      assert.equal(scores.filter((s) => s === max).length, 1, `K=${k} q=${q} scores=${scores}`);
      assert.equal(scores.filter((s) => s === min).length, 1, `K=${k} q=${q} scores=${scores}`);
    });
    assert.equal(orders, Array.from({ length: k }, (_, i) => i + 1).reduce((x, y) => x * y), `all ${k}! orders visited`);
  }
});

test('tournament: the worst response holding the first-round bye (odd K) is still found', async () => {
  for (const k of [3, 5, 7, 9, 15]) {
    // The highest index draws the first-round bye; make it the worst.
    const q = Array.from({ length: k }, (_, i) => (i === k - 1 ? 0 : i + 1));
    const { scores } = await play(q);
    assert.equal(argmin(scores), k - 1, `K=${k} scores=${scores}`);
    assert.equal(argmax(scores), k - 2, `K=${k} scores=${scores}`);
  }
});

test('tournament: with random orders up to K = 16 the best and the worst are found', async () => {
  const rng = new Rng(7);
  for (let k = 2; k <= 16; k++) {
    for (let trial = 0; trial < 5; trial++) {
      const q = rng.shuffle(Array.from({ length: k }, (_, i) => i));
      const { scores } = await play(q);
      assert.equal(argmax(scores), q.indexOf(k - 1), `K=${k} q=${q} scores=${scores}`);
      assert.equal(argmin(scores), q.indexOf(0), `K=${k} q=${q} scores=${scores}`);
    }
  }
});

test('tournament: comparisons grow linearly: (K - 1) + (ceil(K/2) - 1) matches, against K(K-1)/2 for a round robin', async () => {
  for (const k of [2, 3, 4, 5, 8, 9, 16, 17, 32, 33, 64]) {
    const { comparisons } = await play(Array.from({ length: k }, (_, i) => (i * 7919) % k));
    assert.equal(comparisons, k - 1 + Math.ceil(k / 2) - 1, `K=${k}`);
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
