// `rlhf-stream cluster` in the phase-driven modes: iterative (three phases, actors placed on cores) and offline (one).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { natsSkip } from '../helpers/nats_server.js';
import { actorRecords, CLI, prepareTinyArtifacts, runSets, tempRunsDir, total } from './harness.js';
import { readLedger } from '../../src/run/trained_ledger.js';

async function cluster(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [CLI, 'cluster', '--config', 'config/tiny.yaml', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, out, err };
}

/** Every phase's pairs: sampled by the version the phase before it published, trained once, at lag 0. */
function checkPhases(runDir: string, phases: number): { pairs: number; byVersion: number[] } {
  const pairs = readLedger(join(runDir, 'trained_pairs.jsonl')).flatMap((e) => e.pairs);
  const ids = pairs.map((p) => p.pairId);
  assert.equal(new Set(ids).size, ids.length, 'no pair trained twice');
  assert.ok(pairs.every((p) => p.lag === 0 && p.versions[0] === p.versions[1]), 'each phase samples with one version and trains it before publishing');
  const byVersion = Array.from({ length: phases }, (_, v) => pairs.filter((p) => p.versions[0] === v).length);
  assert.equal(byVersion.reduce((s, n) => s + n, 0), pairs.length, 'no pair sampled by a version outside the phases');
  return { pairs: pairs.length, byVersion };
}

describe('rlhf-stream cluster, phase-driven modes', { skip: natsSkip() }, () => {
  before(() => prepareTinyArtifacts());

  it('iterative: three phases, each released after the previous version, ending at version 3 with every pair trained once', async () => {
    const runs = tempRunsDir();
    const r = await cluster([...runSets(runs, { 'run.mode': 'iterative', 'run.iterations': 3 }), '--run', 'it', '--generators', '2', '--judges', '1', '--placement', 'generators=0,learner=1,judge=1']);
    assert.equal(r.code, 0, r.err.slice(-4000));
    const runDir = join(runs, 'it');
    for (let t = 1; t <= 3; t++) {
      assert.match(r.err, new RegExp(`^source \\| source: iteration ${t}/3 released`, 'm'));
      assert.match(r.err, new RegExp(`^learner \\| learner: iteration ${t}/3 trained: \\d+ pairs, \\d+ steps, version ${t}`, 'm'));
    }
    // Phase t's prompts went out only after the learner published version t - 1.
    const order = (s: string): number => r.err.search(new RegExp(s, 'm'));
    assert.ok(order('learner: iteration 1/3 trained') < order('source: iteration 2/3 released'));
    assert.ok(order('learner: iteration 2/3 trained') < order('source: iteration 3/3 released'));
    assert.match(r.out, /run it ended \(phases\)/);
    assert.match(r.out, /mode iterative: \d+ learner steps, policy version 3/);

    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
    assert.equal(summary.end.reason, 'phases');
    // The placement asked for: generators on core 0, learner and judge on core 1, each under taskset -c.
    assert.match(r.err, /placement \(taskset -c\): source: all cores, 1 GEMM thread; generator x2: cores 0, 1 GEMM thread; judge: cores 1, 1 GEMM thread; learner: cores 1/);
    assert.equal(summary.placement.pinned, true);
    assert.deepEqual(summary.placement.byRole.generator, { cores: [0], nativeThreads: 1 });
    assert.deepEqual(summary.placement.byRole.learner, { cores: [1], nativeThreads: 1 });
    const table = JSON.parse(readFileSync(join(runDir, 'processes.json'), 'utf8')) as Record<string, { cores: number[] | null }>;
    assert.deepEqual(table['generator-1']!.cores, [0]);
    assert.equal(summary.summary.version, 3);
    assert.equal(summary.summary.promptsPublished, 64);
    const recs = actorRecords(runDir);
    assert.ok(recs.every((x) => x.exit === 'end'), 'every actor left because the run ended');
    const pairsMade = total(recs, 'judge_pairs_total');
    const { pairs, byVersion } = checkPhases(runDir, 3);
    assert.equal(pairs, pairsMade, 'every labelled pair was trained');
    assert.equal(total(recs, 'learner_pairs_trained_total'), pairsMade);
    assert.ok(byVersion.every((n) => n > 0), `each phase trained pairs of its own version: ${byVersion.join(', ')}`);
    assert.equal(summary.summary.steps, byVersion.reduce((s, n) => s + Math.ceil(n / 4), 0), 'each phase steps over its pairs in batches of 4');
  });

  it('offline: one phase on SFT samples, ending at version 1 with every pair trained once', async () => {
    const runs = tempRunsDir();
    const r = await cluster([...runSets(runs, { 'run.mode': 'offline' }), '--run', 'off', '--generators', '1', '--judges', '2']);
    assert.equal(r.code, 0, r.err.slice(-4000));
    const runDir = join(runs, 'off');
    assert.match(r.err, /^learner \| learner: iteration 1\/1 trained: \d+ pairs, \d+ steps, version 1/m);
    assert.match(r.out, /mode offline: \d+ learner steps, policy version 1/);
    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
    assert.equal(summary.summary.version, 1);
    const recs = actorRecords(runDir);
    const { pairs, byVersion } = checkPhases(runDir, 1);
    assert.equal(pairs, total(recs, 'judge_pairs_total'));
    assert.equal(byVersion[0], pairs, 'every pair was sampled by the SFT policy');
    assert.equal(summary.summary.steps, Math.ceil(pairs / 4));
  });
});
