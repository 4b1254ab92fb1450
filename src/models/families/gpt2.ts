// GPT-2 (HF modeling_gpt2.py): Conv1D weights are stored [in, out] (as ours), learned positions, LayerNorm, gelu_new, tied lm_head.
import type { GptConfig } from '../../kernels/gpt.js';
import { intField, isAbsent, numField, refuseUnless, type HfConfig, type ModelFamily, type TensorMapping } from './family.js';

const PREFIX = 'transformer.';

export const gpt2Family: ModelFamily = {
  modelTypes: ['gpt2'],

  toConfig(hf: HfConfig): GptConfig {
    refuseUnless(hf, 'activation_function', (v) => v === 'gelu_new' || v === 'gelu_pytorch_tanh', '"gelu_new" (tanh-approximated GELU)');
    refuseUnless(hf, 'scale_attn_weights', (v) => v === true, 'true');
    refuseUnless(hf, 'scale_attn_by_inverse_layer_idx', (v) => v === false, 'false');
    refuseUnless(hf, 'reorder_and_upcast_attn', (v) => v === false, 'false');
    refuseUnless(hf, 'add_cross_attention', (v) => v === false, 'false');
    refuseUnless(hf, 'tie_word_embeddings', (v) => typeof v === 'boolean', 'true or false');
    const dModel = intField(hf, 'n_embd');
    return {
      arch: 'gpt2',
      vocabSize: intField(hf, 'vocab_size'),
      contextLength: intField(hf, 'n_positions'),
      layers: intField(hf, 'n_layer'),
      dModel,
      heads: intField(hf, 'n_head'),
      dropout: 0,
      positional: 'learned',
      ffDim: isAbsent(hf['n_inner']) ? 4 * dModel : intField(hf, 'n_inner'),
      normEps: numField(hf, 'layer_norm_epsilon', 1e-5),
      tiedEmbeddings: hf['tie_word_embeddings'] !== false,
    };
  },

  tensors(cfg: GptConfig): TensorMapping[] {
    const m = (ours: string, hf: string): TensorMapping => ({ ours, hf: PREFIX + hf, transpose: false });
    const out = [m('wte', 'wte.weight'), m('wpe', 'wpe.weight')];
    for (let l = 0; l < cfg.layers; l++) {
      for (const n of ['ln_1', 'attn.c_attn', 'attn.c_proj', 'ln_2', 'mlp.c_fc', 'mlp.c_proj']) {
        out.push(m(`h.${l}.${n}.weight`, `h.${l}.${n}.weight`), m(`h.${l}.${n}.bias`, `h.${l}.${n}.bias`));
      }
    }
    out.push(m('ln_f.weight', 'ln_f.weight'), m('ln_f.bias', 'ln_f.bias'));
    if (cfg.tiedEmbeddings === false) out.push({ ours: 'lm_head.weight', hf: 'lm_head.weight', transpose: false });
    return out;
  },

  ignorable(name: string, cfg: GptConfig): boolean {
    // attn.bias / attn.masked_bias are the causal-mask buffers older checkpoints saved; lm_head is wte's copy when tied.
    return /^transformer\.h\.\d+\.attn\.(masked_)?bias$/.test(name) || (cfg.tiedEmbeddings !== false && name === 'lm_head.weight');
  },

  canonicalName(name: string): string {
    return name.startsWith(PREFIX) || name.startsWith('lm_head.') ? name : PREFIX + name;
  },

  toHfConfig(cfg: GptConfig, ids): HfConfig {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: cfg.vocabSize,
      n_positions: cfg.contextLength,
      n_ctx: cfg.contextLength,
      n_embd: cfg.dModel,
      n_layer: cfg.layers,
      n_head: cfg.heads,
      n_inner: cfg.ffDim ?? null,
      activation_function: 'gelu_new',
      layer_norm_epsilon: cfg.normEps ?? 1e-5,
      resid_pdrop: 0,
      embd_pdrop: 0,
      attn_pdrop: 0,
      initializer_range: 0.02,
      scale_attn_weights: true,
      tie_word_embeddings: cfg.tiedEmbeddings !== false,
      bos_token_id: ids.bos ?? null,
      eos_token_id: ids.eos ?? null,
      torch_dtype: 'float32',
    };
  },
};
