// Placement of actor processes on cores: parsing --placement and deciding each role's cores and GEMM threads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePlacement, planPlacement, PlacementError } from '../../src/run/placement.js';
import type { ActorRole } from '../../src/run/actor_process.js';

const procs = (generators: number, judges: number): Record<ActorRole, number> => ({ source: 1, generator: generators, judge: judges, learner: 1, evaluator: 1 });

describe('parsePlacement', () => {
  it('reads role=cores entries, singular or plural, with single cores, ranges and + lists', () => {
    assert.deepEqual(parsePlacement('generators=0,learner=1,judge=1', 2), { generator: [0], learner: [1], judge: [1] });
    assert.deepEqual(parsePlacement(' generator=0-2+5 , evaluators=3+3 ', 8), { generator: [0, 1, 2, 5], evaluator: [3] });
  });

  it('rejects unknown roles, bad core lists, missing cores and repeats, naming the bad value', () => {
    assert.throws(() => parsePlacement('trainer=1', 2), (e: Error) => e instanceof PlacementError && /unknown role "trainer"; accepted: source, generator, judge, learner, evaluator/.test(e.message));
    assert.throws(() => parsePlacement('learner=x', 2), /"x" is not a core, a range a-b, or cores joined by \+/);
    assert.throws(() => parsePlacement('learner=3-1', 8), /range 3-1 runs backwards/);
    assert.throws(() => parsePlacement('learner=2', 2), /core 2 does not exist \(this machine has cores 0-1\)/);
    assert.throws(() => parsePlacement('learner', 2), /"learner" is not role=cores/);
    assert.throws(() => parsePlacement('judge=0,judges=1', 2), /names judge twice/);
    assert.throws(() => parsePlacement(' , ', 2), /--placement is empty/);
  });
});

describe('planPlacement', () => {
  it('pins each placed role with taskset and splits its cores into GEMM threads over its processes', () => {
    const plan = planPlacement(parsePlacement('generators=0-3,learner=4-5,judge=4-5', 8), { processes: procs(2, 1), nativeThreads: 1, taskset: true });
    assert.equal(plan.pinned, true);
    assert.deepEqual(plan.byRole.generator, { cores: [0, 1, 2, 3], nativeThreads: 2 });
    assert.deepEqual(plan.byRole.learner, { cores: [4, 5], nativeThreads: 2 });
    assert.deepEqual(plan.byRole.source, { cores: null, nativeThreads: 1 });
    assert.deepEqual(plan.prefix('generator'), ['taskset', '-c', '0,1,2,3']);
    assert.deepEqual(plan.prefix('evaluator'), []);
    assert.match(plan.describe, /^placement \(taskset -c\): source: all cores, 1 GEMM thread; generator x2: cores 0\+1\+2\+3, 2 GEMM threads; judge: cores 4\+5/);
    assert.equal(plan.warning, undefined);
  });

  it('gives every process at least one thread when processes outnumber cores', () => {
    const plan = planPlacement({ generator: [0] }, { processes: procs(3, 1), nativeThreads: 4, taskset: true });
    assert.equal(plan.byRole.generator.nativeThreads, 1);
    assert.equal(plan.byRole.learner.nativeThreads, 4, 'unplaced roles keep compute.nativeThreads');
  });

  it('without taskset pins nothing, still applies the thread counts, and says why', () => {
    const plan = planPlacement({ learner: [0, 1] }, { processes: procs(1, 1), nativeThreads: 1, taskset: false });
    assert.equal(plan.pinned, false);
    assert.deepEqual(plan.prefix('learner'), []);
    assert.equal(plan.byRole.learner.nativeThreads, 2);
    assert.match(plan.warning ?? '', /taskset was not found \(Debian: apt-get install util-linux\)/);
    assert.match(plan.describe, /^placement \(not pinned\):/);
  });

  it('with no placement pins nothing and warns of nothing', () => {
    const plan = planPlacement({}, { processes: procs(1, 1), nativeThreads: 1, taskset: false });
    assert.equal(plan.pinned, false);
    assert.equal(plan.warning, undefined);
    assert.match(plan.describe, /^placement: source: all cores/);
  });
});
