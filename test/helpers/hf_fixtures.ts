// Tiny random-init Hugging Face model folders for tests: config.json, safetensors (F32, F16 or BF16; one file or shards),
// a byte-level (GPT-2) or Llama-style (BPE with byte fallback) tokenizer.json, tokenizer_config.json. Names are written
// out here from the HF layouts, independently of the loader's own mappings.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/kernels/rng.js';
import { byteAlphabet } from '../../src/data/tokenizer.js';

export type FixtureType = 'gpt2' | 'llama' | 'mistral' | 'qwen2';
export type FixtureDtype = 'F32' | 'F16' | 'BF16';

export interface FixtureSpec {
  type: FixtureType;
  layers?: number;
  d?: number;
  heads?: number;
  kvHeads?: number;
  ff?: number;
  ctx?: number;
  tied?: boolean;
  dtype?: FixtureDtype;
  /** Split the tensors over this many shard files with an index (default: one model.safetensors). */
  shards?: number;
  seed?: number;
  /** Standard deviation of the random weights (large enough that a wrong layout shows in the logits). */
  std?: number;
  chatTemplate?: string;
  /** Model vocabulary (default: the tokenizer's size rounded up to a multiple of 32); may exceed the tokenizer's. */
  vocab?: number;
  /** Extra config.json fields (e.g. to make a config the loader must refuse). */
  extraConfig?: Record<string, unknown>;
  /** Another tokenizer.json (its end token `eos`, its begin token `bos` or else eos) instead of the built-in one. */
  tokenizer?: { json: string; size: number; eos: string; bos?: string };
}

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** A GPT-2 style byte-level BPE tokenizer.json with a few merges and the ChatML and end-of-text special tokens. */
export function byteLevelTokenizer(): { json: string; size: number; eos: string } {
  const vocab: Record<string, number> = {};
  byteAlphabet().forEach((c, b) => (vocab[c] = b));
  const merges = [['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['i', 'n'], ['Ġ', 'a'], ['o', 'n'], ['e', 'r'], ['Ġ', 's'], ['r', 'e'], ['Ġ', 'w']];
  for (const [a, b] of merges) vocab[a! + b!] = Object.keys(vocab).length;
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const addedTokens = specials.map((s) => added(Object.keys(vocab).length + specials.indexOf(s), s));
  for (const t of addedTokens) vocab[t.content] = t.id;
  const tok = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: merges.map((m) => m.join(' ')) },
  };
  return { json: JSON.stringify(tok), size: Object.keys(vocab).length, eos: '<|endoftext|>' };
}

/** A Llama (SentencePiece-style) BPE tokenizer.json: ▁ for spaces, letters and a few merges, byte fallback for the rest. */
export function llamaStyleTokenizer(): { json: string; size: number; eos: string } {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  for (const c of '▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?\'') vocab[c] = Object.keys(vocab).length;
  const merges = [['▁', 't'], ['h', 'e'], ['▁t', 'he'], ['i', 'n'], ['▁', 'a'], ['o', 'n'], ['e', 'r'], ['▁', 's'], ['r', 'e'], ['▁', 'w'], ['▁', 'c']];
  for (const [a, b] of merges) vocab[a! + b!] = Object.keys(vocab).length;
  const tok = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges: merges.map((m) => m.join(' ')) },
  };
  return { json: JSON.stringify(tok), size: Object.keys(vocab).length, eos: '</s>' };
}

function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = u & 0x7fffff;
  if (exp <= 0) return sign | Math.round((mant | 0x800000) / 2 ** (14 - exp)); // subnormal (tiny weights only)
  if (exp >= 31) return sign | 0x7c00;
  return sign | ((exp << 10) + Math.round(mant / 8192)); // a rounding carry moves into the exponent
}

/** safetensors bytes of float tensors stored in `dtype` (BF16 truncates float32, F16 rounds). */
export function safetensorsBytes(tensors: Record<string, { shape: number[]; data: Float32Array }>, dtype: FixtureDtype): Buffer {
  const width = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  const names = Object.keys(tensors);
  for (const n of names) {
    const size = tensors[n]!.data.length * width;
    header[n] = { dtype, shape: tensors[n]!.shape, data_offsets: [off, off + size] };
    off += size;
  }
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + off);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const n of names) {
    for (const x of tensors[n]!.data) {
      if (dtype === 'F32') out.writeFloatLE(x, at);
      else if (dtype === 'BF16') out.writeUInt16LE(new Uint32Array(new Float32Array([x]).buffer)[0]! >>> 16, at);
      else out.writeUInt16LE(toHalf(x), at);
      at += width;
    }
  }
  return out;
}

/** HF tensor names and shapes of a tiny model of the spec's type. */
function hfTensorShapes(s: Required<Omit<FixtureSpec, 'chatTemplate' | 'extraConfig' | 'shards' | 'vocab' | 'tokenizer'>>, vocab: number): [string, number[], 'w' | 'norm' | 'bias'][] {
  const { d, ff, layers } = s;
  const out: [string, number[], 'w' | 'norm' | 'bias'][] = [];
  if (s.type === 'gpt2') {
    out.push(['transformer.wte.weight', [vocab, d], 'w'], ['transformer.wpe.weight', [s.ctx, d], 'w']);
    for (let l = 0; l < layers; l++) {
      const p = `transformer.h.${l}.`;
      out.push(
        [`${p}ln_1.weight`, [d], 'norm'], [`${p}ln_1.bias`, [d], 'bias'],
        [`${p}attn.c_attn.weight`, [d, 3 * d], 'w'], [`${p}attn.c_attn.bias`, [3 * d], 'bias'],
        [`${p}attn.c_proj.weight`, [d, d], 'w'], [`${p}attn.c_proj.bias`, [d], 'bias'],
        [`${p}ln_2.weight`, [d], 'norm'], [`${p}ln_2.bias`, [d], 'bias'],
        [`${p}mlp.c_fc.weight`, [d, ff], 'w'], [`${p}mlp.c_fc.bias`, [ff], 'bias'],
        [`${p}mlp.c_proj.weight`, [ff, d], 'w'], [`${p}mlp.c_proj.bias`, [d], 'bias'],
      );
    }
    out.push(['transformer.ln_f.weight', [d], 'norm'], ['transformer.ln_f.bias', [d], 'bias']);
  } else {
    const hd = d / s.heads;
    out.push(['model.embed_tokens.weight', [vocab, d], 'w']);
    for (let l = 0; l < layers; l++) {
      const p = `model.layers.${l}.`;
      out.push(
        [`${p}input_layernorm.weight`, [d], 'norm'],
        [`${p}self_attn.q_proj.weight`, [s.heads * hd, d], 'w'],
        [`${p}self_attn.k_proj.weight`, [s.kvHeads * hd, d], 'w'],
        [`${p}self_attn.v_proj.weight`, [s.kvHeads * hd, d], 'w'],
      );
      if (s.type === 'qwen2') {
        out.push([`${p}self_attn.q_proj.bias`, [s.heads * hd], 'bias'], [`${p}self_attn.k_proj.bias`, [s.kvHeads * hd], 'bias'], [`${p}self_attn.v_proj.bias`, [s.kvHeads * hd], 'bias']);
      }
      out.push(
        [`${p}self_attn.o_proj.weight`, [d, s.heads * hd], 'w'],
        [`${p}post_attention_layernorm.weight`, [d], 'norm'],
        [`${p}mlp.gate_proj.weight`, [ff, d], 'w'],
        [`${p}mlp.up_proj.weight`, [ff, d], 'w'],
        [`${p}mlp.down_proj.weight`, [d, ff], 'w'],
      );
    }
    out.push(['model.norm.weight', [d], 'norm']);
  }
  if (!s.tied) out.push(['lm_head.weight', [vocab, d], 'w']);
  return out;
}

function hfConfig(s: Required<Omit<FixtureSpec, 'chatTemplate' | 'extraConfig' | 'shards' | 'vocab' | 'tokenizer'>>, vocab: number, eosId: number, bosId: number): Record<string, unknown> {
  if (s.type === 'gpt2') {
    return {
      model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: vocab, n_positions: s.ctx, n_embd: s.d, n_layer: s.layers, n_head: s.heads,
      n_inner: s.ff, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, tie_word_embeddings: s.tied, bos_token_id: bosId, eos_token_id: eosId,
    };
  }
  const cfg: Record<string, unknown> = {
    model_type: s.type, vocab_size: vocab, max_position_embeddings: s.ctx, hidden_size: s.d, intermediate_size: s.ff, num_hidden_layers: s.layers,
    num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, hidden_act: 'silu', rms_norm_eps: 1e-6, rope_theta: 5000, rope_scaling: null,
    tie_word_embeddings: s.tied, bos_token_id: bosId, eos_token_id: eosId,
  };
  if (s.type === 'mistral') cfg['sliding_window'] = null;
  if (s.type === 'qwen2') Object.assign(cfg, { use_sliding_window: false, sliding_window: 4096 });
  return cfg;
}

/** Writes a tiny HF model folder; returns its vocabulary size and the tokenizer kind used. */
export function writeHfFixture(dir: string, spec: FixtureSpec): { vocab: number } {
  const s = {
    type: spec.type, layers: spec.layers ?? 2, d: spec.d ?? 64, heads: spec.heads ?? 4, kvHeads: spec.kvHeads ?? 2, ff: spec.ff ?? 96, ctx: spec.ctx ?? 64,
    tied: spec.tied ?? spec.type === 'gpt2', dtype: spec.dtype ?? 'F32', seed: spec.seed ?? 1, std: spec.std ?? 0.1,
  };
  mkdirSync(dir, { recursive: true });
  const tok = spec.tokenizer ?? (s.type === 'gpt2' || s.type === 'qwen2' ? byteLevelTokenizer() : llamaStyleTokenizer());
  const vocab = Math.max(spec.vocab ?? 0, Math.ceil(tok.size / 32) * 32);
  const parsed = JSON.parse(tok.json) as { model: { vocab: Record<string, number> }; added_tokens?: { id: number; content: string }[] };
  const ids: Record<string, number> = { ...parsed.model.vocab, ...Object.fromEntries((parsed.added_tokens ?? []).map((t) => [t.content, t.id])) };
  const eosId = ids[tok.eos]!;
  const bosId = spec.tokenizer ? ids[spec.tokenizer.bos ?? tok.eos]! : s.type === 'gpt2' || s.type === 'qwen2' ? eosId : ids['<s>']!;
  const rng = new Rng(s.seed);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, shape, kind] of hfTensorShapes(s, vocab)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (kind === 'norm' ? 1 : 0) + rng.normal() * s.std;
    tensors[name] = { shape, data };
  }
  const names = Object.keys(tensors);
  const shards = spec.shards ?? 1;
  if (shards === 1) writeFileSync(join(dir, 'model.safetensors'), safetensorsBytes(tensors, s.dtype));
  else {
    const weightMap: Record<string, string> = {};
    for (let k = 0; k < shards; k++) {
      const file = `model-${String(k + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const part = Object.fromEntries(names.filter((_, i) => i % shards === k).map((n) => [n, tensors[n]!]));
      for (const n of Object.keys(part)) weightMap[n] = file;
      writeFileSync(join(dir, file), safetensorsBytes(part, s.dtype));
    }
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...hfConfig(s, vocab, eosId, bosId), ...spec.extraConfig }, null, 2));
  writeFileSync(join(dir, 'tokenizer.json'), tok.json);
  const tokConfig: Record<string, unknown> = { tokenizer_class: 'PreTrainedTokenizerFast', eos_token: tok.eos, model_max_length: s.ctx };
  if (spec.tokenizer) tokConfig['bos_token'] = spec.tokenizer.bos ?? tok.eos;
  else if (s.type !== 'gpt2' && s.type !== 'qwen2') Object.assign(tokConfig, { bos_token: '<s>', unk_token: '<unk>' });
  if (spec.chatTemplate !== undefined) tokConfig['chat_template'] = spec.chatTemplate;
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokConfig, null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: bosId, eos_token_id: eosId }));
  return { vocab };
}
