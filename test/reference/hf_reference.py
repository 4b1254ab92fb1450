#!/usr/bin/env python3
"""Independent reference forward pass of Hugging Face GPT-2 and Llama-family (llama, mistral, qwen2) checkpoints in numpy.

Written from the published modeling code (transformers modeling_gpt2.py, modeling_llama.py, modeling_qwen2.py), reading
the folder's config.json and safetensors files itself, in float64. Usage: hf_reference.py DIR TOKENS_JSON [ADAPTER_DIR]
(a list of rows of token ids, all the same length). ADAPTER_DIR, a PEFT LoRA folder (adapter_config.json,
adapter_model.safetensors), adds PEFT's LoRA term (lora_alpha / r) * x A^T B^T to every projection it names, written
from PEFT's formula (LoRA paper eq. 3) with A = lora_A [r, in], B = lora_B [out, r]. Prints {"logits": [B][T][V]} as JSON.
"""
import json
import math
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        b, e = meta["data_offsets"]
        buf = data[b:e]
        dt = meta["dtype"]
        if dt == "F32":
            arr = np.frombuffer(buf, dtype="<f4").astype(np.float64)
        elif dt == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float64)
        elif dt == "BF16":
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            raise ValueError("dtype " + dt)
        out[name] = arr.reshape(meta["shape"])
    return out


def read_weights(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        w = {}
        for s in shards:
            w.update(read_safetensors(os.path.join(d, s)))
        return w
    return read_safetensors(os.path.join(d, "model.safetensors"))


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def causal_mask(t):
    return np.triu(np.full((t, t), -np.inf), k=1)


def read_adapter(d):
    """{hf module path: (A [r, in], B [out, r], scale)} from a PEFT LoRA folder; {} when d is None."""
    if d is None:
        return {}
    with open(os.path.join(d, "adapter_config.json")) as f:
        acfg = json.load(f)
    assert acfg["peft_type"] == "LORA" and not acfg.get("use_rslora", False)
    scale = acfg["lora_alpha"] / acfg["r"]
    t = read_safetensors(os.path.join(d, "adapter_model.safetensors"))
    out = {}
    prefix = "base_model.model."
    for name, a in t.items():
        if name.endswith(".lora_A.weight"):
            module = name[len(prefix) : -len(".lora_A.weight")]
            out[module] = (a, t[prefix + module + ".lora_B.weight"], scale)
    return out


def lora_term(adapter, module, x):
    if module not in adapter:
        return 0.0
    a, b, scale = adapter[module]
    return scale * ((x @ a.T) @ b.T)


def gpt2_forward(cfg, w, ids, adapter):
    g = lambda n: w.get("transformer." + n, w.get(n))
    d, nh = cfg["n_embd"], cfg["n_head"]
    hd = d // nh
    eps = cfg.get("layer_norm_epsilon", 1e-5)

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * g(p + ".weight") + g(p + ".bias")

    def gelu_new(x):
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))

    t = len(ids)
    h = g("wte.weight")[ids] + g("wpe.weight")[np.arange(t)]
    for l in range(cfg["n_layer"]):
        p = "h.%d." % l
        a = ln(h, p + "ln_1")
        qkv = a @ g(p + "attn.c_attn.weight") + g(p + "attn.c_attn.bias") + lora_term(adapter, "transformer." + p + "attn.c_attn", a)  # Conv1D: x @ W[in, out] + b
        q, k, v = np.split(qkv, 3, axis=-1)
        q, k, v = (x.reshape(t, nh, hd).transpose(1, 0, 2) for x in (q, k, v))
        att = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(hd) + causal_mask(t)) @ v
        merged = att.transpose(1, 0, 2).reshape(t, d)
        h = h + merged @ g(p + "attn.c_proj.weight") + g(p + "attn.c_proj.bias") + lora_term(adapter, "transformer." + p + "attn.c_proj", merged)
        x2 = ln(h, p + "ln_2")
        m = gelu_new(x2 @ g(p + "mlp.c_fc.weight") + g(p + "mlp.c_fc.bias") + lora_term(adapter, "transformer." + p + "mlp.c_fc", x2))
        h = h + m @ g(p + "mlp.c_proj.weight") + g(p + "mlp.c_proj.bias") + lora_term(adapter, "transformer." + p + "mlp.c_proj", m)
    h = ln(h, "ln_f")
    head = w["lm_head.weight"] if cfg.get("tie_word_embeddings", True) is False else g("wte.weight")
    return h @ head.T


def llama_forward(cfg, w, ids, adapter):
    d, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or d // nh
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    qwen = cfg["model_type"] == "qwen2"

    def rms(x, weight):
        var = (x**2).mean(-1, keepdims=True)
        return weight * (x / np.sqrt(var + eps))

    def rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
        return np.concatenate([-x2, x1], axis=-1)

    def repeat_kv(x, n):  # [kv, t, hd] -> [kv * n, t, hd], each kv head repeated n times in a row
        return np.repeat(x, n, axis=0)

    def linear(x, p, bias=False):
        y = x @ w[p + ".weight"].T + lora_term(adapter, p, x)  # nn.Linear: weight [out, in]
        return y + w[p + ".bias"] if bias else y

    t = len(ids)
    inv_freq = 1.0 / (theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    freqs = np.outer(np.arange(t, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb), np.sin(emb)  # [t, hd]
    h = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        x = rms(h, w[p + "input_layernorm.weight"])
        q = linear(x, p + "self_attn.q_proj", qwen).reshape(t, nh, hd).transpose(1, 0, 2)
        k = linear(x, p + "self_attn.k_proj", qwen).reshape(t, nkv, hd).transpose(1, 0, 2)
        v = linear(x, p + "self_attn.v_proj", qwen).reshape(t, nkv, hd).transpose(1, 0, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, nh // nkv), repeat_kv(v, nh // nkv)
        att = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(hd) + causal_mask(t)) @ v
        h = h + linear(att.transpose(1, 0, 2).reshape(t, nh * hd), p + "self_attn.o_proj")
        x = rms(h, w[p + "post_attention_layernorm.weight"])
        gate = linear(x, p + "mlp.gate_proj")
        h = h + linear(gate / (1.0 + np.exp(-gate)) * linear(x, p + "mlp.up_proj"), p + "mlp.down_proj")
    h = rms(h, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return h @ head.T


def main():
    d, tokens = sys.argv[1], json.loads(sys.argv[2])
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    w = read_weights(d)
    adapter = read_adapter(sys.argv[3] if len(sys.argv) > 3 else None)
    fwd = gpt2_forward if cfg["model_type"] == "gpt2" else llama_forward
    logits = [fwd(cfg, w, np.array(row, dtype=np.int64), adapter).tolist() for row in tokens]
    json.dump({"logits": logits}, sys.stdout)


if __name__ == "__main__":
    main()
