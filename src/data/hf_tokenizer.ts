// A Hugging Face tokenizer.json (byte-level BPE as GPT-2's, SentencePiece-style BPE with byte fallback as Llama's) through
// @huggingface/tokenizers, with the special tokens and chat template of tokenizer_config.json (@huggingface/jinja).
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import type { TextTokenizer } from './text_tokenizer.js';
import { TokenizerError, type SpecialIds } from './tokenizer.js';

type TokenSpec = string | { content?: unknown } | null | undefined;

/** A special token in tokenizer_config.json is a string or an AddedToken object {content, ...}. */
function tokenText(spec: TokenSpec): string | undefined {
  if (typeof spec === 'string') return spec;
  if (spec && typeof spec === 'object' && typeof spec.content === 'string') return spec.content;
  return undefined;
}

export interface HfTokenizerOptions {
  /** End-of-sequence id the model stops on (generation_config.json / config.json); else tokenizer_config's eos_token. */
  eosId?: number;
  bosId?: number;
}

export class HfTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly special: SpecialIds;
  readonly chatTemplate: string | undefined;
  readonly bosText: string | undefined;
  readonly eosText: string | undefined;
  private readonly tok: Tokenizer;
  private readonly template: Template | undefined;

  constructor(
    private readonly json: string,
    private readonly config: string | undefined,
    opts: HfTokenizerOptions = {},
  ) {
    const parsed = parseJsonObject(json, 'tokenizer.json');
    const cfg = config === undefined ? {} : parseJsonObject(config, 'tokenizer_config.json');
    try {
      this.tok = new Tokenizer(parsed, cfg);
    } catch (err) {
      throw new TokenizerError(`tokenizer.json could not be loaded: ${(err as Error).message}`, { cause: err });
    }
    const idOf = (what: string, spec: TokenSpec): number | undefined => {
      const text = tokenText(spec);
      if (text === undefined) return undefined;
      const id = this.tok.token_to_id(text);
      if (id === undefined) throw new TokenizerError(`tokenizer_config.json ${what} ${JSON.stringify(text)} is not in tokenizer.json's vocabulary`);
      return id;
    };
    this.bosText = tokenText(cfg['bos_token'] as TokenSpec);
    this.eosText = tokenText(cfg['eos_token'] as TokenSpec);
    const eos = opts.eosId ?? idOf('eos_token', cfg['eos_token'] as TokenSpec);
    if (eos === undefined) throw new TokenizerError('the tokenizer has no end-of-sequence token: tokenizer_config.json eos_token and the model config eos_token_id are both absent');
    const bos = opts.bosId ?? idOf('bos_token', cfg['bos_token'] as TokenSpec) ?? eos;
    const pad = idOf('pad_token', cfg['pad_token'] as TokenSpec) ?? eos;
    // The project's own layout roles have no counterpart here: formatPrompt/formatPairwise below replace those layouts.
    this.special = { bos, eos, pad, prompt: bos, response: bos, context: bos, responseA: eos, responseB: eos };
    this.vocabSize = Object.keys(this.tok.get_vocab()).length;
    const template = cfg['chat_template'];
    if (template !== undefined && template !== null && typeof template !== 'string') {
      throw new TokenizerError(`tokenizer_config.json chat_template must be a string; got ${JSON.stringify(template).slice(0, 80)} (named template lists are not supported)`);
    }
    this.chatTemplate = template ?? undefined;
    this.template = this.chatTemplate === undefined ? undefined : new Template(this.chatTemplate);
  }

  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: number[], keepSpecial = false): string {
    if (ids.length === 0) return ''; // the library refuses an empty list (an answer that is only eos)
    return this.tok.decode(ids, { skip_special_tokens: !keepSpecial, clean_up_tokenization_spaces: false });
  }

  /** Token string of an id (special tokens as their text), or undefined outside the vocabulary. */
  token(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  toJson(): string {
    return this.json;
  }

  configJson(): string | undefined {
    return this.config;
  }

  /** The chat template rendered for one user turn with the assistant's turn opened (add_generation_prompt). */
  renderChat(messages: { role: string; content: string }[], addGenerationPrompt = true): string {
    if (!this.template) throw new TokenizerError('this tokenizer has no chat_template');
    return this.template.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: this.bosText ?? '', eos_token: this.eosText ?? '' });
  }

  /** Through the chat template when there is one (as HF's apply_chat_template: no extra special tokens), else bos + text. */
  formatPrompt(promptText: string): number[] {
    if (this.template) return this.encode(this.renderChat([{ role: 'user', content: promptText }]));
    return [this.special.bos, ...this.encode(promptText)];
  }

  /** A plain-text comparison prompt: a base model has no marker tokens for it. */
  formatPairwise(promptText: string, a: string, b: string): number[] {
    return [this.special.bos, ...this.encode(`Prompt: ${promptText}\nResponse A: ${a}\nResponse B: ${b}\nBetter response:`)];
  }
}

/**
 * A JSON object from a Hugging Face folder's file, or an error of the caller's class naming the file: not JSON, or
 * JSON that is not an object.
 */
export function parseJsonObject(text: string, what: string, Err: new (message: string, options?: ErrorOptions) => Error = TokenizerError): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Err(`${what} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Err(`${what} must hold a JSON object`);
  return v as Record<string, unknown>;
}
