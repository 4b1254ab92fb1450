// kill -9 of a generator and of a judge in the middle of a NATS run, then a restart: the run completes, every pair once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats_server.js';
import { checkEveryPairOnce, faultRun, prepareTinyArtefacts, sleep, total, until } from './harness.js';

describe('worker crashes in a multi-process run', { skip: natsServerAvailable() ? false : 'nats-server not found' }, () => {
  let server: NatsServerHandle;
  before(async () => {
    prepareTinyArtefacts();
    server = await startNatsServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('kill -9 of a generator mid-run: its prompts are redelivered, the restarted generator rejoins, no pair is lost or trained twice', async () => {
    const o = await faultRun(server.url, `kill-gen-${Date.now()}`, { generators: 2, judges: 1 }, async (ctx) => {
      await until('a first checkpoint, with generator-0 at work', () => ctx.ledgerLines() >= 1 && ctx.audit.groupsBy('generator-0') >= 3, 45_000);
      ctx.procs.get('generator-0')!.kill('SIGKILL');
      await sleep(500);
      await ctx.restart('generator-0').waitFor(/generator generator-0 running/, 30_000);
    });
    const learner = o.records.find((r) => r.role === 'learner')!;
    assert.equal(learner.end?.reason, 'totalSteps');
    assert.equal(learner.steps, 16);
    const killed = o.all.filter((p) => p.id === 'generator-0');
    assert.equal(killed.length, 2);
    assert.equal((await killed[0]!.exited).signal, 'SIGKILL');
    assert.equal((await killed[1]!.exited).code, 0);
    const again = o.records.find((r) => r.actorId === 'generator-0' && r.pid === killed[1]!.proc.pid)!;
    assert.ok((again.metrics.generator_samples_total ?? 0) > 0, 'the restarted generator sampled again');
    const c = checkEveryPairOnce(o);
    assert.equal(c.trained, 16 * 4);
    assert.equal(total(o.records, 'learner_steps_total'), 16);
    console.log(`# kill -9 generator: ${o.seconds.toFixed(1)} s; pairs made ${c.made}, trained ${c.trained}, dead-lettered ${c.dead}, left stored ${c.remaining}`);
  });

  it('kill -9 of the only judge mid-run: its groups are redelivered to the restarted judge, no pair is lost or trained twice', async () => {
    const o = await faultRun(server.url, `kill-judge-${Date.now()}`, { generators: 1, judges: 1 }, async (ctx) => {
      await until('a first checkpoint', () => ctx.ledgerLines() >= 1, 45_000);
      ctx.procs.get('judge-0')!.kill('SIGKILL');
      await sleep(500);
      await ctx.restart('judge-0').waitFor(/judge judge-0 running/, 30_000);
    });
    const learner = o.records.find((r) => r.role === 'learner')!;
    assert.equal(learner.end?.reason, 'totalSteps');
    assert.equal(learner.steps, 16);
    assert.equal(o.all.filter((p) => p.id === 'judge-0').length, 2);
    const c = checkEveryPairOnce(o);
    assert.equal(c.trained, 16 * 4);
    const judges = o.all.filter((p) => p.id === 'judge-0');
    const again = o.records.find((r) => r.actorId === 'judge-0' && r.pid === judges[1]!.proc.pid)!;
    assert.ok((again.metrics.judge_pairs_total ?? 0) > 0, 'the restarted judge made pairs');
    console.log(`# kill -9 judge: ${o.seconds.toFixed(1)} s; pairs made ${c.made}, trained ${c.trained}, dead-lettered ${c.dead}, left stored ${c.remaining}`);
  });
});
