// Replay of a multi-process run whose learner was killed -9 and restarted: the record holds each pair once, in the
// order the surviving checkpoints trained them, and retraining it gives every version the run published bit for bit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readReplayResult } from '../../src/run/replay.js';
import { readReplayPlan } from '../../src/run/replay_plan.js';
import { readLedger } from '../../src/run/trained_ledger.js';
import { natsSkip, startNatsServer } from '../helpers/nats_server.js';
import { checkEveryPairOnce, CLI, faultRun, prepareTinyArtifacts, sleep, until } from './harness.js';

describe('replay of a multi-process run', { skip: natsSkip() }, () => {
  it('after kill -9 of the learner and its restart: each pair once, in checkpoint order, every version equal', async () => {
    prepareTinyArtifacts();
    const server = await startNatsServer();
    try {
      const o = await faultRun(server.url, `replay-kill-${Date.now()}`, { generators: 1, judges: 1 }, async (ctx) => {
        const checkpointed = (): number => readLedger(join(ctx.runDir, 'trained_pairs.jsonl')).at(-1)?.step ?? 0;
        await until('a step past a checkpoint', () => ctx.audit.learnerStep > checkpointed() && checkpointed() > 0, 45_000);
        const victim = ctx.procs.get('learner')!;
        victim.kill('SIGKILL');
        await victim.exited;
        await sleep(500);
        await ctx.restart('learner').waitFor(/learner: restored checkpoint at step \d+/, 30_000);
      });
      assert.equal(o.all.filter((p) => p.id === 'learner').length, 2, 'the learner ran twice');
      checkEveryPairOnce(o);

      const plan = readReplayPlan(o.runDir);
      assert.deepEqual(
        plan.steps.map((s) => s.step),
        Array.from({ length: 16 }, (_, i) => i + 1),
        'steps 1..16, the ones the kill lost taken again by the restarted learner',
      );
      assert.equal(plan.distinctPairs, plan.pairSlots, 'no pair trained twice');
      // The order: step by step, the pairs each checkpoint acked, as the ledger lists them.
      assert.deepEqual(
        plan.steps.flatMap((s) => s.pairIds),
        o.acc.ledger.flatMap((e) => e.pairs.map((p) => p.pairId)),
      );
      assert.deepEqual(new Set(plan.steps.flatMap((s) => s.pairIds)), new Set(o.acc.trained.keys()));

      const r = spawnSync(process.execPath, [CLI, 'replay', '--run', o.runDir], { encoding: 'utf8', timeout: 300_000 });
      assert.equal(r.status, 0, r.stderr + r.stdout);
      const res = readReplayResult(join(o.runDir, 'replays', 'exact'));
      assert.ok(res.versions.length >= 8, `versions checked: ${res.versions.length}`);
      assert.ok(res.versions.every((v) => v.equal));
      assert.equal(res.checkpoint?.equal, true);
      console.log(`# replay after kill -9: ${res.steps} steps, ${res.distinctPairs} pairs, ${res.versions.length} versions equal, checkpoint equal; ${res.wallSeconds.toFixed(1)} s`);
    } finally {
      await server.stop();
    }
  });
});
