// What a run keeps for replay: bytes of the pair journal and of the ledger per 1000 pairs, read from finished run folders.
// Usage: node dist/bench/replay_log.js RUN_DIR [RUN_DIR ...]
import { statSync } from 'node:fs';
import { pairJournalFile, readPairJournal } from '../src/run/pair_journal.js';
import { readReplayPlan } from '../src/run/replay_plan.js';
import { ledgerFile } from '../src/run/run_dir.js';

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: node dist/bench/replay_log.js RUN_DIR [RUN_DIR ...]');
  process.exit(2);
}
for (const dir of dirs) {
  const journalBytes = statSync(pairJournalFile(dir)).size;
  const journaled = readPairJournal(pairJournalFile(dir)).size;
  const ledgerBytes = statSync(ledgerFile(dir)).size;
  const plan = readReplayPlan(dir);
  const tokens = plan.steps.flatMap((s) => s.pairs).reduce((n, p) => n + p.promptTokens.length + p.chosen.responseTokens.length + p.rejected.responseTokens.length, 0);
  const per1000 = (bytes: number, n: number): string => `${((bytes / n) * 1000 / 1024).toFixed(0)} KiB`;
  console.log(`${dir}`);
  console.log(`  pairs.log: ${journalBytes} bytes for ${journaled} pairs received = ${per1000(journalBytes, journaled)} per 1000 pairs (${(tokens / plan.pairSlots).toFixed(1)} tokens per trained pair: prompt + both responses)`);
  console.log(`  trained_pairs.jsonl: ${ledgerBytes} bytes for ${plan.pairSlots} trained pairs = ${per1000(ledgerBytes, plan.pairSlots)} per 1000 pairs`);
}
