// Headless Chromium loads the live dashboard while metrics are published, sees the numbers change, and takes a screenshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { InProcessBus } from '../../src/streams/inprocess/bus.js';
import { startMonitor } from '../../src/monitor/index.js';
import { responsesFile, responsesWriter } from '../../src/monitor/responses_log.js';
import { syntheticRun } from './synthetic.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

test('the dashboard page updates live in a browser', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install -y chromium)`, timeout: 60_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const cfg = parseConfig({ monitor: { intervalMs: 200, port: 0 } });
  const bus = new InProcessBus(cfg.bus, 'browser-test', { log: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'monitor-browser-'));
  const mon = await startMonitor(bus, cfg, { runDir: dir, report: false });
  const run = syntheticRun(bus);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    run.start(200);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(mon.url);
    // Strings run in the page (this project compiles without DOM types).
    await page.waitForFunction("document.getElementById('conn').textContent === 'live'");
    await page.waitForFunction("Number(document.getElementById('stat-samples-total').textContent) > 0");
    const first = Number(await page.textContent('#stat-samples-total'));
    await page.waitForTimeout(1500);
    const second = Number(await page.textContent('#stat-samples-total'));
    assert.ok(second > first, `samples tile ${first} -> ${second}`);

    // Rates and quality tiles are filled, the actor table lists every actor, and uPlot drew its canvases.
    assert.ok(Number(await page.textContent('#stat-samples-rate')) > 0);
    assert.ok(Number(await page.textContent('#stat-policy-version')) >= 1);
    assert.notEqual(await page.textContent('#stat-loss'), '-');
    const rows = await page.$$eval('#actors-body tr', (trs) => trs.map((tr) => [tr.children[0]!.textContent, tr.children[3]!.textContent]));
    assert.deepEqual(rows, [['eval-0', 'alive'], ['gen-0', 'alive'], ['gen-1', 'alive'], ['judge-0', 'alive'], ['learner-0', 'alive']]);
    assert.equal(await page.locator('.uplot canvas').count(), 9);
    assert.ok((await page.textContent('#lag-hist'))!.includes('pairs'));
    // The weight-sync table lists the versions the learner checked, newest first.
    await page.waitForFunction("document.querySelectorAll('#weight-sync tr[data-version]').length >= 2");
    const sync = await page.$$eval('#weight-sync tr[data-version]', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    assert.ok(Number(sync[0]![0]) > Number(sync[1]![0]), JSON.stringify(sync));
    assert.deepEqual(sync[0]!.slice(1), ['1.00e-7', '1.000']);

    // The evaluator's responses appear next to the curves: the latest version's answers beside SFT's.
    const write = responsesWriter(responsesFile(dir));
    const row = (version: number, i: number, response: string, gold: number) => ({
      version, step: version * 5, ts: 1000 + version, promptId: `p${i}`, prompt: `Define <word${i}>.`, response, responseTokens: 4, gold, proxy: 0.5, sftResponse: `sft ${i}`, sftGold: 0.25, win: 1,
    });
    await write([row(1, 0, 'first answer', 0.3), row(1, 1, 'second answer', 0.3)]);
    await write([row(3, 0, 'a kind and good answer', 0.8), row(3, 1, 'another answer', 0.6)]);
    await page.waitForFunction("document.getElementById('responses-title').textContent.includes('version 3')", undefined, { timeout: 10_000 });
    const answers = await page.$$eval('#responses-body tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    assert.deepEqual(answers, [
      ['Define <word0>.', 'sft 0 [0.25]', 'a kind and good answer [0.8]', '0.5'],
      ['Define <word1>.', 'sft 1 [0.25]', 'another answer [0.6]', '0.5'],
    ]);
    assert.deepEqual(errors, []);

    const shot = join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 20_000);
    process.stderr.write(`dashboard screenshot: ${shot}\n`);
  } finally {
    await browser.close();
    await run.stop();
    await mon.stop();
    await bus.close();
  }
});
