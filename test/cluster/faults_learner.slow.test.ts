// kill -9 of the learner mid-run and a nats-server restart mid-run: the run completes, no pair is lost or trained twice.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readLedger } from '../../src/run/trained_ledger.js';
import { natsSkip, startNatsServer } from '../helpers/nats_server.js';
import { checkEveryPairOnce, faultRun, prepareTinyArtifacts, sleep, until } from './harness.js';

describe('learner and server faults in a multi-process run', { skip: natsSkip() }, () => {
  it('kill -9 of the learner mid-run: the restarted learner resumes from its checkpoint; pairs it had not checkpointed are redelivered and trained once', async () => {
    prepareTinyArtifacts();
    const server = await startNatsServer();
    try {
      let linesAtKill = 0;
      let stepAtKill = 0;
      const o = await faultRun(server.url, `kill-learner-${Date.now()}`, { generators: 1, judges: 1 }, async (ctx) => {
        // Killed between checkpoints (every 2 steps): the step it trained since the last one dies with the process.
        const checkpointed = (): number => readLedger(join(ctx.runDir, 'trained_pairs.jsonl')).at(-1)?.step ?? 0;
        await until('a step past a checkpoint', () => ctx.audit.learnerStep > checkpointed() && checkpointed() > 0, 45_000);
        ctx.procs.get('learner')!.kill('SIGKILL');
        stepAtKill = ctx.audit.learnerStep;
        linesAtKill = ctx.ledgerLines();
        await sleep(500);
        await ctx.restart('learner').waitFor(/learner: restored checkpoint at step \d+/, 30_000);
      });
      const learners = o.all.filter((p) => p.id === 'learner');
      assert.equal(learners.length, 2);
      assert.equal((await learners[0]!.exited).signal, 'SIGKILL');
      const restored = Number(/restored checkpoint at step (\d+)/.exec(learners[1]!.output)![1]);
      assert.equal(restored, o.acc.ledger[linesAtKill - 1]!.step, 'the learner resumed from the last checkpoint the ledger recorded');
      assert.ok(stepAtKill > restored, `steps ${restored + 1}..${stepAtKill} were trained and lost with the process`);
      const end = o.records.find((r) => r.role === 'learner' && r.exit === 'end')!;
      assert.equal(end.end?.reason, 'totalSteps');
      assert.equal(end.steps, 16);
      const c = checkEveryPairOnce(o);
      assert.equal(c.trained, 16 * 4, 'each of the 16 checkpointed steps holds 4 distinct pairs');
      console.log(
        `# kill -9 learner: ${o.seconds.toFixed(1)} s; killed at step ${stepAtKill}, restored at step ${restored} (${(stepAtKill - restored) * 4} trained pairs lost and redelivered); ` +
          `pairs made ${c.made}, trained ${c.trained}, dead-lettered ${c.dead}, left stored ${c.remaining}; duplicates acked by the new learner ${end.metrics.learner_pairs_duplicate_total ?? 0}`,
      );
    } finally {
      await server.stop();
    }
  });

  it('nats-server killed and restarted on the same storage mid-run: every client reconnects and the run completes, every pair trained once', async () => {
    prepareTinyArtifacts();
    const server = await startNatsServer();
    try {
      // The budget ends this run: the learner waits until no pair is left stored, so an ack the crash lost shows up
      // as a redelivery that must be recognised as already trained.
      const budget = { 'run.prompts': 64, 'learner.totalSteps': 1000 };
      const o = await faultRun(
        server.url,
        `nats-restart-${Date.now()}`,
        { generators: 1, judges: 1 },
        async (ctx) => {
          await until('a first checkpoint', () => ctx.ledgerLines() >= 1, 45_000);
          server.kill9();
          await sleep(1500);
          await server.restart();
        },
        budget,
      );
      const end = o.records.find((r) => r.role === 'learner')!;
      assert.equal(end.end?.reason, 'drained');
      assert.ok(o.records.every((r) => r.exit === 'end'), 'every actor saw the end of the run');
      assert.ok(o.all.every((p) => /bus: NATS (disconnect|reconnect)/.test(p.output)), 'every actor saw the server go and come back');
      const c = checkEveryPairOnce(o, { auditMayMiss: true });
      assert.equal(c.remaining, 0);
      const skipped = end.metrics.learner_pairs_already_trained_total ?? 0;
      console.log(`# nats restart: ${o.seconds.toFixed(1)} s; ${end.steps} steps; pairs seen ${c.made}, trained ${c.trained}, dead-lettered ${c.dead}; redelivered after their checkpoint and skipped ${skipped}`);
    } finally {
      await server.stop();
    }
  });
});
