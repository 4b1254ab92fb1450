// How often the gold judge picks what a person picked: pairs of answers to one prompt, each with the person's choice and
// reason (JSONL: {"prompt", "a", "b", "prefer": "a" | "b", "why"}).
import { readFileSync } from 'node:fs';
import type { GoldJudge } from './judge.js';
import { goldTask } from './tasks/index.js';

export class HumanPairsError extends Error {
  override name = 'HumanPairsError';
}

export interface HumanPair {
  prompt: string;
  a: string;
  b: string;
  prefer: 'a' | 'b';
  why: string;
}

export interface Agreement {
  pairs: number;
  agreed: number;
  /** The pairs the judge ordered otherwise (a tie counts as a miss), with both scores. */
  misses: { pair: HumanPair; a: number; b: number }[];
}

/** Reads a JSONL file of human pairs; a bad line is refused with its number and what is wrong. */
export function readHumanPairs(path: string): HumanPair[] {
  const out: HumanPair[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let v: Partial<HumanPair>;
      try {
        v = JSON.parse(line) as Partial<HumanPair>;
      } catch (e) {
        throw new HumanPairsError(`${path}:${i + 1}: not JSON (${(e as Error).message})`);
      }
      for (const k of ['prompt', 'a', 'b', 'why'] as const) {
        if (typeof v[k] !== 'string') throw new HumanPairsError(`${path}:${i + 1}: "${k}" must be a string; got ${JSON.stringify(v[k])}`);
      }
      if (v.prefer !== 'a' && v.prefer !== 'b') throw new HumanPairsError(`${path}:${i + 1}: "prefer" must be "a" or "b"; got ${JSON.stringify(v.prefer)}`);
      out.push(v as HumanPair);
    });
  return out;
}

/** Scores both answers of every pair and counts the pairs where the judge's higher score is the person's choice. */
export async function humanAgreement(judge: GoldJudge, pairs: readonly HumanPair[]): Promise<Agreement> {
  const scores = await judge.scoreBatch(pairs.flatMap((p) => [{ prompt: p.prompt, response: p.a }, { prompt: p.prompt, response: p.b }]));
  const misses: Agreement['misses'] = [];
  pairs.forEach((pair, i) => {
    const a = scores[2 * i]!.score;
    const b = scores[2 * i + 1]!.score;
    const pick = a > b ? 'a' : b > a ? 'b' : 'tie';
    if (pick !== pair.prefer) misses.push({ pair, a, b });
  });
  return { pairs: pairs.length, agreed: pairs.length - misses.length, misses };
}

/** Where a task's pairs files live (shipped with the package, read from its source tree). */
export const humanPairsPath = (file: string): string => new URL(`../../../src/gold/tasks/human_prefs/${file}`, import.meta.url).pathname;

export interface FileAgreement extends Agreement {
  file: string;
}

/** The judge's agreement with every pairs file of its task. */
export async function taskAgreement(judge: GoldJudge): Promise<FileAgreement[]> {
  const out: FileAgreement[] = [];
  for (const file of goldTask(judge.task).humanPairs) out.push({ file, ...(await humanAgreement(judge, readHumanPairs(humanPairsPath(file)))) });
  return out;
}
