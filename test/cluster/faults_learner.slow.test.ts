// kill -9 of the learner mid-run and a nats-server restart mid-run: the run completes, no pair is lost or trained twice.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { learnerStateOf } from '../../src/actors/learner_state.js';
import { loadCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { readLedger, type LedgerEntry } from '../../src/run/trained_ledger.js';
import { natsSkip, startNatsServer } from '../helpers/nats_server.js';
import { checkEveryPairOnce, faultRun, prepareTinyArtifacts, sleep, until } from './harness.js';

describe('learner and server faults in a multi-process run', { skip: natsSkip() }, () => {
  it('kill -9 of the learner mid-run: the restarted learner resumes from its checkpoint; pairs it had not checkpointed are redelivered and trained once', async () => {
    prepareTinyArtifacts();
    const server = await startNatsServer();
    try {
      let stepAtKill = 0;
      let ledgerAtKill: LedgerEntry[] = [];
      let committedAtKill = 0;
      const o = await faultRun(server.url, `kill-learner-${Date.now()}`, { generators: 1, judges: 1 }, async (ctx) => {
        // Aimed between checkpoints (every 2 steps). The kill can still land after a checkpoint's commit and before its
        // ledger line: the restarted learner then writes that line from the checkpoint ('restore').
        const checkpointed = (): number => readLedger(join(ctx.runDir, 'trained_pairs.jsonl')).at(-1)?.step ?? 0;
        await until('a step past a checkpoint', () => ctx.audit.learnerStep > checkpointed() && checkpointed() > 0, 45_000);
        const victim = ctx.procs.get('learner')!;
        victim.kill('SIGKILL');
        // Read once the process is gone: a write it had under way when the signal came is either on disk or never.
        await victim.exited;
        stepAtKill = ctx.audit.learnerStep;
        ledgerAtKill = readLedger(join(ctx.runDir, 'trained_pairs.jsonl'));
        committedAtKill = learnerStateOf((await loadCheckpoint(join(ctx.runDir, 'checkpoints'))).state ?? {}, 'checkpoints').step;
        await sleep(500);
        await ctx.restart('learner').waitFor(/learner: restored checkpoint at step \d+/, 30_000);
      });
      const learners = o.all.filter((p) => p.id === 'learner');
      assert.equal(learners.length, 2);
      assert.equal((await learners[0]!.exited).signal, 'SIGKILL');
      const restored = Number(/restored checkpoint at step (\d+)/.exec(learners[1]!.output)![1]);
      assert.equal(restored, committedAtKill, 'the learner resumed from the last checkpoint committed before the kill');
      // The ledger as it stood at the kill is a prefix of the final one.
      assert.deepEqual(o.acc.ledger.slice(0, ledgerAtKill.length), ledgerAtKill);
      const recordedAtKill = ledgerAtKill.at(-1)?.step ?? 0;
      assert.ok(recordedAtKill >= 2, 'the kill came after a first checkpoint was recorded');
      let cutOff = false;
      if (recordedAtKill === restored) {
        assert.notEqual(o.acc.ledger[ledgerAtKill.length]?.source, 'restore', 'no line rewritten when none was lost');
      } else {
        // The kill fell between a commit and its ledger line: the new learner wrote it from the checkpoint, before training.
        cutOff = true;
        assert.equal(restored, recordedAtKill + 2, 'at most the line of the last checkpoint can be missing');
        const line = o.acc.ledger[ledgerAtKill.length]!;
        assert.equal(line.source, 'restore');
        assert.equal(line.step, restored);
        assert.equal(line.pid, learners[1]!.proc.pid);
      }
      assert.ok(
        o.acc.ledger.every((e, i) => i === 0 || e.step > o.acc.ledger[i - 1]!.step),
        `ledger steps rise: ${o.acc.ledger.map((e) => e.step).join(', ')}`,
      );
      const end = o.records.find((r) => r.role === 'learner' && r.exit === 'end')!;
      assert.equal(end.end?.reason, 'totalSteps');
      assert.equal(end.steps, 16);
      const c = checkEveryPairOnce(o);
      assert.equal(c.trained, 16 * 4, 'each of the 16 checkpointed steps holds 4 distinct pairs');
      console.log(
        `# kill -9 learner: ${o.seconds.toFixed(1)} s; killed near step ${stepAtKill} (metrics), restored at step ${restored}` +
          `${cutOff ? ' (the kill cut off its ledger line; rewritten at restore)' : ''}; ` +
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
      // Acked messages the restarted server still stored (it saved the acks, not their removal), removed by the learner.
      const leftovers = o.all
        .filter((p) => p.id === 'learner')
        .flatMap((p) => [...p.output.matchAll(/removed (\d+) (\w+) the server still stored after their ack/g)].map((m) => `${m[1]} ${m[2]}`));
      console.log(
        `# nats restart: ${o.seconds.toFixed(1)} s; ${end.steps} steps; pairs seen ${c.made}, trained ${c.trained}, dead-lettered ${c.dead}; redelivered after their checkpoint and skipped ${skipped}; ` +
          `acked leftovers removed: ${leftovers.join(', ') || 'none'}`,
      );
    } finally {
      await server.stop();
    }
  });
});
