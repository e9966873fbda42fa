#!/usr/bin/env python3
"""Tiny random models in exact Hugging Face layout, for tests.

    python3 scripts/hf/make_tiny.py OUTDIR [--seed N] [--std S] [--variants] [--adapters]
        [--families gpt2,llama,qwen2[,qwen3,gemma3]]

Writes OUTDIR/<case>/ for every case in CASES: config.json (the architecture's
own config keys, as transformers' save_pretrained writes them), a
generation_config.json, and model.safetensors (or shards plus
model.safetensors.index.json), with tensor names exactly as transformers saves
them. Also OUTDIR/manifest.json describing every case. No tokenizer.json: run
scripts/hf/tiny_tokenizer.py on a folder before loading it as a student. Needs only numpy (no
transformers, no safetensors package): the safetensors writer is below.

--families picks the model families written (default gpt2,llama,qwen2, the
ones the TypeScript side reads today; qwen3 and gemma3 are written only when
named, so that tests iterating manifest.json see them only once asked). A
case's bytes, and its adapter's, do not depend on which families are written:
every case keeps its own seed and its adapter seed counts its index among ALL
cases.

--variants adds folders that hold the SAME weights as a case in another form
(unsharded, F32 instead of BF16, an explicit lm_head equal to the embedding,
GQA key/value heads repeated into plain multi-head attention), named
"<case>.<variant>", for consistency checks of readers and references.

--adapters adds, beside every case (not the variants), a PEFT LoRA adapter
folder OUTDIR/<case>.lora/ as PEFT's save_pretrained writes it:
adapter_config.json (peft_type LORA, task_type CAUSAL_LM, r 4, lora_alpha 8,
lora_dropout 0.0, bias "none", fan_in_fan_out true for GPT-2, target_modules
["c_attn", "c_proj"] for GPT-2 (c_proj: attn.c_proj AND mlp.c_proj) or
["q_proj", "k_proj", "v_proj", "o_proj"], base_model_name_or_path the case)
and adapter_model.safetensors, F32, with base_model.model.<module>.lora_A.weight
[r, in] and lora_B.weight [out, r] both N(0, 0.2) (B is NOT zero as at PEFT's
init, so the adapter changes the outputs and its gradients are informative),
drawn from their own PCG64 stream (seed + 1000 + case index): the models and
manifest.json are byte-identical with or without --adapters, except that
each case's manifest entry then gets "adapter". The variants that keep their
case's shapes (.single, .f32, .explicit-head) take <case>.lora as they are.

Weights: N(0, std) seeded with numpy's PCG64 (--seed, default 0); norm gains
1 + N(0, std) (Gemma3 stores w with gain 1 + w, so its norms store N(0, std));
biases N(0, std). The default std (0.2) is larger than
GPT-2's init (0.02) on purpose: with 0.02 and width 32 the attention is
almost uniform and the logits almost flat, so a wrong RoPE convention, mask or
head grouping changes the log-probs by less than the 1e-4 tolerance of the
parity tests. --std 0.02 gives the init-like models.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

TRANSFORMERS_VERSION = "4.44.2"

# ---- safetensors writer ---------------------------------------------------------

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}
TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def to_bf16_bits(a):
    """float32 -> bfloat16 bits (uint16), round to nearest even, as torch does."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def tensor_bytes(a, dtype):
    if dtype == "F32":
        return np.ascontiguousarray(a, dtype="<f4").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(a, dtype=np.float32).astype("<f2").tobytes()
    if dtype == "BF16":
        return to_bf16_bits(a).astype("<u2").tobytes()
    raise ValueError(dtype)


def round_to(a, dtype):
    """The float32 values a tensor has after storage in dtype."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F32":
        return a
    if dtype == "F16":
        return a.astype(np.float16).astype(np.float32)
    return bf16_bits_to_f32(to_bf16_bits(a)).reshape(a.shape)


def safetensors_bytes(tensors, dtype, metadata=None):
    """The bytes of a .safetensors file as the Rust library writes them:
    u64 LE header length, compact JSON header ("__metadata__" first, then the
    tensors in data order, which for one dtype is sorted by name), padded with
    spaces to a multiple of 8, then the tensor bytes. `dtype` is one storage
    dtype for all tensors, or a dict name -> dtype."""
    names = sorted(tensors)
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    chunks = []
    offset = 0
    for name in names:
        dt = dtype[name] if isinstance(dtype, dict) else dtype
        b = tensor_bytes(tensors[name], dt)
        shape = [int(s) for s in np.shape(tensors[name])]
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((8 - len(js) % 8) % 8)
    return struct.pack("<Q", len(js)) + js + b"".join(chunks)


def write_json(path, obj):
    # transformers: json.dumps(config_dict, indent=2, sort_keys=True) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_model(folder, tensors, dtype, shards=None, metadata={"format": "pt"}):
    """Writes model.safetensors, or with shards (a list of lists of names) the
    files model-0000i-of-0000n.safetensors and model.safetensors.index.json."""
    os.makedirs(folder, exist_ok=True)
    if not shards:
        with open(os.path.join(folder, "model.safetensors"), "wb") as f:
            f.write(safetensors_bytes(tensors, dtype, metadata))
        return ["model.safetensors"]
    assert sorted(n for s in shards for n in s) == sorted(tensors), "shards must cover every tensor once"
    n = len(shards)
    weight_map = {}
    total = 0
    files = []
    for i, names in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
        part = {k: tensors[k] for k in names}
        with open(os.path.join(folder, fname), "wb") as f:
            f.write(safetensors_bytes(part, dtype, metadata))
        for k in names:
            weight_map[k] = fname
            total += int(np.prod(np.shape(tensors[k]), dtype=np.int64)) * DTYPE_SIZE[dtype if isinstance(dtype, str) else dtype[k]]
        files.append(fname)
    write_json(os.path.join(folder, "model.safetensors.index.json"), {"metadata": {"total_size": total}, "weight_map": weight_map})
    return files + ["model.safetensors.index.json"]


# ---- configs, as transformers' to_dict() writes them ---------------------------


def gpt2_config(vocab, positions, d, layers, heads, eps=1e-5, tied=True, dtype="F32", bos=0, eos=0):
    return {
        "_name_or_path": "",
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": bos,
        "embd_pdrop": 0.1,
        "eos_token_id": eos,
        "initializer_range": 0.02,
        "layer_norm_epsilon": eps,
        "model_type": "gpt2",
        "n_embd": d,
        "n_head": heads,
        "n_inner": None,
        "n_layer": layers,
        "n_positions": positions,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "tie_word_embeddings": tied,
        "torch_dtype": TORCH_DTYPE[dtype],
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": vocab,
    }


def llama_config(vocab, positions, d, layers, heads, kv, inter, eps=1e-5, theta=10000.0, tied=False, dtype="F32", head_dim=False, bos=1, eos=2):
    c = {
        "_name_or_path": "",
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "hidden_act": "silu",
        "hidden_size": d,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "max_position_embeddings": positions,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv,
        "pretraining_tp": 1,
        "rms_norm_eps": eps,
        "rope_scaling": None,
        "rope_theta": theta,
        "tie_word_embeddings": tied,
        "torch_dtype": TORCH_DTYPE[dtype],
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": vocab,
    }
    if head_dim:  # written by transformers >= 4.45
        c["head_dim"] = d // heads
    return c


def qwen2_config(vocab, positions, d, layers, heads, kv, inter, eps=1e-6, theta=1000000.0, tied=True, dtype="F32", bos=None, eos=None):
    return {
        "_name_or_path": "",
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "hidden_act": "silu",
        "hidden_size": d,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "max_position_embeddings": positions,
        "max_window_layers": layers,
        "model_type": "qwen2",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv,
        "rms_norm_eps": eps,
        "rope_scaling": None,
        "rope_theta": theta,
        "sliding_window": positions,
        "tie_word_embeddings": tied,
        "torch_dtype": TORCH_DTYPE[dtype],
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab,
    }


def qwen3_config(vocab, positions, d, layers, heads, kv, head_dim, inter, eps=1e-6, theta=1000000.0, tied=True, dtype="F32", bos=None, eos=None):
    """Qwen3Config as transformers 4.51 (the Qwen3 release) saves it: head_dim
    always written (it need not be hidden_size / heads), no q/k/v bias
    (attention_bias false), sliding_window null since use_sliding_window is false."""
    return {
        "_name_or_path": "",
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "hidden_size": d,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "max_position_embeddings": positions,
        "max_window_layers": layers,
        "model_type": "qwen3",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv,
        "rms_norm_eps": eps,
        "rope_scaling": None,
        "rope_theta": theta,
        "sliding_window": None,
        "tie_word_embeddings": tied,
        "torch_dtype": TORCH_DTYPE[dtype],
        "transformers_version": "4.51.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab,
    }


def gemma3_config(vocab, positions, d, layers, heads, kv, head_dim, inter, window, layer_types=None, pattern=None,
                  qpas=256, eps=1e-6, theta=1000000.0, local_theta=10000.0, final_cap=None, attn_cap=None, dtype="F32"):
    """Gemma3TextConfig (gemma3_text, Gemma3ForCausalLM) as the hub's text-only
    checkpoints have it. With layer_types: as transformers 4.55 saves it
    (gemma-3-270m: layer_types listed, _sliding_window_pattern kept beside it,
    use_bidirectional_attention). With pattern instead: as 4.50 saved it
    (gemma-3-1b: sliding_window_pattern N, no layer_types; layer i slides
    unless (i + 1) % N == 0). Always tied (Gemma3ForCausalLM ties lm_head)."""
    c = {
        "_name_or_path": "",
        "architectures": ["Gemma3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": attn_cap,
        "bos_token_id": 2,
        "eos_token_id": 1,
        "final_logit_softcapping": final_cap,
        "head_dim": head_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": d,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "max_position_embeddings": positions,
        "model_type": "gemma3_text",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv,
        "pad_token_id": 0,
        "query_pre_attn_scalar": qpas,
        "rms_norm_eps": eps,
        "rope_local_base_freq": local_theta,
        "rope_scaling": None,
        "rope_theta": theta,
        "sliding_window": window,
        # no tie_word_embeddings: save_pretrained drops it when it is the
        # default (true), and the hub's Gemma3 text configs lack it
        "torch_dtype": TORCH_DTYPE[dtype],
        "use_cache": True,
        "vocab_size": vocab,
    }
    if layer_types is not None:
        c.update({"_sliding_window_pattern": 6, "layer_types": layer_types, "transformers_version": "4.55.0.dev0", "use_bidirectional_attention": False})
    else:
        c.update({"cache_implementation": "hybrid", "sliding_window_pattern": pattern, "transformers_version": "4.50.0.dev0"})
    return c


def generation_config(cfg):
    g = {"_from_model_config": True, "transformers_version": cfg.get("transformers_version", TRANSFORMERS_VERSION)}
    if cfg.get("bos_token_id") is not None:
        g["bos_token_id"] = cfg["bos_token_id"]
    if cfg.get("eos_token_id") is not None:
        g["eos_token_id"] = cfg["eos_token_id"]
    return g


# ---- weights ---------------------------------------------------------------------


class Init:
    def __init__(self, seed, std):
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.std = std

    def normal(self, *shape):
        return (self.rng.standard_normal(shape) * self.std).astype(np.float32)

    def gain(self, n):
        return (1.0 + self.rng.standard_normal(n) * self.std).astype(np.float32)


def gpt2_weights(cfg, init, prefix="transformer.", legacy_buffers=False):
    d, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    inner = cfg["n_inner"] or 4 * d
    w = {}
    w[f"{prefix}wte.weight"] = init.normal(V, d)
    w[f"{prefix}wpe.weight"] = init.normal(P, d)
    for i in range(cfg["n_layer"]):
        h = f"{prefix}h.{i}."
        w[h + "ln_1.weight"] = init.gain(d)
        w[h + "ln_1.bias"] = init.normal(d)
        w[h + "attn.c_attn.weight"] = init.normal(d, 3 * d)  # Conv1D: [in, out]
        w[h + "attn.c_attn.bias"] = init.normal(3 * d)
        w[h + "attn.c_proj.weight"] = init.normal(d, d)
        w[h + "attn.c_proj.bias"] = init.normal(d)
        w[h + "ln_2.weight"] = init.gain(d)
        w[h + "ln_2.bias"] = init.normal(d)
        w[h + "mlp.c_fc.weight"] = init.normal(d, inner)
        w[h + "mlp.c_fc.bias"] = init.normal(inner)
        w[h + "mlp.c_proj.weight"] = init.normal(inner, d)
        w[h + "mlp.c_proj.bias"] = init.normal(d)
        if legacy_buffers:
            # the causal-mask buffers older transformers saved with GPT-2
            w[h + "attn.bias"] = np.tril(np.ones((P, P), dtype=np.float32)).reshape(1, 1, P, P)
            w[h + "attn.masked_bias"] = np.array(-1e4, dtype=np.float32)
    w[f"{prefix}ln_f.weight"] = init.gain(d)
    w[f"{prefix}ln_f.bias"] = init.normal(d)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = init.normal(V, d)
    return w


def llama_weights(cfg, init, qkv_bias=False):
    d, V = cfg["hidden_size"], cfg["vocab_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or d // H
    I = cfg["intermediate_size"]
    w = {"model.embed_tokens.weight": init.normal(V, d)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = init.gain(d)
        w[p + "self_attn.q_proj.weight"] = init.normal(H * hd, d)  # nn.Linear: [out, in]
        w[p + "self_attn.k_proj.weight"] = init.normal(KV * hd, d)
        w[p + "self_attn.v_proj.weight"] = init.normal(KV * hd, d)
        if qkv_bias:
            w[p + "self_attn.q_proj.bias"] = init.normal(H * hd)
            w[p + "self_attn.k_proj.bias"] = init.normal(KV * hd)
            w[p + "self_attn.v_proj.bias"] = init.normal(KV * hd)
        w[p + "self_attn.o_proj.weight"] = init.normal(d, H * hd)
        w[p + "post_attention_layernorm.weight"] = init.gain(d)
        w[p + "mlp.gate_proj.weight"] = init.normal(I, d)
        w[p + "mlp.up_proj.weight"] = init.normal(I, d)
        w[p + "mlp.down_proj.weight"] = init.normal(d, I)
    w["model.norm.weight"] = init.gain(d)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = init.normal(V, d)
    return w


def qwen3_weights(cfg, init):
    """LLaMA's tensors plus the per-head q_norm / k_norm gains [head_dim]."""
    w = llama_weights(cfg, init)
    hd = cfg["head_dim"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}.self_attn."
        w[p + "q_norm.weight"] = init.gain(hd)
        w[p + "k_norm.weight"] = init.gain(hd)
    return w


def gemma3_weights(cfg, init):
    """Gemma3ForCausalLM's tensors (tied: no lm_head.weight). Its RMSNorm
    multiplies by 1 + w, so a norm stores N(0, std) for a gain 1 + N(0, std)."""
    d, V = cfg["hidden_size"], cfg["vocab_size"]
    H, KV, hd, I = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["intermediate_size"]
    w = {"model.embed_tokens.weight": init.normal(V, d)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = init.normal(d)
        w[p + "self_attn.q_proj.weight"] = init.normal(H * hd, d)
        w[p + "self_attn.k_proj.weight"] = init.normal(KV * hd, d)
        w[p + "self_attn.v_proj.weight"] = init.normal(KV * hd, d)
        w[p + "self_attn.o_proj.weight"] = init.normal(d, H * hd)
        w[p + "self_attn.q_norm.weight"] = init.normal(hd)
        w[p + "self_attn.k_norm.weight"] = init.normal(hd)
        w[p + "post_attention_layernorm.weight"] = init.normal(d)
        w[p + "pre_feedforward_layernorm.weight"] = init.normal(d)
        w[p + "mlp.gate_proj.weight"] = init.normal(I, d)
        w[p + "mlp.up_proj.weight"] = init.normal(I, d)
        w[p + "mlp.down_proj.weight"] = init.normal(d, I)
        w[p + "post_feedforward_layernorm.weight"] = init.normal(d)
    w["model.norm.weight"] = init.normal(d)
    return w


def layer_shards(w, n_layers):
    """Two shards split the way save_pretrained's size-based split falls for
    these models: the embedding and the first half of the layers, then the
    rest, the final norm and the head."""
    half = n_layers // 2
    first = [k for k in w if k == "model.embed_tokens.weight" or (k.startswith("model.layers.") and int(k.split(".")[2]) < half)]
    second = [k for k in w if k not in first]
    return [sorted(first), sorted(second)]


# ---- the cases -------------------------------------------------------------------

# name: (config builder, storage dtype, notes)
FAMILIES = {"gpt2": "gpt2", "llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma3_text": "gemma3"}
DEFAULT_FAMILIES = ["gpt2", "llama", "qwen2"]


def build_cases(seed, std):
    """Returns a list of (name, config, tensors, dtype, shards, notes, variant_of)."""
    out = []

    def add(name, cfg, w, dtype, shards=None, notes="", variant_of=None):
        out.append((name, cfg, w, dtype, shards, notes, variant_of))

    c = gpt2_config(320, 128, 32, 2, 4, eps=1e-5, dtype="F32")
    add("gpt2-tiny", c, gpt2_weights(c, Init(seed, std)), "F32", notes="GPT2LMHeadModel, keys with transformer., tied head")

    c = gpt2_config(300, 128, 48, 2, 4, eps=1e-5, dtype="F32")
    add("gpt2-noprefix", c, gpt2_weights(c, Init(seed + 1, std), prefix="", legacy_buffers=True), "F32",
        notes="keys without transformer. (as the hub's gpt2 / distilgpt2), legacy attn.bias [1,1,P,P] and attn.masked_bias [] buffers")

    c = gpt2_config(352, 128, 32, 2, 4, eps=1e-5, dtype="F16")
    add("gpt2-f16", c, gpt2_weights(c, Init(seed + 2, std)), "F16", notes="F16 storage")

    c = llama_config(384, 128, 64, 2, 4, 2, 128, eps=1e-5, theta=10000.0, tied=False, head_dim=True)
    add("llama-gqa", c, llama_weights(c, Init(seed + 3, std)), "F32",
        notes="LlamaForCausalLM, 4 query heads over 2 key/value heads, untied lm_head, head_dim in config")

    c = llama_config(320, 128, 32, 2, 4, 2, 64, eps=1e-5, theta=100000.0, tied=True, dtype="BF16")
    add("llama-tied", c, llama_weights(c, Init(seed + 4, std)), "BF16", notes="tie_word_embeddings true (no lm_head.weight), BF16 storage")

    c = qwen2_config(448, 128, 32, 2, 4, 2, 96, eps=1e-6, theta=1000000.0, tied=True, bos=None, eos=447)
    add("qwen2-tiny", c, llama_weights(c, Init(seed + 5, std), qkv_bias=True), "F32",
        notes="Qwen2ForCausalLM: q/k/v biases, tied head (as Qwen2.5-0.5B), bos_token_id null")

    c = llama_config(300, 128, 32, 2, 4, 2, 64, eps=1e-5, theta=10000.0, tied=False)
    w = llama_weights(c, Init(seed + 6, std))
    add("llama-sharded", c, w, "F32", shards=layer_shards(w, 2), notes="two shards + model.safetensors.index.json")

    # The families below are appended, never inserted: a case's adapter seed
    # is its index in this list, and the cases above are pinned by tests.
    c = qwen3_config(320, 128, 48, 2, 4, 2, 16, 96, eps=1e-6, theta=1000000.0, tied=True, eos=319)
    add("qwen3-tiny", c, qwen3_weights(c, Init(seed + 7, std)), "F32",
        notes="Qwen3ForCausalLM: q_norm/k_norm per head, head_dim 16 x 4 heads = 64 != hidden 48, GQA 4 over 2, tied head (as Qwen3-0.6B)")

    c = qwen3_config(336, 128, 64, 2, 4, 1, 8, 128, eps=1e-6, theta=10000.0, tied=False, dtype="BF16", bos=1, eos=2)
    add("qwen3-untied", c, qwen3_weights(c, Init(seed + 8, std)), "BF16",
        notes="Qwen3ForCausalLM: head_dim 8 x 4 heads = 32 != hidden 64, one key/value head, untied lm_head (as Qwen3-8B), BF16 storage")

    c = gemma3_config(320, 128, 48, 4, 4, 1, 16, 96, window=4, qpas=24,
                      layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"])
    add("gemma3-tiny", c, gemma3_weights(c, Init(seed + 9, std)), "F32",
        notes="Gemma3ForCausalLM (gemma3_text, 4.55 layout as gemma-3-270m): layer_types sliding, sliding, full, sliding; "
              "sliding_window 4 (a query sees itself and the 3 keys before it); rope_local_base_freq 1e4 on sliding layers, rope_theta 1e6 on full; "
              "head_dim 16 x 4 heads = 64 != hidden 48, one key/value head; query_pre_attn_scalar 24 != head_dim; softcaps null; tied")

    c = gemma3_config(336, 128, 32, 3, 2, 2, 24, 64, window=5, pattern=3, qpas=24, theta=500000.0, local_theta=5000.0,
                      final_cap=4.0, attn_cap=3.0, dtype="BF16")
    add("gemma3-softcap", c, gemma3_weights(c, Init(seed + 10, std)), "BF16",
        notes="Gemma3ForCausalLM (4.50 layout as gemma-3-1b): sliding_window_pattern 3, no layer_types (layers 0, 1 slide, 2 is full); "
              "sliding_window 5; final_logit_softcapping 4 and attn_logit_softcapping 3 (transformers ignores the latter for Gemma3); "
              "head_dim 24 x 2 heads = 48 != hidden 32; BF16 storage")

    # what llama.cpp's gemma3 graph computes as transformers does (it reads no
    # layer_types, scale or local base: see src/core/arch/gemma3.ts)
    c = gemma3_config(320, 128, 48, 2, 4, 1, 16, 96, window=4, qpas=16,
                      layer_types=["sliding_attention", "sliding_attention"])
    add("gemma3-gguf", c, gemma3_weights(c, Init(seed + 11, std)), "F32",
        notes="Gemma3ForCausalLM as llama.cpp's gemma3 runs it: 2 layers, both sliding (llama.cpp slides layer i when i % 6 < 5); "
              "sliding_window 4; rope_local_base_freq 1e4 (llama.cpp's fixed local base); query_pre_attn_scalar = head_dim 16; "
              "head_dim 16 x 4 heads = 64 != hidden 48, one key/value head; no soft-caps; tied")
    return out


def build_variants(cases):
    by = {name: (cfg, w, dtype, shards) for name, cfg, w, dtype, shards, _, _ in cases}
    out = []

    cfg, w, dtype, _ = by["llama-sharded"]
    out.append(("llama-sharded.single", cfg, w, dtype, None, "the weights of llama-sharded in one model.safetensors", "llama-sharded"))

    cfg, w, dtype, _ = by["llama-tied"]
    c = dict(cfg, torch_dtype="float32")
    out.append(("llama-tied.f32", c, w, "F32", None, "the weights of llama-tied before BF16 rounding, stored F32", "llama-tied"))
    c = dict(cfg, tie_word_embeddings=False)
    w2 = dict(w, **{"lm_head.weight": w["model.embed_tokens.weight"].copy()})
    out.append(("llama-tied.explicit-head", c, w2, dtype, None, "llama-tied with tie_word_embeddings false and lm_head.weight = embed_tokens", "llama-tied"))

    cfg, w, dtype, _ = by["llama-gqa"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // H
    rep = H // KV
    w2 = dict(w)
    for k in w:
        if k.endswith(("self_attn.k_proj.weight", "self_attn.v_proj.weight")):
            # head h uses key/value head h // rep (transformers' repeat_kv)
            w2[k] = np.repeat(w[k].reshape(KV, hd, -1), rep, axis=0).reshape(H * hd, -1)
    c = dict(cfg, num_key_value_heads=H)
    out.append(("llama-gqa.mha", c, w2, dtype, None, "llama-gqa with its key/value heads repeated into plain multi-head attention", "llama-gqa"))
    return out


# ---- PEFT LoRA adapters ----------------------------------------------------------

LORA_R = 4
LORA_ALPHA = 8
LORA_STD = 0.2
PEFT_VERSION = "0.12.0"


def lora_modules(cfg):
    """(module name as named_modules() lists it, in, out) of every module the
    adapter targets, in model order, with PEFT's suffix matching."""
    out = []
    if cfg["model_type"] == "gpt2":
        d = cfg["n_embd"]
        inner = cfg["n_inner"] or 4 * d
        for i in range(cfg["n_layer"]):
            p = f"transformer.h.{i}."  # the module path has transformer. even when the keys do not
            out += [(p + "attn.c_attn", d, 3 * d), (p + "attn.c_proj", d, d), (p + "mlp.c_proj", inner, d)]
        return out
    d, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or d // H
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}.self_attn."
        out += [(p + "q_proj", d, H * hd), (p + "k_proj", d, KV * hd), (p + "v_proj", d, KV * hd), (p + "o_proj", H * hd, d)]
    return out


def lora_config(name, cfg):
    """adapter_config.json as PEFT 0.12's LoraConfig.save_pretrained writes it."""
    gpt2 = cfg["model_type"] == "gpt2"
    return {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": name,
        "bias": "none",
        "fan_in_fan_out": gpt2,
        "inference_mode": True,
        "init_lora_weights": True,
        "layer_replication": None,
        "layers_pattern": None,
        "layers_to_transform": None,
        "loftq_config": {},
        "lora_alpha": LORA_ALPHA,
        "lora_dropout": 0.0,
        "megatron_config": None,
        "megatron_core": "megatron.core",
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": LORA_R,
        "rank_pattern": {},
        "revision": None,
        "target_modules": ["c_attn", "c_proj"] if gpt2 else ["q_proj", "k_proj", "v_proj", "o_proj"],
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": False,
    }


def lora_weights(cfg, init):
    w = {}
    for m, fin, fout in lora_modules(cfg):
        w[f"base_model.model.{m}.lora_A.weight"] = init.normal(LORA_R, fin)
        w[f"base_model.model.{m}.lora_B.weight"] = init.normal(fout, LORA_R)
    return w


def write_adapter(outdir, name, cfg, seed):
    """Writes OUTDIR/<name>.lora/; returns its manifest entry."""
    folder = os.path.join(outdir, name + ".lora")
    os.makedirs(folder, exist_ok=True)
    c = lora_config(name, cfg)
    w = lora_weights(cfg, Init(seed, LORA_STD))
    write_json(os.path.join(folder, "adapter_config.json"), c)
    with open(os.path.join(folder, "adapter_model.safetensors"), "wb") as f:
        f.write(safetensors_bytes(w, "F32", {"format": "pt"}))
    return {
        "folder": name + ".lora",
        "files": ["adapter_config.json", "adapter_model.safetensors"],
        "r": c["r"],
        "lora_alpha": c["lora_alpha"],
        "target_modules": c["target_modules"],
        "tensors": {k: list(np.shape(v)) for k, v in sorted(w.items())},
    }


def write_case(outdir, name, cfg, w, dtype, shards):
    folder = os.path.join(outdir, name)
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), cfg)
    write_json(os.path.join(folder, "generation_config.json"), generation_config(cfg))
    files = write_model(folder, w, dtype, shards)
    return ["config.json", "generation_config.json"] + files


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # the folders have no tokenizer: the page and `mcckd train --student` refuse them until one is written
        epilog="The folders written have NO tokenizer.json: the page and `mcckd train --student` refuse\n"
        "a folder without one. Write it per folder with\n"
        "    python3 scripts/hf/tiny_tokenizer.py OUTDIR/<case>                  (the other cases)\n"
        "    python3 scripts/hf/tiny_tokenizer.py OUTDIR/<case> --style llama3   (LLaMA cases)",
    )
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--std", type=float, default=0.2)
    ap.add_argument("--variants", action="store_true", help="also write the same-weights variants (name.variant)")
    ap.add_argument("--adapters", action="store_true", help="also write a PEFT LoRA adapter <case>.lora/ beside every case")
    ap.add_argument("--families", default=",".join(DEFAULT_FAMILIES),
                    help=f"comma-separated families to write, of {', '.join(FAMILIES.values())} (default {','.join(DEFAULT_FAMILIES)})")
    a = ap.parse_args(argv)
    fams = [f.strip() for f in a.families.split(",") if f.strip()]
    bad = [f for f in fams if f not in FAMILIES.values()]
    if bad or not fams:
        ap.error(f"--families: unknown family {bad[0] if bad else '(none given)'} (known: {', '.join(FAMILIES.values())})")
    os.makedirs(a.outdir, exist_ok=True)
    cases = build_cases(a.seed, a.std)
    names = [n for n, *_ in cases]  # adapter seeds count every case, written or not
    todo = cases + (build_variants(cases) if a.variants else [])
    todo = [t for t in todo if FAMILIES[t[1]["model_type"]] in fams]
    manifest = {"seed": a.seed, "std": a.std, "cases": {}}
    for name, cfg, w, dtype, shards, notes, variant_of in todo:
        files = write_case(a.outdir, name, cfg, w, dtype, shards)
        entry = {
            "architecture": cfg["architectures"][0],
            "dtype": dtype,
            "tied": cfg.get("tie_word_embeddings", True),
            "sharded": bool(shards),
            "files": files,
            "tensors": {k: list(np.shape(v)) for k, v in sorted(w.items())},
            "notes": notes,
        }
        if variant_of:
            entry["variant_of"] = variant_of
        if a.adapters and not variant_of:
            entry["adapter"] = write_adapter(a.outdir, name, cfg, a.seed + 1000 + names.index(name))
        manifest["cases"][name] = entry
    write_json(os.path.join(a.outdir, "manifest.json"), manifest)
    print(json.dumps({"outdir": a.outdir, "cases": list(manifest["cases"])}))


if __name__ == "__main__":
    sys.exit(main())
