// The losses-on-the-same-data table: for a run and each of its replays (RUN_DIR/replays/*), the last version both
// evaluated, with gold reward and win rate against SFT over held-out prompts (bootstrap 95% intervals).
// Usage: node dist/bench/replay_losses.js RUN_DIR   (after `rlhf-stream replay --run RUN_DIR --eval [--set ...]`)
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrapInterval, type Interval } from '../src/kernels/bootstrap.js';
import { readResponses, responsesFile } from '../src/monitor/responses_log.js';

const runDir = process.argv[2];
if (!runDir) {
  console.error('usage: node dist/bench/replay_losses.js RUN_DIR');
  process.exit(2);
}
/** Three decimals, or three significant digits for a small value (a weak policy's gold rewards are around 1e-4). */
const num = (x: number): string => (x !== 0 && Math.abs(x) < 0.01 ? x.toPrecision(3) : x.toFixed(3));
const fmt = (i: Interval): string => `${num(i.mean)} [${num(i.lo)}, ${num(i.hi)}]`;
const byVersion = (dir: string): Map<number, { gold: number[]; win: number[]; kl: number[]; tokens: number[] }> => {
  const out = new Map<number, { gold: number[]; win: number[]; kl: number[]; tokens: number[] }>();
  for (const r of readResponses(responsesFile(dir))) {
    const v = out.get(r.version) ?? { gold: [], win: [], kl: [], tokens: [] };
    v.gold.push(r.gold);
    v.win.push(r.win);
    if (r.logRatio !== undefined) v.kl.push(r.logRatio);
    v.tokens.push(r.responseTokens);
    out.set(r.version, v);
  }
  return out;
};
const arms: [string, string][] = [['original run', runDir]];
const replays = join(runDir, 'replays');
if (existsSync(replays)) for (const name of readdirSync(replays).sort()) arms.push([`replay: ${name}`, join(replays, name)]);
const scored = arms.map(([name, dir]) => [name, byVersion(dir)] as const).filter(([, m]) => m.size > 0);
const common = [...scored[0]![1].keys()].filter((v) => scored.every(([, m]) => m.has(v)));
const last = Math.max(...common);
console.log(`version ${last} (the last every arm evaluated), ${scored[0]![1].get(last)!.gold.length} held-out prompts:\n`);
console.log('| arm | gold reward | win rate vs SFT | KL to SFT (nats) | response tokens |');
console.log('|---|---|---|---|---|');
for (const [name, m] of scored) {
  const v = m.get(last)!;
  const mean = (xs: number[]): string => (xs.length ? (xs.reduce((s, x) => s + x, 0) / xs.length).toFixed(2) : 'n/a');
  console.log(`| ${name} | ${fmt(bootstrapInterval([v.gold]))} | ${fmt(bootstrapInterval([v.win]))} | ${mean(v.kl)} | ${mean(v.tokens)} |`);
}
