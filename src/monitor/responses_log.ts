// The evaluated responses of a run: <run dir>/responses.jsonl, one line per (evaluation, held-out prompt) with gold and proxy scores.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { EvalResponse } from '../actors/evaluator.js';

export const RESPONSES_LOG = 'responses.jsonl';

export class ResponsesLogError extends Error {
  override name = 'ResponsesLogError';
}

export const responsesFile = (runDir: string): string => join(runDir, RESPONSES_LOG);

/** A sink for the evaluator: appends each evaluation's rows in one write, so a crash leaves whole evaluations. */
export function responsesWriter(file: string): (rows: EvalResponse[]) => Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  return async (rows) => {
    if (rows.length > 0) await appendFile(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  };
}

/** Every row of a responses.jsonl ([] when the file does not exist); a line that is not JSON is an error naming it. */
export function readResponses(file: string): EvalResponse[] {
  if (!existsSync(file)) return [];
  const out: EvalResponse[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        out.push(JSON.parse(line) as EvalResponse);
      } catch (err) {
        throw new ResponsesLogError(`${file} line ${i + 1} is not JSON: ${(err as Error).message}`);
      }
    });
  return out;
}

export interface ResponseExample {
  promptId: string;
  prompt: string;
  sft: { response: string; gold: number };
  policy: { response: string; gold: number; proxy: number };
}

export interface LatestResponses {
  version: number;
  step: number;
  examples: ResponseExample[];
}

/** The latest evaluated version's rows and the first `n` prompts' SFT vs policy answers, for reports and the dashboard. */
export function latestExamples(rows: readonly EvalResponse[], n: number): LatestResponses | undefined {
  if (rows.length === 0) return undefined;
  const last = rows.reduce((a, r) => (r.ts > a.ts || (r.ts === a.ts && r.version > a.version) ? r : a));
  const mine = rows.filter((r) => r.version === last.version && r.ts === last.ts).slice(0, n);
  return {
    version: last.version,
    step: last.step,
    examples: mine.map((r) => ({ promptId: r.promptId, prompt: r.prompt, sft: { response: r.sftResponse, gold: r.sftGold }, policy: { response: r.response, gold: r.gold, proxy: r.proxy } })),
  };
}

/** The latest examples of a responses.jsonl, read again only when the file has grown (the dashboard polls it). */
export function latestExamplesReader(file: string, n: number): () => LatestResponses | undefined {
  let size = -1;
  let cached: LatestResponses | undefined;
  return () => {
    const now = existsSync(file) ? statSync(file).size : 0;
    if (now !== size) {
      size = now;
      cached = latestExamples(readResponses(file), n);
    }
    return cached;
  };
}
