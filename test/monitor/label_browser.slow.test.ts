// A person in the loop: headless Chromium labels pairs with the keyboard on /label during a live one-process tiny run
// (judge.human=only); the learner trains exactly those pairs, each once, and the records name human:<name>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { runOnline } from '../../src/run/online.js';
import { labelsFile, readLabels } from '../../src/run/label_log.js';
import { pairJournalFile, readPairJournal } from '../../src/run/pair_journal.js';
import { ledgerFile } from '../../src/run/run_dir.js';
import { readLedger } from '../../src/run/trained_ledger.js';
import { pairIdOf } from '../../src/actors/judge.js';
import { readManifest } from '../../src/train/manifest.js';
import { CACHE_DIR, CLI, tempRunsDir } from '../cluster/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKEN = 'browser-label-token-42';

interface Shown {
  group: string;
  a: string;
  b: string;
}

test('a person labels with the keyboard during a live run; the learner trains exactly those pairs once', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install -y chromium)`, timeout: 600_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const runs = tempRunsDir();
  // 5 steps of 4 pairs: the learner needs 20 labelled pairs.
  const cfg = loadConfig({
    file: 'config/tiny.yaml',
    overrides: [`run.cacheDir=${CACHE_DIR}`, `run.dir=${runs}`, 'run.id=labelled', 'judge.human=only', 'learner.totalSteps=5', 'monitor.port=0', 'monitor.intervalMs=200'],
  });
  process.env.RLHF_STREAM_LABEL_TOKEN = TOKEN;
  let onUrl!: (url: string) => void;
  const dashboard = new Promise<string>((resolve) => (onUrl = resolve));
  let finished = false;
  const run = runOnline(cfg, { statusLine: false, log: () => {}, onDashboard: onUrl }).finally(() => (finished = true));
  const url = await Promise.race([dashboard, run.then(() => Promise.reject(new Error('the run ended before its dashboard was up')))]);

  // Without the token the labelling routes answer 401 and say how to pass it.
  const refused = await fetch(`${url}api/label/next?name=alice`);
  assert.equal(refused.status, 401);
  assert.match(await refused.text(), /labelling needs the token \(environment variable RLHF_STREAM_LABEL_TOKEN\)/);
  assert.equal((await fetch(`${url}label?token=wrong-token`)).status, 403);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const answered = new Map<string, { key: string; shown: Shown }>();
  let figures: string[] | undefined;
  try {
    const dash = await browser.newPage();
    await dash.goto(url);
    const page = await browser.newPage();
    await page.goto(`${url}label?token=${TOKEN}&name=alice`);
    let n = 0;
    while (!finished) {
      const shown = (await page.evaluate(
        "({ group: document.getElementById('prompt').dataset.group || '', a: document.getElementById('resp-a').dataset.sample || '', b: document.getElementById('resp-b').dataset.sample || '' })",
      )) as Shown;
      if (shown.group === '' || answered.has(shown.group)) {
        await page.waitForTimeout(50);
        continue;
      }
      // Mostly a and b in turn, with one tie and one skip on the way.
      const key = n === 2 ? 't' : n === 4 ? 's' : n % 2 === 0 ? 'a' : '2';
      n++;
      answered.set(shown.group, { key, shown });
      await page.keyboard.press(key);
      if (n === 12) {
        // The dashboard's people tiles: every pair so far came from a person (judge.human=only).
        await dash.waitForFunction("document.getElementById('stat-human-share').textContent === '1'", undefined, { timeout: 10_000 });
        figures = await Promise.all(['stat-human-share', 'stat-human-agreement', 'stat-human-waiting'].map(async (id) => (await dash.textContent(`#${id}`))!));
      }
    }
  } finally {
    await browser.close();
  }
  const result = await run;
  assert.ok(figures, 'the dashboard was read during the run');
  process.stderr.write(`dashboard people tiles after 12 keys: share ${figures[0]}, agreement ${figures[1]}, waiting ${figures[2]}\n`);
  const agreement = Number(figures[1]);
  assert.ok(agreement >= 0 && agreement <= 1, `agreement ${figures[1]}`);
  assert.ok(Number(figures[2]) >= 0, `waiting ${figures[2]}`);
  assert.equal(result.summary.steps, 5);

  const runDir = join(runs, 'labelled');
  const labels = readLabels(labelsFile(runDir));
  // Every key but the skip is a durable label record, in time, by alice, of the responses she was shown.
  const pressed = [...answered.values()].filter((x) => x.key !== 's');
  assert.ok(pressed.length >= 21, `${pressed.length} labels`);
  // The last key may have been pressed as the run closed its page.
  const recorded = new Set(labels.map((r) => r.groupId));
  assert.deepEqual(pressed.slice(0, -1).filter((x) => !recorded.has(x.shown.group)), []);
  for (const r of labels) {
    const a = answered.get(r.groupId)!;
    assert.ok(a, `label for ${r.groupId} was given on the page`);
    assert.equal(r.judgeId, 'human:alice');
    assert.equal(r.late, false);
    assert.deepEqual([r.aSampleId, r.bSampleId], [a.shown.a, a.shown.b]);
    assert.equal(r.choice, a.key === 't' ? 'tie' : a.key === 'a' ? 'a' : 'b');
  }
  const skipped = [...answered.values()].find((x) => x.key === 's')!;
  assert.ok(!labels.some((r) => r.groupId === skipped.shown.group), 'a skip is not a label');

  // The learner trained 20 pairs, each once, each one of alice's labels with her choice on the chosen side.
  const trained = readLedger(ledgerFile(runDir)).flatMap((e) => e.pairs.map((p) => p.pairId));
  assert.equal(trained.length, 20);
  assert.equal(new Set(trained).size, 20, 'no pair trained twice');
  const byPair = new Map(labels.filter((r) => r.choice !== 'tie').map((r) => [pairIdOf(r.groupId), r]));
  const journal = readPairJournal(pairJournalFile(runDir));
  for (const id of trained) {
    const r = byPair.get(id);
    assert.ok(r, `trained pair ${id} was labelled by a person`);
    const p = journal.get(id)!;
    assert.equal(p.judgeId, 'human:alice');
    assert.equal(p.chosen.sampleId, r.chosenSampleId);
    assert.equal(p.rejected.sampleId, r.rejectedSampleId);
  }
  // Every pair the learner received came from a person: nothing fell back to the scorer.
  assert.ok([...journal.ids()].every((id) => byPair.has(id)));

  // The proxy refitted on alice's labels plus the original preference data, into the run's folder.
  const refit = spawnSync(process.execPath, [CLI, 'train-rm', '--kind', 'bt', '--labels', runDir, '--config', 'config/tiny.yaml', '--set', `run.cacheDir=${CACHE_DIR}`], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(refit.status, 0, refit.stderr);
  const line = /rm-bt refitted on (\d+) pairs labelled by people plus (\d+) original pairs: held-out accuracy (\S+) -> (\S+);/.exec(refit.stdout);
  assert.ok(line, refit.stdout);
  assert.equal(Number(line[1]), byPair.size);
  const refitDir = join(runDir, 'rm-bt-labels');
  assert.ok(existsSync(join(refitDir, 'model.safetensors')));
  process.stderr.write(`${line[0]}\n`);

  // The next run judges with the refit (judge.proxyDir): its pairs name the refit's version.
  const next = spawnSync(
    process.execPath,
    [CLI, 'run', '--config', 'config/tiny.yaml', '--set', `run.cacheDir=${CACHE_DIR}`, '--set', `run.dir=${runs}`, '--set', 'run.id=next', '--set', 'learner.totalSteps=1', '--set', `judge.proxyDir=${refitDir}`],
    { encoding: 'utf8', timeout: 300_000 },
  );
  assert.equal(next.status, 0, next.stderr);
  const refitId = `bt@${readManifest(refitDir)!.hash.slice(0, 12)}`;
  const judged = [...readPairJournal(pairJournalFile(join(runs, 'next'))).ids()].map((id) => readPairJournal(pairJournalFile(join(runs, 'next'))).get(id)!.judgeModel);
  assert.ok(judged.length >= 4);
  assert.deepEqual(new Set(judged), new Set([refitId]));
});
