// RLHF prompts: sentence openings from the corpus and instruction prompts, split into train and eval sets that never overlap.
import type { Document } from './corpus.js';
import type { InstructionPair } from './instructions.js';
import { hashOrder, matchKey, sha256, splitSentences, words } from './text.js';

/** Where a prompt comes from: a sentence opening, a "Define X." or a "Use X in a sentence." instruction. */
export type PromptKind = 'opening' | 'define' | 'use';

export interface Prompt {
  /** Stable id derived from the normalised text. */
  id: string;
  kind: PromptKind;
  text: string;
}

export interface BuildPromptOptions {
  /** Documents whose sentences give training openings (the corpus train split). */
  trainDocs: Document[];
  /** Documents whose sentences give eval openings (held out from training: the corpus test split). */
  evalDocs: Document[];
  trainInstructions: InstructionPair[];
  evalInstructions: InstructionPair[];
  promptWords: number;
  trainPrompts: number;
  evalPrompts: number;
  /** Share of each set drawn from instructions; the rest are openings. */
  instructionShare: number;
  kinds: readonly PromptKind[];
}

/** Words a sentence needs beyond the opening, so that the opening is not most of the sentence. */
const MIN_REST_WORDS = 3;

/** The first `n` words of each sentence long enough to continue; openings must hold letters and no brackets or quotes. */
export function sentenceOpenings(docs: Document[], n: number): string[] {
  const out: string[] = [];
  for (const d of docs) {
    for (const s of splitSentences(d.text)) {
      const w = words(s);
      if (w.length < n + MIN_REST_WORDS) continue;
      const opening = w.slice(0, n).join(' ');
      // Brackets and quotes opened in the first words would be left dangling; such openings read badly as prompts.
      if (!/^[\p{Lu}]/u.test(opening) || /["“”()[\]]/u.test(opening)) continue;
      out.push(opening);
    }
  }
  return out;
}

const toPrompt = (text: string, kind: PromptKind): Prompt => ({ id: `${kind}-${sha256(matchKey(text)).slice(0, 16)}`, kind, text });

/** Keeps the first prompt of each normalised text, dropping those whose text is in `exclude`. */
function dedupe(prompts: Prompt[], exclude: Set<string> = new Set()): Prompt[] {
  const seen = new Set(exclude);
  const out: Prompt[] = [];
  for (const p of prompts) {
    const key = matchKey(p.text);
    if (key === '' || seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}

/** A deterministic mix: `total` prompts, about `share` of them instructions, each group in hash order. */
function mix(openings: Prompt[], instructions: Prompt[], total: number, share: number, salt: string): Prompt[] {
  const wantInstr = Math.min(instructions.length, Math.round(total * share));
  const wantOpen = Math.min(openings.length, total - wantInstr);
  const picked = [
    ...hashOrder(instructions, (p) => p.text, `${salt}/instructions`).slice(0, wantInstr),
    ...hashOrder(openings, (p) => p.text, `${salt}/openings`).slice(0, wantOpen),
  ];
  return hashOrder(picked, (p) => p.text, `${salt}/order`);
}

/**
 * Eval prompts come from held-out documents and held-out words; train prompts from the rest. Overlap is ruled out by
 * text: any train prompt whose normalised text is an eval prompt's is dropped.
 */
export function buildPrompts(opts: BuildPromptOptions): { train: Prompt[]; eval: Prompt[] } {
  const kinds = new Set(opts.kinds);
  const instrPrompts = (pairs: InstructionPair[]) => pairs.filter((p) => kinds.has(p.kind)).map((p) => toPrompt(p.prompt, p.kind));
  const openingsOf = (docs: Document[]) => (kinds.has('opening') ? sentenceOpenings(docs, opts.promptWords).map((t) => toPrompt(t, 'opening')) : []);
  const share = kinds.has('opening') ? opts.instructionShare : 1;

  const evalSet = mix(dedupe(openingsOf(opts.evalDocs)), dedupe(instrPrompts(opts.evalInstructions)), opts.evalPrompts, share, 'prompts-eval');
  const evalKeys = new Set(evalSet.map((p) => matchKey(p.text)));
  const train = mix(
    dedupe(openingsOf(opts.trainDocs), evalKeys),
    dedupe(instrPrompts(opts.trainInstructions), evalKeys),
    opts.trainPrompts,
    share,
    'prompts-train',
  );
  return { train, eval: evalSet };
}
