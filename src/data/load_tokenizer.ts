// Picks the tokenizer class for a tokenizer.json: the project's own byte-level BPE, or a Hugging Face tokenizer.
import { HfTokenizer, type HfTokenizerOptions } from './hf_tokenizer.js';
import type { TextTokenizer } from './text_tokenizer.js';
import { BpeTokenizer, SPECIAL_TOKENS } from './tokenizer.js';

/** Whether tokenizer.json was built by this project (it carries all of the project's special tokens). */
function isProjectTokenizer(json: string): boolean {
  return Object.values(SPECIAL_TOKENS).every((t) => json.includes(JSON.stringify(t)));
}

/**
 * A tokenizer from tokenizer.json text and, for an imported one, tokenizer_config.json text. The project's own files (no
 * tokenizer_config.json) load as BpeTokenizer, so every checkpoint written before imports existed reads as it did.
 */
export function tokenizerFromFiles(json: string, config?: string, ids: HfTokenizerOptions = {}): TextTokenizer {
  if (config === undefined && isProjectTokenizer(json)) return BpeTokenizer.fromJson(json);
  return new HfTokenizer(json, config, ids);
}

/** The ids an HfTokenizer was built with, to store next to a checkpoint so it reloads the same; undefined for ours. */
export function tokenizerIds(tok: TextTokenizer): HfTokenizerOptions | undefined {
  return tok instanceof HfTokenizer ? { eosId: tok.special.eos, bosId: tok.special.bos } : undefined;
}
