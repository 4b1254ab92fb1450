// Writes a language model of ours as a Hugging Face folder in the standard naming (config.json, model.safetensors,
// tokenizer.json, tokenizer_config.json with a chat template, generation_config.json), atomically.
import { saveCheckpoint } from '../checkpoint/checkpoint.js';
import type { TensorRecord } from '../checkpoint/safetensors.js';
import { HfTokenizer } from '../data/hf_tokenizer.js';
import type { TextTokenizer } from '../data/text_tokenizer.js';
import { SPECIAL_TOKENS } from '../data/tokenizer.js';
import { disposeModel, modelFromWeights, type GptModel } from '../kernels/gpt.js';
import { mergedWeights } from '../kernels/lora.js';
import { familyForArch } from './families/registry.js';
import { HfFolderError } from './hf_folder.js';

/**
 * The project's prompt layout as a chat template: `<|bos|><|prompt|>x<|response|>` then the reply and `<|eos|>`, so a
 * model exported from our own training is prompted exactly as it was trained.
 */
export const PROJECT_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}" +
  `${SPECIAL_TOKENS.prompt}{{ message['content'] }}${SPECIAL_TOKENS.response}` +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}{% endif %}{% endfor %}";

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Our parameters under HF names and layouts. */
export function hfWeights(model: GptModel): TensorRecord {
  const family = familyForArch(model.cfg.arch);
  const out: TensorRecord = {};
  for (const m of family.tensors(model.cfg)) {
    const p = model.params[m.ours];
    if (!p) throw new HfFolderError(`model has no parameter ${JSON.stringify(m.ours)} to export`);
    const data = Float32Array.from(p.dataSync() as Float32Array);
    const [r, c] = p.shape as [number, number];
    out[m.hf] = m.transpose ? { dtype: 'F32', shape: [c, r], data: transpose2d(data, r, c) } : { dtype: 'F32', shape: [...p.shape], data };
  }
  return out;
}

/** tokenizer_config.json for the export: an imported tokenizer's own, or one naming our special tokens and chat template. */
function tokenizerConfigOf(tok: TextTokenizer, contextLength: number): string {
  const own = tok.configJson?.();
  if (own !== undefined) return own;
  if (tok instanceof HfTokenizer) return JSON.stringify({ model_max_length: contextLength }, null, 2) + '\n';
  return (
    JSON.stringify(
      {
        tokenizer_class: 'PreTrainedTokenizerFast',
        bos_token: SPECIAL_TOKENS.bos,
        eos_token: SPECIAL_TOKENS.eos,
        pad_token: SPECIAL_TOKENS.pad,
        model_max_length: contextLength,
        clean_up_tokenization_spaces: false,
        chat_template: PROJECT_CHAT_TEMPLATE,
      },
      null,
      2,
    ) + '\n'
  );
}

/** Writes `model` (a language model) and its tokenizer to `dir` as a Hugging Face folder; replaces `dir` atomically. */
export async function exportHfFolder(dir: string, model: GptModel, tok: TextTokenizer): Promise<void> {
  if (model.head !== 'lm') throw new HfFolderError(`export writes language models (head lm); this model has head ${model.head}`);
  if ((model.cfg.arch ?? 'gpt2') === 'gpt2' && model.cfg.positional !== 'learned') {
    throw new HfFolderError(`a GPT-2 layout model exports only with model.positional learned (HF GPT-2 has learned positions); got ${model.cfg.positional}`);
  }
  const ids = { bos: tok.special.bos, eos: tok.special.eos, pad: tok.special.pad };
  const config = familyForArch(model.cfg.arch).toHfConfig(model.cfg, ids);
  const generation = JSON.stringify({ bos_token_id: ids.bos, eos_token_id: ids.eos, pad_token_id: ids.pad }, null, 2) + '\n';
  await saveCheckpoint(dir, {
    weights: hfWeights(model),
    config,
    tokenizer: tok.toJson(),
    tokenizerConfig: tokenizerConfigOf(tok, model.cfg.contextLength),
    extraFiles: { 'generation_config.json': generation },
  });
}

/** Writes a LoRA-adapted model as a plain Hugging Face folder with W + (alpha / r) (B A)^T folded into each adapted weight. */
export async function exportMergedHfFolder(dir: string, model: GptModel, tok: TextTokenizer): Promise<void> {
  if (!model.lora) throw new HfFolderError('--merge needs a model with a LoRA adapter');
  const merged = modelFromWeights(model.cfg, 'lm', mergedWeights(model));
  try {
    await exportHfFolder(dir, merged, tok);
  } finally {
    disposeModel(merged);
  }
}
