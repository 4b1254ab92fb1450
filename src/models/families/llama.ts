// The Llama family (HF modeling_llama.py, modeling_mistral.py, modeling_qwen2.py): RMSNorm, rotary attention in the
// rotate-half layout with rope_theta, grouped key/value heads, SwiGLU MLP; nn.Linear weights are [out, in], ours [in, out].
import type { GptConfig } from '../../kernels/gpt.js';
import { intField, isAbsent, ModelFamilyError, numField, refuseUnless, type HfConfig, type ModelFamily, type TensorMapping } from './family.js';

/** Refuses sliding-window attention: Mistral's sliding_window (unless it covers every position) and Qwen2's use_sliding_window. */
function refuseSlidingWindow(hf: HfConfig, modelType: string, contextLength: number): void {
  if (modelType === 'qwen2') {
    refuseUnless(hf, 'use_sliding_window', (v) => v === false || isAbsent(v), 'false (sliding-window attention is not implemented)');
    return;
  }
  const w = hf['sliding_window'];
  if (!isAbsent(w) && !(typeof w === 'number' && w >= contextLength)) {
    throw new ModelFamilyError(
      `config.json field sliding_window is ${JSON.stringify(w)}; supported: null, or a window >= max_position_embeddings (${contextLength}) (sliding-window attention is not implemented)`,
    );
  }
}

/** Mixture-of-experts configs carry an expert count; this family has dense MLPs only. */
function refuseMoe(hf: HfConfig): void {
  for (const f of ['num_local_experts', 'num_experts', 'num_experts_per_tok', 'moe_intermediate_size']) {
    refuseUnless(hf, f, (v) => isAbsent(v) || v === 0, 'absent (mixture-of-experts models are not supported; dense MLPs only)');
  }
}

export const llamaFamily: ModelFamily = {
  modelTypes: ['llama', 'mistral', 'qwen2'],

  toConfig(hf: HfConfig, modelType: string): GptConfig {
    refuseUnless(hf, 'rope_scaling', isAbsent, 'null (no rope_scaling kind is implemented: plain RoPE with rope_theta only)');
    refuseUnless(hf, 'hidden_act', (v) => v === 'silu', '"silu" (SwiGLU MLP)');
    refuseUnless(hf, 'attention_bias', (v) => v === false || isAbsent(v), 'false (q/k/v/o biases; Qwen2 has q/k/v biases by its model_type)');
    refuseUnless(hf, 'mlp_bias', (v) => v === false || isAbsent(v), 'false');
    refuseUnless(hf, 'tie_word_embeddings', (v) => typeof v === 'boolean', 'true or false');
    refuseMoe(hf);
    const contextLength = intField(hf, 'max_position_embeddings');
    refuseSlidingWindow(hf, modelType, contextLength);
    const dModel = intField(hf, 'hidden_size');
    const heads = intField(hf, 'num_attention_heads');
    const headDim = isAbsent(hf['head_dim']) ? undefined : intField(hf, 'head_dim');
    if (headDim === undefined && dModel % heads !== 0) {
      throw new ModelFamilyError(`config.json hidden_size ${dModel} is not divisible by num_attention_heads ${heads} and no head_dim is given`);
    }
    const cfg: GptConfig = {
      arch: 'llama',
      vocabSize: intField(hf, 'vocab_size'),
      contextLength,
      layers: intField(hf, 'num_hidden_layers'),
      dModel,
      heads,
      dropout: 0,
      positional: 'rotary',
      kvHeads: intField(hf, 'num_key_value_heads', heads),
      ffDim: intField(hf, 'intermediate_size'),
      normEps: numField(hf, 'rms_norm_eps', 1e-6),
      ropeTheta: numField(hf, 'rope_theta', 10000),
      qkvBias: modelType === 'qwen2',
      tiedEmbeddings: hf['tie_word_embeddings'] === true,
    };
    if (headDim !== undefined && headDim !== dModel / heads) cfg.headDim = headDim;
    if (heads % cfg.kvHeads! !== 0) {
      throw new ModelFamilyError(`config.json num_attention_heads ${heads} must be a multiple of num_key_value_heads ${cfg.kvHeads}`);
    }
    return cfg;
  },

  tensors(cfg: GptConfig): TensorMapping[] {
    const out: TensorMapping[] = [{ ours: 'wte', hf: 'model.embed_tokens.weight', transpose: false }];
    for (let l = 0; l < cfg.layers; l++) {
      const hf = `model.layers.${l}.`;
      const ours = `h.${l}.`;
      out.push({ ours: `${ours}ln_1.weight`, hf: `${hf}input_layernorm.weight`, transpose: false });
      for (const n of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) {
        out.push({ ours: `${ours}attn.${n}.weight`, hf: `${hf}self_attn.${n}.weight`, transpose: true });
        if (cfg.qkvBias && n !== 'o_proj') out.push({ ours: `${ours}attn.${n}.bias`, hf: `${hf}self_attn.${n}.bias`, transpose: false });
      }
      out.push({ ours: `${ours}ln_2.weight`, hf: `${hf}post_attention_layernorm.weight`, transpose: false });
      for (const n of ['gate_proj', 'up_proj', 'down_proj']) out.push({ ours: `${ours}mlp.${n}.weight`, hf: `${hf}mlp.${n}.weight`, transpose: true });
    }
    out.push({ ours: 'ln_f.weight', hf: 'model.norm.weight', transpose: false });
    if (cfg.tiedEmbeddings === false) out.push({ ours: 'lm_head.weight', hf: 'lm_head.weight', transpose: false });
    return out;
  },

  ignorable(name: string, cfg: GptConfig): boolean {
    return /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(name) || (cfg.tiedEmbeddings !== false && name === 'lm_head.weight');
  },

  canonicalName(name: string): string {
    return name;
  },

  toHfConfig(cfg: GptConfig, ids): HfConfig {
    const qwen = cfg.qkvBias === true;
    const out: HfConfig = {
      architectures: [qwen ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
      model_type: qwen ? 'qwen2' : 'llama',
      vocab_size: cfg.vocabSize,
      max_position_embeddings: cfg.contextLength,
      hidden_size: cfg.dModel,
      intermediate_size: cfg.ffDim ?? 4 * cfg.dModel,
      num_hidden_layers: cfg.layers,
      num_attention_heads: cfg.heads,
      num_key_value_heads: cfg.kvHeads ?? cfg.heads,
      head_dim: cfg.headDim ?? cfg.dModel / cfg.heads,
      hidden_act: 'silu',
      rms_norm_eps: cfg.normEps ?? 1e-6,
      rope_theta: cfg.ropeTheta ?? 10000,
      rope_scaling: null,
      attention_bias: false,
      mlp_bias: false,
      tie_word_embeddings: cfg.tiedEmbeddings !== false,
      initializer_range: 0.02,
      bos_token_id: ids.bos ?? null,
      eos_token_id: ids.eos ?? null,
      torch_dtype: 'float32',
    };
    if (qwen) {
      delete out['attention_bias'];
      delete out['mlp_bias'];
      out['use_sliding_window'] = false;
    }
    return out;
  },
};
