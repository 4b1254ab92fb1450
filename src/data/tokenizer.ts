// Byte-level BPE tokenizer: trained with Hugging Face `tokenizers`, stored as a standard tokenizer.json, encoded in pure TS.
//
// Layout of the vocabulary (exactly `vocabSize` ids, no gaps):
//   0..255                      the 256 byte symbols (GPT-2 byte-to-unicode alphabet), id = byte value
//   256..vocabSize-9            merged tokens, in merge order (the first merges the trainer learnt)
//   vocabSize-8..vocabSize-1    special tokens, in SPECIAL_TOKENS order
// Every byte is in the vocabulary, so any UTF-8 text encodes without an unknown token and decodes back exactly.
//
// Why a TS encoder: the native `Tokenizer.encode` is async-only, and prompt formatting runs inside synchronous
// code paths (templates, samplers). The TS encoder applies the same merges with the same pre-tokenizer regex;
// a test checks it against the native encoder on corpus text.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const require = createRequire(import.meta.url);

/** The subset of the native `tokenizers` binding this file uses. */
interface NativeTokenizer {
  encode(text: string, pair?: null, options?: { addSpecialTokens?: boolean }): Promise<{ getIds(): number[] }>;
  decode(ids: number[], skipSpecialTokens: boolean): Promise<string>;
  getVocabSize(withAddedTokens?: boolean): number;
}
interface NativeModule {
  Tokenizer: { fromString(s: string): NativeTokenizer };
}
const loadNative = (): NativeModule => require('tokenizers') as NativeModule;
const TRAIN_CHILD = fileURLToPath(new URL('./bpe_train_child.js', import.meta.url));

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

/** Special tokens, in id order (they take the last ids of the vocabulary). */
export const SPECIAL_TOKENS = {
  bos: '<|bos|>',
  eos: '<|eos|>',
  pad: '<|pad|>',
  prompt: '<|prompt|>',
  response: '<|response|>',
  context: '<|context|>',
  responseA: '<|response_a|>',
  responseB: '<|response_b|>',
} as const;
export type SpecialName = keyof typeof SPECIAL_TOKENS;
export type SpecialIds = { readonly [K in SpecialName]: number };
const SPECIAL_NAMES = Object.keys(SPECIAL_TOKENS) as SpecialName[];

/** Smallest vocabulary: all bytes plus the special tokens (no merges). */
export const MIN_VOCAB = 256 + SPECIAL_NAMES.length;

/** The GPT-2 byte-to-unicode table: printable stand-ins for every byte, so merges are plain strings. */
export function byteAlphabet(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCharCode(cs[i]!)));
  return out;
}
const BYTE_TO_CHAR = byteAlphabet();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** The ByteLevel pre-tokenizer's split pattern (GPT-2), identical to what `tokenizers` applies with use_regex=true. */
const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } as const;

interface TokenizerJson {
  model: { type: string; vocab: Record<string, number>; merges: ([string, string] | string)[] };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** Byte-level BPE with exactly `vocabSize` ids; see the layout at the top of this file. */
export class BpeTokenizer {
  readonly vocabSize: number;
  readonly special: SpecialIds;
  /** id -> token string (byte symbols; special tokens as their literal text). */
  private readonly idToToken: string[];
  private readonly tokenToId: Map<string, number>;
  /** "left right" -> merge rank; byte symbols never contain a plain space, so the key is unambiguous. */
  private readonly ranks: Map<string, number>;
  private readonly specialIdSet: Set<number>;
  private readonly cache = new Map<string, number[]>();
  private readonly json: string;

  private constructor(json: string) {
    const parsed = JSON.parse(json) as TokenizerJson;
    if (parsed?.model?.type !== 'BPE') throw new TokenizerError(`tokenizer.json must hold a BPE model; got ${JSON.stringify(parsed?.model?.type)}`);
    this.json = json;
    this.tokenToId = new Map(Object.entries(parsed.model.vocab));
    this.vocabSize = this.tokenToId.size;
    this.idToToken = new Array<string>(this.vocabSize);
    for (const [tok, id] of this.tokenToId) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.idToToken[id] !== undefined) {
        throw new TokenizerError(`tokenizer.json vocabulary must use ids 0..${this.vocabSize - 1} once each; token ${JSON.stringify(tok)} has id ${id}`);
      }
      this.idToToken[id] = tok;
    }
    for (let b = 0; b < 256; b++) {
      if (this.tokenToId.get(BYTE_TO_CHAR[b]!) !== b) throw new TokenizerError(`tokenizer.json must map byte ${b} to id ${b}; it does not (not a byte-level vocabulary built by this project)`);
    }
    this.ranks = new Map();
    parsed.model.merges.forEach((m, rank) => {
      const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
      this.ranks.set(`${a} ${b}`, rank);
    });
    const special = {} as Record<SpecialName, number>;
    for (const name of SPECIAL_NAMES) {
      const id = this.tokenToId.get(SPECIAL_TOKENS[name]);
      if (id === undefined) throw new TokenizerError(`tokenizer.json lacks the special token ${SPECIAL_TOKENS[name]}`);
      special[name] = id;
    }
    this.special = special;
    this.specialIdSet = new Set(Object.values(special));
  }

  /**
   * Trains on `texts` with the native BPE trainer, then keeps the first merges so the vocabulary is exactly `vocabSize`.
   * The native trainer's own vocabulary target is fixed (30000) and not exposed, so larger sizes are refused.
   * It runs in a child process because it writes progress to the process's stdout.
   */
  static async train(texts: string[], vocabSize: number): Promise<BpeTokenizer> {
    if (!Number.isInteger(vocabSize) || vocabSize < MIN_VOCAB) {
      throw new TokenizerError(`vocabSize must be an integer >= ${MIN_VOCAB} (256 bytes + ${SPECIAL_NAMES.length} special tokens); got ${vocabSize}`);
    }
    const dir = mkdtempSync(join(tmpdir(), 'rlhf-bpe-'));
    try {
      const corpusFile = join(dir, 'corpus.txt');
      const savedFile = join(dir, 'trained.json');
      writeFileSync(corpusFile, texts.join('\n'));
      try {
        await promisify(execFile)(process.execPath, [TRAIN_CHILD, corpusFile, savedFile], { maxBuffer: 64 * 1024 * 1024 });
      } catch (err) {
        throw new TokenizerError(`the native BPE trainer failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
      }
      const trained = JSON.parse(readFileSync(savedFile, 'utf8')) as TokenizerJson;
      return new BpeTokenizer(buildTokenizerJson(trained.model.merges, vocabSize));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Loads a tokenizer.json written by `toJson` (validated: byte ids, contiguous ids, special tokens). */
  static fromJson(json: string): BpeTokenizer {
    return new BpeTokenizer(json);
  }

  /** The standard Hugging Face tokenizer.json text. */
  toJson(): string {
    return this.json;
  }

  /** The same tokenizer as a native `tokenizers` object (async API), e.g. to cross-check or batch-encode. */
  toNative(): NativeTokenizer {
    return loadNative().Tokenizer.fromString(this.json);
  }

  /** Ids of `text`. Special-token strings inside `text` are encoded as plain bytes, never as special ids. */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const m of text.matchAll(PRETOKENIZE)) {
      const piece = m[0];
      let ids = this.cache.get(piece);
      if (ids === undefined) {
        ids = this.bpe(piece);
        if (this.cache.size < 200_000) this.cache.set(piece, ids);
      }
      for (const id of ids) out.push(id);
    }
    return out;
  }

  /** Text of `ids`; special tokens are dropped unless `keepSpecial`. Invalid UTF-8 (e.g. a cut sample) becomes U+FFFD. */
  decode(ids: number[], keepSpecial = false): string {
    let text = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length > 0) text += utf8Decoder.decode(new Uint8Array(bytes));
      bytes = [];
    };
    for (const id of ids) {
      const tok = this.idToToken[id];
      if (tok === undefined) throw new TokenizerError(`token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      if (this.specialIdSet.has(id)) {
        if (keepSpecial) {
          flush();
          text += tok;
        }
        continue;
      }
      for (const ch of tok) bytes.push(CHAR_TO_BYTE.get(ch)!);
    }
    flush();
    return text;
  }

  /** Token string of one id (byte symbols, e.g. "Ġthe"), for debugging and reports. */
  token(id: number): string {
    const tok = this.idToToken[id];
    if (tok === undefined) throw new TokenizerError(`token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    return tok;
  }

  isSpecial(id: number): boolean {
    return this.specialIdSet.has(id);
  }

  /** Classic BPE on one pre-token: repeatedly merge the adjacent pair of lowest rank (leftmost first). */
  private bpe(piece: string): number[] {
    const bytes = utf8.encode(piece);
    let symbols: string[] = Array.from(bytes, (b) => BYTE_TO_CHAR[b]!);
    while (symbols.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < symbols.length - 1; i++) {
        const r = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const left = symbols[best]!;
      const right = symbols[best + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i < symbols.length - 1 && symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else merged.push(symbols[i]!);
      }
      symbols = merged;
    }
    return symbols.map((s) => this.tokenToId.get(s)!);
  }
}

/**
 * Builds the tokenizer.json from the trainer's merges (in learnt order): bytes first, then merged tokens until the
 * vocabulary holds `vocabSize - 8`, then the special tokens. A merge whose result is already a token costs no id and is kept.
 */
function buildTokenizerJson(trainedMerges: ([string, string] | string)[], vocabSize: number): string {
  const vocab = new Map<string, number>();
  BYTE_TO_CHAR.forEach((c, b) => vocab.set(c, b));
  const target = vocabSize - SPECIAL_NAMES.length;
  const merges: [string, string][] = [];
  for (const m of trainedMerges) {
    const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
    if (!vocab.has(a) || !vocab.has(b)) continue;
    const merged = a + b;
    if (!vocab.has(merged)) {
      if (vocab.size >= target) break;
      vocab.set(merged, vocab.size);
    }
    merges.push([a, b]);
  }
  if (vocab.size < target) {
    throw new TokenizerError(
      `the corpus yields only ${vocab.size - 256} merged tokens, so the vocabulary cannot reach ${vocabSize}; ` +
        `accepted: vocabSize <= ${vocab.size + SPECIAL_NAMES.length} for this corpus (more text allows more)`,
    );
  }
  const addedTokens = SPECIAL_NAMES.map((name, i) => ({
    id: target + i,
    content: SPECIAL_TOKENS[name],
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  for (const t of addedTokens) vocab.set(t.content, t.id);
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: BYTE_LEVEL,
    post_processor: null,
    decoder: BYTE_LEVEL,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  });
}
