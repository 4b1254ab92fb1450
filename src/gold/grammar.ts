// The judge's grammar term: harper.js lints inside a response, surviving harper's own crashes.
//
// harper.js 2.10 panics on some inputs (for example "both four": a slice index out of range in harper-core's
// expression matcher). A panic leaves its wasm instance unusable ("recursive use of an object"), so the checker
// drops that linter and builds a fresh one. The text that crashed it is then linted sentence by sentence, and a
// sentence harper cannot lint counts as one lint: text that crashes the grammar checker is taken to hold an error.
// The outcome depends on the text alone, so the judge stays deterministic.

export interface HarperLint {
  lint_kind(): string;
  span(): { start: number; end: number; free?(): void };
  free(): void;
}
export interface HarperLinter {
  setup(): Promise<void>;
  lint(text: string, options: { language: 'plaintext' }): Promise<HarperLint[]>;
  dispose(): Promise<void>;
}

/** A lint reduced to what the judge counts: its kind and where it ends (in characters of the linted text). */
interface LintEnd {
  kind: string;
  end: number;
}

// Lint kinds that are not errors of fluency (or, for Spelling, are measured by nspell instead).
const IGNORED_LINT_KINDS = new Set(['Spelling', 'Style', 'Readability', 'Enhancement', 'Regionalism', 'WordChoice']);

/** The harper.js linter with the American dialect, set up. */
export async function loadHarper(): Promise<HarperLinter> {
  const { LocalLinter, Dialect } = await import('harper.js');
  const { binary } = await import('harper.js/binary');
  const linter = new LocalLinter({ binary, dialect: Dialect.American }) as unknown as HarperLinter;
  await linter.setup();
  return linter;
}

/** True for the errors a wasm panic leaves: the trap itself, then the poisoned instance's aliasing error. */
export function isHarperPanic(e: unknown): boolean {
  if (e instanceof Error && e.name === 'RuntimeError') return true;
  const msg = e instanceof Error ? e.message : String(e);
  return /panicked at|recursive use of an object|unreachable/.test(msg);
}

/** Sentences of `text` with their character offsets (code points, as harper counts spans). */
export function sentencesOf(text: string): { offset: number; text: string }[] {
  const chars = [...text];
  const out: { offset: number; text: string }[] = [];
  let start = 0;
  for (let i = 0; i < chars.length; i++) {
    const endsSentence = /[.!?]/.test(chars[i]!) && (i + 1 === chars.length || /\s/.test(chars[i + 1]!));
    if (endsSentence || i + 1 === chars.length) {
      out.push({ offset: start, text: chars.slice(start, i + 1).join('') });
      start = i + 1;
    }
  }
  return out.filter((s) => s.text.trim() !== '');
}

export class GrammarChecker {
  /** Linters rebuilt after a panic, over the checker's life. */
  panics = 0;

  constructor(
    private linter: HarperLinter,
    private readonly load: () => Promise<HarperLinter> = loadHarper,
  ) {}

  /** Fluency lints of `text` that end after character `from` (the response's start when the prompt is included). */
  async countLints(text: string, from: number): Promise<number> {
    const whole = await this.lintOrUndefined(text);
    if (whole !== undefined) return countFrom(whole, 0, from);
    let n = 0;
    for (const s of sentencesOf(text)) {
      const lints = await this.lintOrUndefined(s.text);
      if (lints !== undefined) n += countFrom(lints, s.offset, from);
      else if (s.offset + [...s.text].length > from) n += 1;
    }
    return n;
  }

  async dispose(): Promise<void> {
    await this.linter.dispose();
  }

  /** The text's lints, or undefined when harper panicked on it (the linter is then replaced). */
  private async lintOrUndefined(text: string): Promise<LintEnd[] | undefined> {
    let lints: HarperLint[];
    try {
      lints = await this.linter.lint(text, { language: 'plaintext' });
    } catch (e) {
      if (!isHarperPanic(e)) throw e;
      this.panics++;
      // The crashed instance cannot even be disposed cleanly; it is dropped for the garbage collector.
      this.linter = await this.load();
      return undefined;
    }
    return lints.map((lint) => {
      const span = lint.span();
      const out = { kind: lint.lint_kind(), end: span.end };
      span.free?.();
      lint.free();
      return out;
    });
  }
}

function countFrom(lints: LintEnd[], offset: number, from: number): number {
  return lints.filter((l) => l.end + offset > from && !IGNORED_LINT_KINDS.has(l.kind)).length;
}
