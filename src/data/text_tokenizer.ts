// What every stage needs of a tokenizer: the project's own byte-level BPE, or a Hugging Face tokenizer an imported model brings.
import type { SpecialIds } from './tokenizer.js';

export interface TextTokenizer {
  readonly vocabSize: number;
  /** Ids of the roles the prompt layouts use; an imported tokenizer maps the ones it lacks onto its bos/eos/pad tokens. */
  readonly special: SpecialIds;
  /** Text -> ids, no special tokens added. */
  encode(text: string): number[];
  /** Ids -> text; special tokens are dropped unless keepSpecial. */
  decode(ids: number[], keepSpecial?: boolean): string;
  /** tokenizer.json text. */
  toJson(): string;
  /** tokenizer_config.json text (special tokens, chat template) when the tokenizer came with one. */
  configJson?(): string | undefined;
  /** The ids the policy sees before it answers; replaces the `<|bos|> <|prompt|> x <|response|>` layout (a chat template). */
  formatPrompt?(promptText: string): number[];
  /** The pairwise preference input; replaces the `<|context|> x <|response_a|> a <|response_b|> b` layout. */
  formatPairwise?(promptText: string, a: string, b: string): number[];
}
