// The run's record of every label a person gave (labels.jsonl): in time or late, each joined to its samples by id.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { LabelRecord } from '../streams/labels.js';

export const labelsFile = (runDir: string): string => join(runDir, 'labels.jsonl');

/** Appends records one JSON line each, synced before append() returns: the page says "taken" only once it is durable. */
export class LabelLog {
  private fd: number | undefined;

  constructor(private readonly file: string) {}

  append(r: LabelRecord): void {
    this.fd ??= openSync(this.file, 'a');
    writeSync(this.fd, `${JSON.stringify(r)}\n`);
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Every record of a labels file; a torn last line (a crash mid-append) is left out. */
export function readLabels(file: string): LabelRecord[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const out: LabelRecord[] = [];
  for (const [i, l] of lines.entries()) {
    try {
      out.push(JSON.parse(l) as LabelRecord);
    } catch (err) {
      if (i < lines.length - 1) throw new Error(`${file}: line ${i + 1} is not JSON: ${(err as Error).message}`);
    }
  }
  return out;
}
