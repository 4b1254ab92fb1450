// Token layouts shared by every stage: prompts, SFT examples, plain text, and the pairwise preference input.
import type { TextTokenizer } from './text_tokenizer.js';

/** `<|bos|> <|prompt|> x <|response|>`: what the policy sees before it generates; a response ends with `<|eos|>`. */
export function formatPrompt(tok: TextTokenizer, promptText: string): number[] {
  if (tok.formatPrompt) return tok.formatPrompt(promptText); // an imported model's chat template
  const s = tok.special;
  return [s.bos, s.prompt, ...tok.encode(promptText), s.response];
}

/** Ids of a response as the policy should produce it: the text, then `<|eos|>`. */
export function formatResponse(tok: TextTokenizer, responseText: string): number[] {
  return [...tok.encode(responseText), tok.special.eos];
}

export interface SftExample {
  ids: number[];
  /** 1 where the token is a response token (trained on), 0 for the prompt part. Same length as ids. */
  lossMask: number[];
}

/** A prompt-response pair for SFT: the loss covers the response and its `<|eos|>`, not the prompt. */
export function formatSft(tok: TextTokenizer, promptText: string, responseText: string): SftExample {
  const p = formatPrompt(tok, promptText);
  const r = formatResponse(tok, responseText);
  return { ids: [...p, ...r], lossMask: [...p.map(() => 0), ...r.map(() => 1)] };
}

/** Plain corpus text for language-model training: `<|bos|> text <|eos|>`. */
export function formatText(tok: TextTokenizer, text: string): number[] {
  return [tok.special.bos, ...tok.encode(text), tok.special.eos];
}

/**
 * The pairwise preference model's input (Dong et al. 2024, RLHF Workflow: "[CONTEXT] x [RESPONSE A] a [RESPONSE B] b"):
 * `<|context|> x <|response_a|> a <|response_b|> b`. The model then predicts which response is better.
 */
export function formatPairwise(tok: TextTokenizer, promptText: string, a: string, b: string): number[] {
  if (tok.formatPairwise) return tok.formatPairwise(promptText, a, b);
  const s = tok.special;
  return [s.context, ...tok.encode(promptText), s.responseA, ...tok.encode(a), s.responseB, ...tok.encode(b)];
}
