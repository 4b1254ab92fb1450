// Generators join and leave a running multi-process run: the newcomer takes work, a SIGTERM'd one drains and loses nothing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { natsSkip, sharedNatsServer } from '../helpers/nats_server.js';
import { readLedger } from '../../src/run/trained_ledger.js';
import { accountPairs, ActorProc, actorRecords, prepareTinyArtifacts, runSets, startRun, tempRunsDir, total, until, waitAllExit, WireAudit } from './harness.js';

describe('scaling a multi-process run', { skip: natsSkip() }, () => {
  const server = sharedNatsServer(prepareTinyArtifacts);

  it('a generator added mid-run contributes samples; one removed with SIGTERM loses no prompt; every prompt becomes one group', async () => {
    const runs = tempRunsDir();
    const runId = 'scale';
    // The budget (not totalSteps) ends this run, so every prompt published must come out as a sample group.
    const sets = runSets(runs, { 'run.prompts': 48, 'run.promptsPerSecond': 4, 'learner.totalSteps': 1000, 'bus.ackWaitMs': 3000 });
    const audit = await WireAudit.start(server.url, runId);
    const t0 = Date.now();
    const procs = startRun(server.url, runId, sets, { generators: 1, judges: 1 });
    try {
      await until('generator-0 to publish groups', () => audit.groupsBy('generator-0') >= 4, 45_000);
      const t1 = Date.now();
      const before1 = audit.groups.size;
      const joined = new ActorProc('generator', 'generator-1', server.url, runId, sets);
      procs.set('generator-1', joined);
      await until('the new generator to contribute', () => audit.groupsBy('generator-1') >= 2, 30_000);
      const joinSeconds = (Date.now() - t1) / 1000;

      // generator-0 drains: it finishes its batch, hands unstarted prompts back, and exits cleanly.
      const leaving = procs.get('generator-0')!;
      const groupsOf0 = audit.groupsBy('generator-0');
      leaving.kill('SIGTERM');
      const left = await leaving.exited;
      assert.equal(left.code, 0, leaving.output);
      assert.match(leaving.output, /stopping on signal: draining/);

      const tLeft = Date.now();
      await waitAllExit(procs.values(), 60_000);
      console.log(`# timing: join at ${((t1 - t0) / 1000).toFixed(1)} s, leave at ${((tLeft - t0) / 1000).toFixed(1)} s, all exited at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const runDir = join(runs, runId);
      const recs = actorRecords(runDir);
      const learner = recs.find((r) => r.role === 'learner')!;
      assert.equal(learner.end?.reason, 'drained', 'the run ended when the budget was spent and the pipeline emptied');

      // Exactly once, by id: the 48 prompts published became 48 groups, each sent once and judged once.
      assert.equal(audit.prompts.size, 48);
      const promptIds = [...audit.prompts.keys()].map((id) => `g:${id}`).sort();
      assert.deepEqual([...audit.groups.keys()].sort(), promptIds);
      assert.ok([...audit.groups.values()].every((g) => g.sends === 1), 'no group was generated twice');
      assert.equal(total(recs, 'judge_groups_total'), 48);
      assert.ok(audit.groupsBy('generator-1') >= 2);
      assert.ok(audit.groupsBy('generator-0') >= groupsOf0);

      // Every pair made was trained, into a checkpoint, once (the drained end trains the last partial batch).
      const acc = await accountPairs(server.url, runId, runDir);
      assert.equal(acc.remaining.size, 0);
      assert.equal(acc.deadLettered.size, 0);
      const made = [...audit.pairs.keys()];
      const dropped = total(recs, 'learner_pairs_stale_dropped_total');
      const trained = made.filter((id) => acc.trained.has(id));
      assert.ok([...acc.trained.values()].every((n) => n === 1), 'no pair in two checkpoints');
      assert.equal(trained.length + dropped, made.length, `pairs made ${made.length}, trained ${trained.length}, dropped stale ${dropped}`);
      assert.equal(readLedger(join(runDir, 'trained_pairs.jsonl')).flatMap((e) => e.pairs).length, trained.length);
      console.log(
        `# scaling: groups before the join ${before1}, generator-1 contributed after ${joinSeconds.toFixed(1)} s; ` +
          `groups by generator-0 ${audit.groupsBy('generator-0')}, generator-1 ${audit.groupsBy('generator-1')}; pairs ${made.length}, dropped stale ${dropped}`,
      );
    } finally {
      for (const p of procs.values()) if (p.running) p.kill('SIGKILL');
      await audit.close();
    }
  });
});
