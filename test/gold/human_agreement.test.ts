// The gold judge agrees with a person: on the committed human pairs (and on a second set written the same way without
// reading the judge's code) it picks the person's choice at least 95% of the time, on both tasks.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createGoldJudge, GOLD_TASK_NAMES, goldTask, humanAgreement, humanPairsPath, HumanPairsError, readHumanPairs, taskAgreement, type GoldJudge } from '../../src/gold/index.js';

const fixture = humanPairsPath;
const judges = new Map<string, GoldJudge>();
before(async () => {
  for (const task of GOLD_TASK_NAMES) judges.set(task, await createGoldJudge(task));
});
after(async () => {
  for (const j of judges.values()) await j.close();
});

for (const task of GOLD_TASK_NAMES) {
  test(`${task}: agrees with the person on at least 95% of each of its pairs files`, async () => {
    assert.ok(goldTask(task).humanPairs.length >= 1, 'every task brings a file of human pairs');
    for (const r of await taskAgreement(judges.get(task)!)) {
      assert.ok(r.pairs >= 32, `${r.file}: ${r.pairs} pairs`);
      const detail = r.misses.map((m) => `${m.pair.prompt} | a ${m.a.toFixed(3)} b ${m.b.toFixed(3)} | chose ${m.pair.prefer}: ${m.pair.why}`).join('\n');
      assert.ok(r.agreed / r.pairs >= 0.95, `${r.file}: ${r.agreed}/${r.pairs}:\n${detail}`);
    }
  });
}

test('each pair kind the person rejects for ignoring the prompt loses on every task', async () => {
  const pairs = readHumanPairs(fixture('positive.jsonl')).filter((p) => /ignores|does not (use|continue)|not continue/.test(p.why));
  assert.ok(pairs.length >= 5, `${pairs.length} such pairs`);
  for (const [task, judge] of judges) {
    const r = await humanAgreement(judge, pairs);
    assert.deepEqual(r.misses.map((m) => m.pair.prompt), [], task);
  }
});

test('a bad pairs file is refused naming the line and the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'human-pairs-'));
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"prompt":"Define x.","a":"x","b":"y","prefer":"a","why":"ok"}\n{"prompt":"Define x.","a":"x","b":"y","prefer":"c","why":"?"}\n');
  assert.throws(() => readHumanPairs(bad), (e: Error) => e instanceof HumanPairsError && /bad\.jsonl:2: "prefer" must be "a" or "b"; got "c"/.test(e.message));
  writeFileSync(bad, 'not json\n');
  assert.throws(() => readHumanPairs(bad), /bad\.jsonl:1: not JSON/);
});
