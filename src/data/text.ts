// Plain-text helpers shared by the data builders: whitespace cleaning, sentence splitting, words, stable hashing.
import { createHash } from 'node:crypto';

/** NFC, no control characters, single spaces, trimmed: the one normal form every stored text is in. */
export function cleanLine(line: string): string {
  return line
    .normalize('NFC')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f\u00ad\u200b\ufeff]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Key for "is this the same text": lower case, letters and digits only, single spaces. */
export function matchKey(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Whitespace-separated words (punctuation stays attached, as it is in the text). */
export function words(text: string): string[] {
  const t = text.trim();
  return t === '' ? [] : t.split(/\s+/);
}

// Abbreviations after which a period does not end a sentence (lower-cased, without the period).
const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'st', 'jr', 'sr', 'prof', 'gen', 'col', 'capt', 'lt', 'sgt', 'gov', 'sen', 'rep', 'hon', 'rev',
  'messrs', 'mt', 'ft', 'no', 'nos', 'vol', 'vs', 'etc', 'inc', 'co', 'corp', 'ltd', 'jan', 'feb', 'mar', 'apr', 'jun',
  'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec', 'u.s', 'u.s.a', 'u.n', 'i.e', 'e.g', 'a.m', 'p.m', 'viz', 'cf', 'al',
]);

/** A candidate boundary: terminal punctuation, optional closing quotes/brackets, space, then an opening of a sentence. */
const BOUNDARY = /([.!?]+["'\u2019\u201d)\]]*)\s+(?=["'\u2018\u201c(\[]*[\p{Lu}\p{N}])/gu;

/**
 * Splits running text into sentences. Rule-based: a boundary is terminal punctuation followed by a capital or digit,
 * except after a known abbreviation or a single-letter initial ("J. Smith").
 */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  for (const para of text.split(/\n+/)) {
    let start = 0;
    for (const m of para.matchAll(BOUNDARY)) {
      const end = m.index! + m[1]!.length;
      const before = para.slice(start, m.index! + 1);
      const lastWord = /([\p{L}.]+)\.$/u.exec(before)?.[1]?.toLowerCase() ?? '';
      if (m[1] === '.' && (ABBREVIATIONS.has(lastWord) || /^\p{L}$/u.test(lastWord))) continue;
      const s = para.slice(start, end).trim();
      if (s) out.push(s);
      start = m.index! + m[0].length;
    }
    const rest = para.slice(start).trim();
    if (rest) out.push(rest);
  }
  return out;
}

/** Hex SHA-256 of a string. */
export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A stable number in [0, 1) from any labels: deterministic selection and splitting without a random generator. */
export function unitHash(...labels: string[]): number {
  const h = createHash('sha256').update(labels.join('\u0000')).digest();
  return h.readUInt32BE(0) / 4294967296;
}

/** Which split an id falls in: test below testFraction, then validation, the rest train. */
export function splitOf(id: string, validFraction: number, testFraction: number): 'train' | 'valid' | 'test' {
  const u = unitHash('split', id);
  if (u < testFraction) return 'test';
  if (u < testFraction + validFraction) return 'valid';
  return 'train';
}

/** Sorts by a stable hash of each key: a deterministic "shuffle" that does not depend on input order. */
export function hashOrder<T>(items: T[], key: (t: T) => string, salt: string): T[] {
  return items
    .map((t) => ({ t, h: unitHash(salt, key(t)), k: key(t) }))
    .sort((a, b) => a.h - b.h || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((x) => x.t);
}

/** The records of a JSONL text, blank lines skipped; a line that is not JSON becomes `bad(lineNumber, error)`, thrown. */
export function parseJsonl<T>(text: string, bad: (line: number, err: Error) => Error): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as T;
      } catch (err) {
        throw bad(i + 1, err as Error);
      }
    });
}
