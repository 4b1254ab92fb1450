// kill -9 of a generator and of a judge in the middle of a NATS run, then a restart: the run completes, every pair once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { natsSkip, sharedNatsServer } from '../helpers/nats_server.js';
import { checkEveryPairOnce, faultRun, prepareTinyArtifacts, sleep, total, until } from './harness.js';

describe('worker crashes in a multi-process run', { skip: natsSkip() }, () => {
  const server = sharedNatsServer(prepareTinyArtifacts);

  it('kill -9 of a generator mid-run: its prompts are redelivered, the restarted generator rejoins (or finds the run over), no pair is lost or trained twice', async () => {
    let victim = '';
    const o = await faultRun(server.url, `kill-gen-${Date.now()}`, { generators: 2, judges: 1 }, async (ctx) => {
      await until('a first checkpoint', () => ctx.ledgerLines() >= 1, 45_000);
      // The generator doing the work: one pull request may keep feeding the same process for a while.
      victim = ['generator-0', 'generator-1'].sort((a, b) => ctx.audit.groupsBy(b) - ctx.audit.groupsBy(a))[0]!;
      assert.ok(ctx.audit.groupsBy(victim) >= 1);
      ctx.procs.get(victim)!.kill('SIGKILL');
      await sleep(500);
      // Under load the other generator may finish the run while this one starts: it then finds the run ended.
      await ctx.restart(victim).waitFor(new RegExp(`generator ${victim} running|run \\S+ already ended`), 30_000);
    });
    const learner = o.records.find((r) => r.role === 'learner')!;
    assert.equal(learner.end?.reason, 'totalSteps');
    assert.equal(learner.steps, 16);
    const killed = o.all.filter((p) => p.id === victim);
    assert.equal(killed.length, 2);
    assert.equal((await killed[0]!.exited).signal, 'SIGKILL');
    assert.equal((await killed[1]!.exited).code, 0);
    // Not asserted: while the other generator's pull request is open the server may keep feeding it alone.
    const again = o.records.find((r) => r.actorId === victim && r.pid === killed[1]!.proc.pid)!;
    const c = checkEveryPairOnce(o);
    assert.equal(c.trained, 16 * 4);
    assert.equal(total(o.records, 'learner_steps_total'), 16);
    const rejoined = new RegExp(`generator ${victim} running`).test(killed[1]!.output);
    if (!rejoined) assert.match(killed[1]!.output, /already ended \(totalSteps, 16 steps\)/, 'a restart that did not rejoin found the run over');
    console.log(`# kill -9 generator: ${o.seconds.toFixed(1)} s; killed ${victim}, its restart ${rejoined ? 'rejoined and' : 'found the run over and'} sampled ${again.metrics.generator_samples_total ?? 0}; pairs made ${c.made}, trained ${c.trained}, dead-lettered ${c.dead}, left stored ${c.remaining}`);
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
