#!/usr/bin/env python3
"""A PyTorch reference of the Hugging Face math for GPT2LMHeadModel,
LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM and Gemma3ForCausalLM
(gemma3_text), reading a model folder itself (no transformers, no
safetensors package: torch and numpy). support/hf_transformers_ref.py checks
it against transformers itself (test/unit/hf-transformers.test.ts).

    python3 support/hf_ref.py FOLDER (--ids 1,2,3 | --ids-file FILE) [--float32]
        [--adapter DIR [--grad] [--merge-to OUT [--merge-dtype F32|F16|BF16]]]
        [--grad-base NAME[,NAME...]] [--round-base f16|int8 --round-names NAME:LAYOUT[,...]]

FOLDER holds config.json and model.safetensors, or shards named by
model.safetensors.index.json; tensors F32, F16 or BF16. Prints ONE JSON line

    {"ids": [...], "logprobs": [null, lp1, ...]}

where logprobs[i] = log P(ids[i] | ids[:i]) (the contract of `mcckd score`).
--ids-file reads ids from a file: a JSON array, or integers separated by
commas / whitespace. The forward pass runs in float64 (--float32 for float32).

LoRA, with the semantics of PEFT's LoraLayer (peft_type LORA, eval mode):
  --adapter DIR   a PEFT adapter folder: adapter_config.json and
                  adapter_model.safetensors (F32 / F16 / BF16). Every module
                  whose full name (as transformers' named_modules() lists it,
                  e.g. model.layers.0.self_attn.q_proj, transformer.h.0.attn.c_attn)
                  equals a target_modules entry or ends with "." + entry (or
                  re.fullmatch-es target_modules when it is one string)
                  computes y = base(x) + ((x @ A^T) @ B^T) * scaling with
                  A = base_model.model.<module>.lora_A.weight [r, in],
                  B = base_model.model.<module>.lora_B.weight [out, r],
                  scaling = lora_alpha / r; dropout is ignored. The same for
                  GPT-2's Conv1D (weight [in, out], fan_in_fan_out true): A is
                  still [r, in] and B [out, r]. Only the Linear / Conv1D layers
                  of the blocks can be targeted. Refused: use_rslora, use_dora,
                  lora_bias, rank_pattern / alpha_pattern, bias other than
                  "none", modules_to_save, layers_to_transform, exclude_modules,
                  target_parameters, layer_replication, an init_lora_weights
                  that rewrites the base (pissa, olora, loftq, ...), another
                  peft_type / task_type, and any missing, unexpected or
                  mis-shaped adapter tensor (named).
  --grad          (needs --adapter) adds "loss" = mean over i >= 1 of
                  -logprobs[i] and "grads": {PEFT tensor name: flat row-major
                  list of d loss / d tensor} for every LoRA tensor, by autograd
                  in the forward's dtype (float64 unless --float32).
  --grad-base N,M adds "loss" and "base_grads": {name: flat d loss / d tensor}
                  for base tensors named as stored in the folder (GPT-2 with or
                  without "transformer."); with --adapter the LoRA is active.
                  A tied lm_head.weight is refused (ask for the embedding).
  --round-base f16|int8, --round-names NAME:LAYOUT[,NAME:LAYOUT...]
                  before the forward pass, round the named base matrices (as
                  stored, GPT-2 with or without "transformer.") as the
                  trainer's packed WebGPU base does (src/core/fused/pack.ts),
                  then compute as usual on the rounded float32 values:
                  f16 = IEEE half, nearest even (a finite value past 65504
                  is refused); int8 = symmetric per output channel, scale =
                  float32(max |row| / 127), q = round-half-even(w / scale)
                  clamped to [-127, 127] (an all-zero row: scale 0, q 0),
                  value float32(q * scale). LAYOUT says where the output
                  channels are: out-in (rows: nn.Linear, an embedding table)
                  or in-out (columns: GPT-2's Conv1D). The caller names the
                  matrices (what its packing packs): nothing is rounded
                  otherwise. A tied head is the embedding: round that.
  --merge-to OUT  (needs --adapter) writes OUT/ as a model folder with the
                  adapter merged, as PEFT's merge_and_unload:
                  W' = W + (B @ A) * scaling (nn.Linear, [out, in]) or
                  W' = W + ((B @ A) * scaling)^T (Conv1D, [in, out]), computed
                  in float64 and rounded once to --merge-dtype (default F32);
                  every other stored tensor is copied (same names), one
                  model.safetensors; the folder's other plain files
                  (config.json, generation_config.json, tokenizer files) are
                  copied byte for byte. OUT must be absent or empty. With ids,
                  the line also gets "merged_to"; without ids it is
                  {"merged_to": OUT, "merged": [stored names of changed tensors]}.

Anything unsupported (another architecture, rope_scaling or rope_parameters,
a sliding window outside Gemma3, attention/MLP biases on LLaMA, Qwen3 or
Gemma3, another activation, Gemma3's bidirectional attention) or inconsistent (a missing
file or tensor, an unexpected tensor, a shape that disagrees with the config,
a truncated file, ids out of range) is refused before the forward pass: exit
status 2 and one line on stderr, "hf_ref: refused: <what>", naming the field
or file. Usage errors also exit 2 (argparse).

`hf_ref.py --serve` reads one command line per stdin line (a JSON array of
the arguments above) and answers each with one JSON line, {"status",
"stdout", "stderr"}: what that run would have exited with and printed
(support/hf-ref.ts; torch is imported once for all of them).

The math follows transformers' modeling_gpt2.py / modeling_llama.py /
modeling_qwen2.py (eager attention, no dropout, no cache):
  GPT-2: h = wte[ids] + wpe[pos]; per block h += attn(ln_1(h)); h += mlp(ln_2(h));
         Conv1D y = x @ W + b with W [in, out]; c_attn splits into q, k, v;
         scores q k^T / sqrt(head_dim), causal, softmax; gelu_new
         0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); ln_f; logits = h wte^T
         (or lm_head when tie_word_embeddings is false).
  LLaMA: h = embed[ids]; per layer h += o(attn(rms(h))); h += down(silu(gate(r)) * up(r))
         with r = rms_post(h); RMSNorm x * rsqrt(mean(x^2) + eps) * w;
         RoPE inv_freq = 1 / theta^(arange(0, hd, 2) / hd), emb = cat(f, f),
         q' = q cos + rotate_half(q) sin, rotate_half(x) = cat(-x2, x1);
         key/value head j serves query heads j*rep .. j*rep+rep-1 (repeat_kv);
         norm; logits = h lm_head^T or h embed^T when tied.
  Qwen2: LLaMA with biases on q_proj, k_proj, v_proj.
  Qwen3: LLaMA (no biases) with head_dim from config.json (heads * head_dim
         may differ from hidden_size) and per-head RMSNorms q_norm / k_norm
         (gain [head_dim], x * rsqrt(mean(x^2) + eps) * w over each head's
         head_dim values) on q and k after the projection, before RoPE.
  Gemma3 (modeling_gemma3.py, transformers 5.18):
         h = embed[ids] * sqrt(hidden_size) (Gemma3TextScaledWordEmbedding; a
         float32 buffer, so float32(sqrt(d)) in float32, NOT the bfloat16-rounded
         value a bf16 model uses); RMSNorm x * rsqrt(mean(x^2) + eps) * (1 + w);
         per layer  h += post_attention_layernorm(attn(input_layernorm(h)))
                    h += post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))
         with mlp = down(gelu_tanh(gate(r)) * up(r)); in attention q_norm / k_norm
         (the (1 + w) RMSNorm over head_dim) before RoPE, scores q k^T *
         query_pre_attn_scalar^-0.5. Layer i is "sliding_attention" or
         "full_attention": config.json layer_types[i], or without layer_types
         sliding unless (i + 1) % sliding_window_pattern == 0 (pattern 6 when
         absent). A sliding layer lets query i see keys j with
         i - sliding_window < j <= i (the window counts the query itself;
         masking_utils.sliding_window_overlay) and uses RoPE base
         rope_local_base_freq (default 1e4); a full layer is causal with
         rope_theta (default 1e6). head_dim defaults to 256 (Gemma3TextConfig).
         final norm; logits = h embed^T (tied unless tie_word_embeddings is
         false), then tanh soft-capping c * tanh(logits / c) when
         final_logit_softcapping = c is set. attn_logit_softcapping is read
         but NOT applied: transformers' Gemma3Attention stores it and never
         passes it to the attention function (unlike Gemma2), and this file
         follows transformers.
"""
import argparse
import json
import math
import os
import re
import struct
import sys

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}
MAX_HEADER = 100 * 1024 * 1024
MAX_VOCAB = 1 << 20  # largest real vocabularies are ~256k
MAX_DIM = 1 << 16
MAX_LAYERS = 1024
MAX_POSITIONS = 1 << 20


class Refused(Exception):
    pass


def refuse(msg):
    raise Refused(msg)


# ---- config ------------------------------------------------------------------------


def read_json(path, what):
    if not os.path.isfile(path):
        refuse(f"{what}: {os.path.basename(path)} is missing in {os.path.dirname(path) or '.'}")
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        refuse(f"{os.path.basename(path)} is not valid JSON ({e})")


def int_field(cfg, key, lo, hi, default=None):
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not (lo <= v <= hi):
        refuse(f"config.json: {key} = {json.dumps(v)} must be an integer in [{lo}, {hi}]")
    return v


def float_field(cfg, key, lo, hi, default=None):
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not (lo < v <= hi):
        refuse(f"config.json: {key} = {json.dumps(v)} must be a number in ({lo}, {hi}]")
    return float(v)


def read_config(folder):
    cfg = read_json(os.path.join(folder, "config.json"), "config")
    if not isinstance(cfg, dict):
        refuse("config.json must be a JSON object")
    arch = cfg.get("architectures")
    mt = cfg.get("model_type")
    known = {"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
             "qwen3": "Qwen3ForCausalLM", "gemma3_text": "Gemma3ForCausalLM"}
    if mt not in known:
        refuse(f"config.json: model_type {json.dumps(mt)} is not supported (supported: {', '.join(known)})")
    if arch is not None and arch != [known[mt]]:
        refuse(f"config.json: architectures {json.dumps(arch)} is not supported for model_type {mt} (expected [\"{known[mt]}\"])")
    tied = cfg.get("tie_word_embeddings", True)
    if not isinstance(tied, bool):
        refuse(f"config.json: tie_word_embeddings = {json.dumps(tied)} must be true or false")
    if mt == "gpt2":
        c = {
            "kind": "gpt2",
            "vocab": int_field(cfg, "vocab_size", 1, MAX_VOCAB),
            "positions": int_field(cfg, "n_positions", 1, MAX_POSITIONS),
            "d": int_field(cfg, "n_embd", 1, MAX_DIM),
            "layers": int_field(cfg, "n_layer", 1, MAX_LAYERS),
            "heads": int_field(cfg, "n_head", 1, MAX_DIM),
            "eps": float_field(cfg, "layer_norm_epsilon", 0, 1, 1e-5),
            "tied": tied,
        }
        inner = cfg.get("n_inner")
        c["inner"] = 4 * c["d"] if inner is None else int_field(cfg, "n_inner", 1, 1 << 20)
        act = cfg.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            refuse(f"config.json: activation_function {json.dumps(act)} is not supported (gelu_new)")
        if cfg.get("scale_attn_weights", True) is not True:
            refuse("config.json: scale_attn_weights false is not supported")
        if cfg.get("scale_attn_by_inverse_layer_idx", False) is not False:
            refuse("config.json: scale_attn_by_inverse_layer_idx true is not supported")
        if c["d"] % c["heads"]:
            refuse(f"config.json: n_embd {c['d']} is not divisible by n_head {c['heads']}")
        c["hd"] = c["d"] // c["heads"]
        return c
    gemma = mt == "gemma3_text"
    c = {
        "kind": "gemma3" if gemma else mt,
        "vocab": int_field(cfg, "vocab_size", 1, MAX_VOCAB),
        "positions": int_field(cfg, "max_position_embeddings", 1, MAX_POSITIONS),
        "d": int_field(cfg, "hidden_size", 1, MAX_DIM),
        "layers": int_field(cfg, "num_hidden_layers", 1, MAX_LAYERS),
        "heads": int_field(cfg, "num_attention_heads", 1, MAX_DIM),
        "inner": int_field(cfg, "intermediate_size", 1, 1 << 20),
        "eps": float_field(cfg, "rms_norm_eps", 0, 1, 1e-6 if mt in ("qwen3", "gemma3_text") else None),
        # the config classes' defaults when the key is absent
        "theta": float_field(cfg, "rope_theta", 0, 1e12, 1000000.0 if gemma else 10000.0),
        "tied": tied,
    }
    c["kv"] = int_field(cfg, "num_key_value_heads", 1, c["heads"], c["heads"]) if cfg.get("num_key_value_heads") is not None else c["heads"]
    if c["heads"] % c["kv"]:
        refuse(f"config.json: num_attention_heads {c['heads']} is not a multiple of num_key_value_heads {c['kv']}")
    if cfg.get("head_dim") is not None:
        c["hd"] = int_field(cfg, "head_dim", 2, MAX_DIM)
    elif gemma:
        c["hd"] = 256  # Gemma3TextConfig's default, not hidden_size / heads
    else:
        if c["d"] % c["heads"]:
            refuse(f"config.json: hidden_size {c['d']} is not divisible by num_attention_heads {c['heads']}")
        c["hd"] = c["d"] // c["heads"]
    if c["hd"] % 2:
        refuse(f"config.json: head dimension {c['hd']} must be even for RoPE")
    if cfg.get("rope_scaling") is not None:
        refuse(f"config.json: rope_scaling {json.dumps(cfg['rope_scaling'])} is not supported (only null)")
    if cfg.get("rope_parameters") is not None:
        # transformers 5's own layout; the hub's checkpoints use rope_theta
        refuse("config.json: rope_parameters is not supported (rope_theta / rope_local_base_freq)")
    if gemma:
        act = cfg.get("hidden_activation", "gelu_pytorch_tanh")
        if act not in ("gelu_pytorch_tanh", "gelu_new"):  # both the tanh approximation
            refuse(f"config.json: hidden_activation {json.dumps(act)} is not supported (gelu_pytorch_tanh)")
    elif cfg.get("hidden_act", "silu") != "silu":
        refuse(f"config.json: hidden_act {json.dumps(cfg.get('hidden_act'))} is not supported (silu)")
    if cfg.get("partial_rotary_factor", 1.0) != 1.0:
        refuse("config.json: partial_rotary_factor is not supported")
    if mt in ("llama", "qwen3", "gemma3_text"):
        for key in ("attention_bias", "mlp_bias"):
            if cfg.get(key, False) is not False:
                refuse(f"config.json: {key} {json.dumps(cfg[key])} is not supported (false)")
    if mt in ("qwen2", "qwen3") and cfg.get("use_sliding_window", False) is not False:
        refuse(f"config.json: use_sliding_window {json.dumps(cfg['use_sliding_window'])} is not supported (false)")
    if mt == "qwen3" and cfg.get("layer_types") is not None and set(cfg["layer_types"]) != {"full_attention"}:
        refuse(f"config.json: layer_types {json.dumps(cfg['layer_types'])} is not supported (only full_attention)")
    if gemma:
        read_gemma3(cfg, c)
    return c


def read_gemma3(cfg, c):
    """Gemma3TextConfig's fields beyond LLaMA's, as transformers 5.18 reads them."""
    if cfg.get("use_bidirectional_attention", False) not in (False, None):
        refuse("config.json: use_bidirectional_attention true is not supported (false)")
    if c["d"] % c["heads"]:
        # Gemma3TextConfig.validate_architecture refuses it too
        refuse(f"config.json: hidden_size {c['d']} is not divisible by num_attention_heads {c['heads']}")
    c["qpas"] = float_field(cfg, "query_pre_attn_scalar", 0, 1e12, 256)
    c["local_theta"] = float_field(cfg, "rope_local_base_freq", 0, 1e12, 10000.0)
    for key, name in (("final_logit_softcapping", "final_cap"), ("attn_logit_softcapping", "attn_cap")):
        c[name] = None if cfg.get(key) is None else float_field(cfg, key, 0, 1e12)
    types = cfg.get("layer_types")
    if types is not None:
        if not (isinstance(types, list) and len(types) == c["layers"]):
            refuse(f"config.json: layer_types must list one type per layer ({c['layers']} = num_hidden_layers)")
        for t in types:
            if t not in ("sliding_attention", "full_attention"):
                refuse(f"config.json: layer_types entry {json.dumps(t)} is not supported (sliding_attention, full_attention)")
    else:
        # Gemma3TextConfig.__post_init__: the older integer pattern, 6 when
        # absent ("_sliding_window_pattern", which 4.55 also writes, is not read)
        n = int_field(cfg, "sliding_window_pattern", 1, MAX_LAYERS, 6)
        types = ["sliding_attention" if (i + 1) % n else "full_attention" for i in range(c["layers"])]
    c["sliding"] = [t == "sliding_attention" for t in types]
    c["window"] = None
    if any(c["sliding"]):
        if cfg.get("sliding_window") is None:
            refuse("config.json: sliding_window is null but layer_types has sliding_attention layers")
        c["window"] = int_field(cfg, "sliding_window", 1, MAX_POSITIONS)


# ---- safetensors -------------------------------------------------------------------


def read_safetensors(path, np, want=None):
    """name -> float32 numpy array (F32 / F16 / BF16), validated strictly."""
    fname = os.path.basename(path)
    if not os.path.isfile(path):
        refuse(f"{fname} is missing in {os.path.dirname(path)}")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        refuse(f"{fname}: {len(data)} bytes, too short for a safetensors header (truncated?)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        refuse(f"{fname}: header length {n} goes beyond the file's {len(data)} bytes (truncated?)")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        refuse(f"{fname}: header is not valid JSON ({e})")
    if not isinstance(header, dict):
        refuse(f"{fname}: header is not a JSON object")
    header.pop("__metadata__", None)
    start = 8 + n
    size = len(data) - start
    spans = []
    out = {}
    for name, e in header.items():
        if not isinstance(e, dict):
            refuse(f"{fname}: tensor {name}: entry is not an object")
        dt, shape, off = e.get("dtype"), e.get("shape"), e.get("data_offsets")
        if dt not in DTYPE_SIZE:
            refuse(f"{fname}: tensor {name}: dtype {json.dumps(dt)} is not supported (F32, F16, BF16)")
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            refuse(f"{fname}: tensor {name}: bad shape {json.dumps(shape)}")
        if not (isinstance(off, list) and len(off) == 2 and all(isinstance(o, int) and not isinstance(o, bool) for o in off) and 0 <= off[0] <= off[1]):
            refuse(f"{fname}: tensor {name}: bad data_offsets {json.dumps(off)}")
        count = 1
        for s in shape:
            count *= s
        if count * DTYPE_SIZE[dt] != off[1] - off[0]:
            refuse(f"{fname}: tensor {name}: {off[1] - off[0]} bytes, but shape {shape} of {dt} needs {count * DTYPE_SIZE[dt]}")
        if off[1] > size:
            refuse(f"{fname}: tensor {name}: data_offsets {off} go beyond the data section ({size} bytes): file truncated?")
        spans.append((off[0], off[1], name))
        if want is not None and name not in want:
            continue
        raw = data[start + off[0] : start + off[1]]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        else:
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        out[name] = a.reshape(shape)
    pos = 0
    for b, e, name in sorted(spans):
        if b != pos and not (b == e):
            refuse(f"{fname}: tensor {name}: bytes [{pos}, {b}) overlap or belong to no tensor")
        pos = max(pos, e)
    if pos != size:
        refuse(f"{fname}: {size - pos} bytes after the last tensor belong to no tensor")
    return out


def read_weights(folder, np):
    single = os.path.join(folder, "model.safetensors")
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.isfile(single):
        return read_safetensors(single, np)
    if not os.path.isfile(index):
        refuse(f"model.safetensors (or model.safetensors.index.json) is missing in {folder}")
    idx = read_json(index, "shard index")
    wm = idx.get("weight_map") if isinstance(idx, dict) else None
    if not isinstance(wm, dict) or not wm:
        refuse("model.safetensors.index.json: weight_map is missing or empty")
    files = {}
    for name, fn in wm.items():
        if not isinstance(fn, str) or "/" in fn or "\\" in fn or fn.startswith("."):
            refuse(f"model.safetensors.index.json: weight_map[{json.dumps(name)}] = {json.dumps(fn)} is not a file name")
        files.setdefault(fn, set()).add(name)
    for fn in sorted(files):
        if not os.path.isfile(os.path.join(folder, fn)):
            refuse(f"model.safetensors.index.json names {fn}, which is missing in {folder}")
    out = {}
    for fn in sorted(files):
        part = read_safetensors(os.path.join(folder, fn), np)
        for name in files[fn]:
            if name not in part:
                refuse(f"model.safetensors.index.json: tensor {name} is not in {fn}")
        for name in part:
            if name not in files[fn]:
                refuse(f"{fn}: tensor {name} is not in model.safetensors.index.json's weight_map for this file")
            if name in out:
                refuse(f"{fn}: tensor {name} appears in more than one shard")
        out.update(part)
    return out


# ---- parameter tables --------------------------------------------------------------


def expected_shapes(c):
    d, V = c["d"], c["vocab"]
    s = {}
    if c["kind"] == "gpt2":
        s["wte.weight"] = [V, d]
        s["wpe.weight"] = [c["positions"], d]
        for i in range(c["layers"]):
            h = f"h.{i}."
            s[h + "ln_1.weight"] = [d]
            s[h + "ln_1.bias"] = [d]
            s[h + "attn.c_attn.weight"] = [d, 3 * d]
            s[h + "attn.c_attn.bias"] = [3 * d]
            s[h + "attn.c_proj.weight"] = [d, d]
            s[h + "attn.c_proj.bias"] = [d]
            s[h + "ln_2.weight"] = [d]
            s[h + "ln_2.bias"] = [d]
            s[h + "mlp.c_fc.weight"] = [d, c["inner"]]
            s[h + "mlp.c_fc.bias"] = [c["inner"]]
            s[h + "mlp.c_proj.weight"] = [c["inner"], d]
            s[h + "mlp.c_proj.bias"] = [d]
        s["ln_f.weight"] = [d]
        s["ln_f.bias"] = [d]
    else:
        H, KV, hd, I = c["heads"], c["kv"], c["hd"], c["inner"]
        s["model.embed_tokens.weight"] = [V, d]
        for i in range(c["layers"]):
            p = f"model.layers.{i}."
            s[p + "input_layernorm.weight"] = [d]
            s[p + "self_attn.q_proj.weight"] = [H * hd, d]
            s[p + "self_attn.k_proj.weight"] = [KV * hd, d]
            s[p + "self_attn.v_proj.weight"] = [KV * hd, d]
            if c["kind"] == "qwen2":
                s[p + "self_attn.q_proj.bias"] = [H * hd]
                s[p + "self_attn.k_proj.bias"] = [KV * hd]
                s[p + "self_attn.v_proj.bias"] = [KV * hd]
            s[p + "self_attn.o_proj.weight"] = [d, H * hd]
            if c["kind"] in ("qwen3", "gemma3"):
                s[p + "self_attn.q_norm.weight"] = [hd]
                s[p + "self_attn.k_norm.weight"] = [hd]
            s[p + "post_attention_layernorm.weight"] = [d]
            if c["kind"] == "gemma3":
                s[p + "pre_feedforward_layernorm.weight"] = [d]
                s[p + "post_feedforward_layernorm.weight"] = [d]
            s[p + "mlp.gate_proj.weight"] = [I, d]
            s[p + "mlp.up_proj.weight"] = [I, d]
            s[p + "mlp.down_proj.weight"] = [d, I]
        s["model.norm.weight"] = [d]
    if not c["tied"]:
        s["lm_head.weight"] = [V, d]
    return s


FIELD_HINT = {
    "gpt2": "vocab_size, n_positions, n_embd, n_inner",
    "llama": "vocab_size, hidden_size, num_attention_heads, num_key_value_heads, head_dim, intermediate_size",
}


def resolve(c, raw):
    """Maps the stored names onto the expected table: GPT-2 keys with or
    without 'transformer.', legacy buffers skipped; a stored lm_head.weight
    is ignored when tied (transformers ties it to the embedding on load)."""
    exp = expected_shapes(c)
    got = {}
    for name, a in raw.items():
        key = name
        if c["kind"] == "gpt2":
            if key.startswith("transformer."):
                key = key[len("transformer.") :]
            if re.fullmatch(r"h\.\d+\.attn\.(bias|masked_bias)", key):
                continue  # the causal-mask buffers of older checkpoints
        elif re.fullmatch(r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq", key):
            continue  # a buffer some older LLaMA checkpoints hold
        if key == "lm_head.weight" and c["tied"]:
            continue
        if key not in exp:
            refuse(f"unexpected tensor {name} (not part of {c['kind']} with {c['layers']} layers)")
        if key in got:
            refuse(f"tensor {key} is stored twice (with and without the transformer. prefix)")
        got[key] = a
    for key, shape in exp.items():
        if key not in got:
            refuse(f"missing tensor {key}")
        if list(got[key].shape) != shape:
            hint = FIELD_HINT["gpt2" if c["kind"] == "gpt2" else "llama"]
            refuse(f"tensor {key} has shape {list(got[key].shape)}, config.json ({hint}) needs {shape}")
    return got


# ---- PEFT LoRA adapters ------------------------------------------------------------


def module_table(c):
    """Every module of the transformers model as named_modules() lists it
    (transformers 4.44), name -> (class, weight key prefix, in, out). Only the
    Linear / Conv1D layers of the blocks carry a key (what hf_ref can adapt);
    lm_head and the embeddings are listed without one."""
    t = {"": ({"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
               "qwen3": "Qwen3ForCausalLM", "gemma3": "Gemma3ForCausalLM"}[c["kind"]], None, 0, 0)}
    d, I = c["d"], c["inner"]
    if c["kind"] == "gpt2":
        t["transformer"] = ("GPT2Model", None, 0, 0)
        t["transformer.wte"] = ("Embedding", None, 0, 0)
        t["transformer.wpe"] = ("Embedding", None, 0, 0)
        t["transformer.drop"] = ("Dropout", None, 0, 0)
        t["transformer.h"] = ("ModuleList", None, 0, 0)
        for i in range(c["layers"]):
            p = f"transformer.h.{i}"
            k = f"h.{i}"  # resolve() drops "transformer."
            t[p] = ("GPT2Block", None, 0, 0)
            t[p + ".ln_1"] = ("LayerNorm", None, 0, 0)
            t[p + ".attn"] = ("GPT2Attention", None, 0, 0)
            t[p + ".attn.c_attn"] = ("Conv1D", k + ".attn.c_attn", d, 3 * d)
            t[p + ".attn.c_proj"] = ("Conv1D", k + ".attn.c_proj", d, d)
            t[p + ".attn.attn_dropout"] = ("Dropout", None, 0, 0)
            t[p + ".attn.resid_dropout"] = ("Dropout", None, 0, 0)
            t[p + ".ln_2"] = ("LayerNorm", None, 0, 0)
            t[p + ".mlp"] = ("GPT2MLP", None, 0, 0)
            t[p + ".mlp.c_fc"] = ("Conv1D", k + ".mlp.c_fc", d, I)
            t[p + ".mlp.c_proj"] = ("Conv1D", k + ".mlp.c_proj", I, d)
            t[p + ".mlp.act"] = ("NewGELUActivation", None, 0, 0)
            t[p + ".mlp.dropout"] = ("Dropout", None, 0, 0)
        t["transformer.ln_f"] = ("LayerNorm", None, 0, 0)
    else:
        # Qwen3 and Gemma3 as transformers 5.18 lists them (no per-layer rotary_emb)
        pre = {"llama": "Llama", "qwen2": "Qwen2", "qwen3": "Qwen3", "gemma3": "Gemma3"}[c["kind"]]
        new = c["kind"] in ("qwen3", "gemma3")
        H, KV, hd = c["heads"], c["kv"], c["hd"]
        t["model"] = ("Gemma3TextModel" if c["kind"] == "gemma3" else pre + "Model", None, 0, 0)
        t["model.embed_tokens"] = ("Gemma3TextScaledWordEmbedding" if c["kind"] == "gemma3" else "Embedding", None, 0, 0)
        t["model.layers"] = ("ModuleList", None, 0, 0)
        for i in range(c["layers"]):
            p = f"model.layers.{i}"
            t[p] = (pre + "DecoderLayer", None, 0, 0)
            t[p + ".self_attn"] = (pre + "Attention", None, 0, 0)
            t[p + ".self_attn.q_proj"] = ("Linear", p + ".self_attn.q_proj", d, H * hd)
            t[p + ".self_attn.k_proj"] = ("Linear", p + ".self_attn.k_proj", d, KV * hd)
            t[p + ".self_attn.v_proj"] = ("Linear", p + ".self_attn.v_proj", d, KV * hd)
            t[p + ".self_attn.o_proj"] = ("Linear", p + ".self_attn.o_proj", H * hd, d)
            if new:
                t[p + ".self_attn.q_norm"] = (pre + "RMSNorm", None, 0, 0)
                t[p + ".self_attn.k_norm"] = (pre + "RMSNorm", None, 0, 0)
            else:
                t[p + ".self_attn.rotary_emb"] = (pre + "RotaryEmbedding", None, 0, 0)
            t[p + ".mlp"] = (pre + "MLP", None, 0, 0)
            t[p + ".mlp.gate_proj"] = ("Linear", p + ".mlp.gate_proj", d, I)
            t[p + ".mlp.up_proj"] = ("Linear", p + ".mlp.up_proj", d, I)
            t[p + ".mlp.down_proj"] = ("Linear", p + ".mlp.down_proj", I, d)
            t[p + ".mlp.act_fn"] = ({"qwen3": "SiLUActivation", "gemma3": "GELUTanh"}.get(c["kind"], "SiLU"), None, 0, 0)
            t[p + ".input_layernorm"] = (pre + "RMSNorm", None, 0, 0)
            t[p + ".post_attention_layernorm"] = (pre + "RMSNorm", None, 0, 0)
            if c["kind"] == "gemma3":
                t[p + ".pre_feedforward_layernorm"] = (pre + "RMSNorm", None, 0, 0)
                t[p + ".post_feedforward_layernorm"] = (pre + "RMSNorm", None, 0, 0)
        t["model.norm"] = (pre + "RMSNorm", None, 0, 0)
        t["model.rotary_emb"] = (pre + "RotaryEmbedding", None, 0, 0)
    t["lm_head"] = ("Linear", None, d, c["vocab"])
    return t


def peft_targets(targets, name):
    """PEFT's check_target_module_exists: a string is a regex that must match
    the whole name; a list matches a name equal to an entry or ending in
    "." + entry (so c_proj matches attn.c_proj and mlp.c_proj)."""
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return name in targets or any(name.endswith("." + t) for t in targets)


PEFT_PREFIX = "base_model.model."


def read_adapter(folder, c, np):
    """Validates a PEFT LoRA adapter folder against the model: returns
    {"r", "alpha", "scaling", "modules": {weight key: (module, A name, B name, kind)},
    "tensors": {PEFT name: float32 array}}. Refuses everything PEFT would
    compute differently from base(x) + ((x A^T) B^T) * lora_alpha / r."""
    what = "adapter_config.json"
    if not os.path.isdir(folder):
        refuse(f"--adapter {folder} is not a folder")
    cfg = read_json(os.path.join(folder, "adapter_config.json"), "adapter config")
    if not isinstance(cfg, dict):
        refuse(f"{what} must be a JSON object")
    if cfg.get("peft_type") != "LORA":
        refuse(f"{what}: peft_type {json.dumps(cfg.get('peft_type'))} is not supported (LORA)")
    if cfg.get("task_type") not in (None, "CAUSAL_LM"):
        refuse(f"{what}: task_type {json.dumps(cfg.get('task_type'))} is not supported (CAUSAL_LM)")
    r = cfg.get("r")
    if isinstance(r, bool) or not isinstance(r, int) or not (1 <= r <= MAX_DIM):
        refuse(f"{what}: r = {json.dumps(r)} must be an integer in [1, {MAX_DIM}]")
    alpha = cfg.get("lora_alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        refuse(f"{what}: lora_alpha = {json.dumps(alpha)} must be a finite number")
    for key in ("use_rslora", "use_dora", "lora_bias"):
        if cfg.get(key, False) not in (False, None):
            refuse(f"{what}: {key} {json.dumps(cfg[key])} is not supported (false)")
    for key in ("rank_pattern", "alpha_pattern", "modules_to_save", "exclude_modules", "target_parameters", "layers_to_transform", "layer_replication"):
        if cfg.get(key) not in (None, {}, []):
            refuse(f"{what}: {key} {json.dumps(cfg[key])} is not supported (empty or null)")
    if cfg.get("bias", "none") != "none":
        refuse(f"{what}: bias {json.dumps(cfg.get('bias'))} is not supported (\"none\")")
    init = cfg.get("init_lora_weights", True)
    if not (isinstance(init, bool) or init == "gaussian"):
        refuse(f"{what}: init_lora_weights {json.dumps(init)} is not supported (it rewrites the base weights; true, false or \"gaussian\")")
    fifo = cfg.get("fan_in_fan_out", False)
    if not isinstance(fifo, bool):
        refuse(f"{what}: fan_in_fan_out = {json.dumps(fifo)} must be true or false")
    # fan_in_fan_out does not change the math: PEFT forces it true for Conv1D and
    # false for nn.Linear (with a warning), and A, B are nn.Linear either way.
    targets = cfg.get("target_modules")
    if isinstance(targets, str):
        if targets == "all-linear":
            refuse(f"{what}: target_modules \"all-linear\" is not supported (list the modules)")
        try:
            re.compile(targets)
        except re.error as e:
            refuse(f"{what}: target_modules {json.dumps(targets)} is not a valid regular expression ({e})")
    elif not (isinstance(targets, list) and targets and all(isinstance(t, str) and t for t in targets)):
        refuse(f"{what}: target_modules = {json.dumps(targets)} must be a non-empty list of module names (or one regular expression)")
    table = module_table(c)
    matched = [name for name in table if peft_targets(targets, name)]
    if not matched:
        refuse(f"{what}: target_modules {json.dumps(targets)} match no module of {c['kind']} with {c['layers']} layers")
    for name in matched:
        cls, key = table[name][0], table[name][1]
        if key is None:
            refuse(f"{what}: target_modules {json.dumps(targets)} match {name or '(the model)'} ({cls}), which hf_ref cannot adapt (only the Linear / Conv1D layers of the blocks)")
    expected = {}
    modules = {}
    for name in matched:
        cls, key, fin, fout = table[name]
        a, b = f"{PEFT_PREFIX}{name}.lora_A.weight", f"{PEFT_PREFIX}{name}.lora_B.weight"
        expected[a] = [r, fin]
        expected[b] = [fout, r]
        modules[key] = (name, a, b, cls)
    fname = "adapter_model.safetensors"
    if not os.path.isfile(os.path.join(folder, fname)) and os.path.isfile(os.path.join(folder, "adapter_model.bin")):
        refuse(f"{fname} is missing in {folder} (adapter_model.bin, a pickle, is not supported)")
    raw = read_safetensors(os.path.join(folder, fname), np)
    for n in raw:
        if n in expected:
            continue
        m = re.fullmatch(re.escape(PEFT_PREFIX) + r"(.*)\.lora_[AB]\.weight", n)
        if m and m.group(1) in table:
            refuse(f"{fname}: unexpected tensor {n}: module {m.group(1)} is not targeted by target_modules {json.dumps(targets)}")
        if m:
            refuse(f"{fname}: unexpected tensor {n}: {c['kind']} with {c['layers']} layers has no module {m.group(1)}")
        refuse(f"{fname}: unexpected tensor {n} (not a {PEFT_PREFIX}<module>.lora_A / lora_B .weight)")
    for n, shape in expected.items():
        if n not in raw:
            refuse(f"{fname}: missing tensor {n} (targeted by target_modules {json.dumps(targets)})")
        if list(raw[n].shape) != shape:
            refuse(f"{fname}: tensor {n} has shape {list(raw[n].shape)}, needs {shape} (lora_A [r, in], lora_B [out, r], r = {r})")
    return {"r": r, "alpha": alpha, "scaling": alpha / r, "modules": modules, "tensors": raw}


def stored_name(c, raw, key):
    """The name a resolved key has in the folder's files."""
    if c["kind"] == "gpt2" and "transformer." + key in raw:
        return "transformer." + key
    return key


def round_bf16(x, np):
    """float64 -> bfloat16 bits (uint16), rounded once to nearest even."""
    x = np.asarray(x, dtype=np.float64)
    m, e = np.frexp(x)  # x = m 2^e, 0.5 <= |m| < 1
    y = np.ldexp(np.round(np.ldexp(m, 8)), e - 8)  # 8 significant bits; np.round is half-to-even
    tiny = np.abs(x) < 2.0 ** -126  # subnormal: a fixed grid of 2^-133
    y = np.where(tiny, np.round(np.ldexp(x, 133)) * 2.0 ** -133, y)
    return (y.astype(np.float32).view(np.uint32) >> 16).astype("<u2")


def write_safetensors(path, tensors, dtype, np):
    """name -> float64 array, written in one dtype as the Rust library lays it
    out (header {"__metadata__": {"format": "pt"}, tensors by name}, padded to 8)."""
    header = {"__metadata__": {"format": "pt"}}
    chunks, off = [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype=np.float64)
        if dtype == "F32":
            b = a.astype("<f4").tobytes()
        elif dtype == "F16":
            b = a.astype("<f2").tobytes()
        else:
            b = round_bf16(a, np).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + b"".join(chunks))


def check_merge_to(out, folder, adapter_dir):
    real = os.path.realpath(out)
    if real in (os.path.realpath(folder), os.path.realpath(adapter_dir)):
        refuse(f"--merge-to {out} is the model or the adapter folder")
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        refuse(f"--merge-to {out} exists and is not an empty folder")


def merge_to(out, folder, c, raw, adapter, dtype, np):
    """Writes OUT/ with the adapter merged (PEFT merge_and_unload); returns the
    stored names of the changed tensors."""
    merged = {n: a.astype(np.float64) for n, a in raw.items()}
    changed = []
    s = adapter["scaling"]
    for key, (_, a, b, cls) in adapter["modules"].items():
        delta = (adapter["tensors"][b].astype(np.float64) @ adapter["tensors"][a].astype(np.float64)) * s  # [out, in]
        n = stored_name(c, raw, key + ".weight")
        merged[n] = merged[n] + (delta.T if cls == "Conv1D" else delta)
        changed.append(n)
    os.makedirs(out, exist_ok=True)
    skip = {"model.safetensors", "model.safetensors.index.json"}
    for fn in sorted(os.listdir(folder)):
        src = os.path.join(folder, fn)
        if fn in skip or fn.endswith(".safetensors") or not os.path.isfile(src) or os.path.islink(src):
            continue
        with open(src, "rb") as f, open(os.path.join(out, fn), "wb") as g:
            g.write(f.read())
    write_safetensors(os.path.join(out, "model.safetensors"), merged, dtype, np)
    return sorted(changed)


def base_key(c, exp, name, flag, verb):
    """A base tensor's name as a flag gives it (GPT-2 with or without
    "transformer.") -> its key in `exp` (expected_shapes), refusing a tied
    lm_head (the flag must name the embedding: `verb` it) and an unknown name."""
    key = name[len("transformer.") :] if c["kind"] == "gpt2" and name.startswith("transformer.") else name
    if key == "lm_head.weight" and c["tied"]:
        emb = "transformer.wte.weight" if c["kind"] == "gpt2" else "model.embed_tokens.weight"
        refuse(f"{flag}: lm_head.weight is tied to the embedding (tie_word_embeddings true); {verb} {emb}")
    if key not in exp:
        refuse(f"{flag}: {name} is not a parameter of {c['kind']} with {c['layers']} layers")
    return key


def base_grad_keys(c, names):
    """--grad-base names (as stored, GPT-2 with or without "transformer.") -> resolved keys."""
    exp = expected_shapes(c)
    return [(name, base_key(c, exp, name, "--grad-base", "ask for")) for name in names]


# ---- the packed base's rounding (src/core/fused/pack.ts) ---------------------------


def round_f16(a, np):
    """float32 [..] -> the float32 values of their IEEE halves (numpy rounds
    to nearest even, subnormals included, as pack.ts's floatToHalfBits)."""
    with np.errstate(over="ignore"):
        h = a.astype(np.float16)
    bad = np.isinf(h) & np.isfinite(a)
    if bad.any():
        refuse(f"value {float(a[bad][0])} is beyond half precision's range (65504)")
    return h.astype(np.float32)


def round_int8(a, layout, np):
    """float32 matrix -> its int8 values dequantized, as pack.ts's packInt8
    then unpackMatrix: per output channel (rows of the [out, in] view)
    scale = float32(max |row| / 127), q = round-half-even(w / scale) in
    [-127, 127] (w / scale in float64, as JavaScript divides), value =
    float32(q * scale); a row whose scale is 0 is all zeros."""
    w = (a if layout == "out-in" else a.T).astype(np.float64)  # [out, in]
    if not np.isfinite(w).all():
        refuse("a non-finite value cannot be quantized")
    m = np.abs(w).max(axis=1, initial=0.0)  # float32 values, exact in float64
    s = (m / 127.0).astype(np.float32).astype(np.float64)[:, None]  # Math.fround(m / 127)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(np.rint(w / s), -127, 127)  # np.rint: half to even
    q = np.where(s == 0, 0.0, q) + 0.0  # + 0.0: a -0 becomes 0, as an integer code holds it
    v = (q * s).astype(np.float32)  # |q| < 2^7, s 24 bits: the product is exact, then one rounding
    return v if layout == "out-in" else v.T


def round_keys(c, spec):
    """--round-names NAME:LAYOUT,... -> [(stored name, resolved key, layout)]."""
    exp = expected_shapes(c)
    out, seen = [], set()
    for item in spec:
        name, sep, layout = item.rpartition(":")
        if not sep or layout not in ("out-in", "in-out"):
            refuse(f"--round-names: {item} is not NAME:out-in or NAME:in-out")
        key = base_key(c, exp, name, "--round-names", "round")
        if len(exp[key]) != 2:
            refuse(f"--round-names: {name} has shape {exp[key]}, not a matrix")
        if key in seen:
            refuse(f"--round-names: {name} is named twice")
        seen.add(key)
        out.append((name, key, layout))
    return out


def round_base(W0, keys, dtype, np):
    """W0 with the matrices of round_keys rounded to the packed dtype (a new dict)."""
    W = dict(W0)
    for name, key, layout in keys:
        a = W0[key].astype(np.float32)
        W[key] = round_f16(a, np) if dtype == "f16" else round_int8(a, layout, np)
    return W


# ---- forward -----------------------------------------------------------------------


def forward_gpt2(c, W, ids, torch, lora=None):
    """ids [T] or rows [R, T] -> logits [..., T, V]. lora: weight key prefix ->
    (A [r, in], B [out, r], scaling), added to the layer's output as PEFT's
    LoraLayer does."""
    lora = lora or {}
    ids = torch.as_tensor(ids)
    lead, T = tuple(ids.shape[:-1]), ids.shape[-1]
    d, H, hd = c["d"], c["heads"], c["hd"]
    x = W["wte.weight"][ids] + W["wpe.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def ln(x, pre):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + c["eps"]) * W[pre + ".weight"] + W[pre + ".bias"]

    def conv1d(x, pre):
        y = x @ W[pre + ".weight"] + W[pre + ".bias"]
        if pre in lora:
            A, B, s = lora[pre]
            y = y + ((x @ A.T) @ B.T) * s
        return y

    for i in range(c["layers"]):
        p = f"h.{i}."
        a = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn")  # [..., T, 3d]
        q, k, v = a.split(d, dim=-1)
        q, k, v = (t.reshape(*lead, T, H, hd).transpose(-3, -2) for t in (q, k, v))  # [..., H, T, hd]
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~mask, float("-inf"))
        y = torch.softmax(s, dim=-1) @ v  # [..., H, T, hd]
        x = x + conv1d(y.transpose(-3, -2).reshape(*lead, T, d), p + "attn.c_proj")
        m = conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc")
        m = 0.5 * m * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (m + 0.044715 * torch.pow(m, 3.0))))
        x = x + conv1d(m, p + "mlp.c_proj")
    x = ln(x, "ln_f")
    head = W["wte.weight"] if c["tied"] else W["lm_head.weight"]
    return x @ head.T


def forward_llama(c, W, ids, torch, lora=None):
    """LLaMA, Qwen2, Qwen3 and Gemma3 (one decoder with their differences
    switched by c["kind"]); ids and lora: as in forward_gpt2."""
    lora = lora or {}
    ids = torch.as_tensor(ids)
    lead, T = tuple(ids.shape[:-1]), ids.shape[-1]
    H, KV, hd = c["heads"], c["kv"], c["hd"]
    rep = H // KV
    gemma = c["kind"] == "gemma3"
    dt = W["model.embed_tokens.weight"].dtype
    x = W["model.embed_tokens.weight"][ids]
    if gemma:
        # Gemma3TextScaledWordEmbedding; sqrt(d) as a Python float is rounded
        # to float32 by the multiplication in float32, as transformers' buffer is
        x = x * math.sqrt(c["d"])
    pos = torch.arange(T)
    causal = pos[None, :] <= pos[:, None]  # [query, key]

    def rope(theta):
        inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]  # [T, hd/2]
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos().to(dt), emb.sin().to(dt)  # [T, hd]

    # per layer: (cos, sin, mask); Gemma3's sliding layers have their own RoPE
    # base and a window counting the query itself: key j is seen from query i
    # when i - window < j <= i
    full = (*rope(c["theta"]), causal)
    if gemma and c["window"] is not None:
        local = (*rope(c["local_theta"]), causal & (pos[None, :] > pos[:, None] - c["window"]))
        per_layer = [local if sl else full for sl in c["sliding"]]
    else:
        per_layer = [full] * c["layers"]
    scale = c["qpas"] ** -0.5 if gemma else 1.0 / math.sqrt(hd)

    def rms(x, w):
        n = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + c["eps"])
        return n * (1.0 + w) if gemma else n * w  # Gemma3RMSNorm stores the gain minus one

    def rotate_half(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return torch.cat([-x2, x1], dim=-1)

    def lin(x, pre):
        y = x @ W[pre + ".weight"].T
        b = W.get(pre + ".bias")
        if b is not None:
            y = y + b
        if pre in lora:
            A, B, s = lora[pre]
            y = y + ((x @ A.T) @ B.T) * s
        return y

    def gelu_tanh(m):
        return 0.5 * m * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (m + 0.044715 * torch.pow(m, 3.0))))

    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        cos, sin, mask = per_layer[i]
        r = rms(x, W[p + "input_layernorm.weight"])
        q = lin(r, p + "self_attn.q_proj").reshape(*lead, T, H, hd).transpose(-3, -2)  # [..., H, T, hd]
        k = lin(r, p + "self_attn.k_proj").reshape(*lead, T, KV, hd).transpose(-3, -2)  # [..., KV, T, hd]
        v = lin(r, p + "self_attn.v_proj").reshape(*lead, T, KV, hd).transpose(-3, -2)
        if c["kind"] in ("qwen3", "gemma3"):
            # per-head norms over head_dim, before RoPE
            q = rms(q, W[p + "self_attn.q_norm.weight"])
            k = rms(k, W[p + "self_attn.k_norm.weight"])
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(rep, dim=-3)  # repeat_kv: query head h uses kv head h // rep
        v = v.repeat_interleave(rep, dim=-3)
        s = (q @ k.transpose(-1, -2)) * scale
        s = s.masked_fill(~mask, float("-inf"))
        y = torch.softmax(s, dim=-1) @ v  # [..., H, T, hd]
        a = lin(y.transpose(-3, -2).reshape(*lead, T, H * hd), p + "self_attn.o_proj")
        if gemma:
            x = x + rms(a, W[p + "post_attention_layernorm.weight"])
            r = rms(x, W[p + "pre_feedforward_layernorm.weight"])
            m = lin(gelu_tanh(lin(r, p + "mlp.gate_proj")) * lin(r, p + "mlp.up_proj"), p + "mlp.down_proj")
            x = x + rms(m, W[p + "post_feedforward_layernorm.weight"])
        else:
            x = x + a
            r = rms(x, W[p + "post_attention_layernorm.weight"])
            g = lin(r, p + "mlp.gate_proj")
            x = x + lin(torch.nn.functional.silu(g) * lin(r, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if c["tied"] else W["lm_head.weight"]
    logits = x @ head.T
    if gemma and c["final_cap"] is not None:
        logits = torch.tanh(logits / c["final_cap"]) * c["final_cap"]
    return logits


# ---- main --------------------------------------------------------------------------


def parse_ids(text, what):
    text = text.strip()
    try:
        vals = json.loads(text) if text.startswith("[") else [int(t) for t in re.split(r"[,\s]+", text) if t]
    except ValueError:
        refuse(f"{what}: not a list of integers")
    if not isinstance(vals, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        refuse(f"{what}: not a list of integers")
    return vals


def check_ids(c, ids):
    if not ids:
        refuse("--ids: at least one token id is needed")
    bad = [i for i in ids if not (0 <= i < c["vocab"])]
    if bad:
        refuse(f"--ids: token id {bad[0]} is outside the vocabulary [0, {c['vocab']}) of config.json vocab_size")
    if len(ids) > c["positions"]:
        field = "n_positions" if c["kind"] == "gpt2" else "max_position_embeddings"
        refuse(f"--ids: {len(ids)} tokens exceed config.json {field} = {c['positions']}")


def run(folder, ids, float32=False, adapter_dir=None, grad=False, grad_base=(), merge_out=None, merge_dtype="F32",
        round_dtype=None, round_names=()):
    """Everything the command line does; returns the JSON object to print.
    ids None only with merge_out (merge without scoring)."""
    c = read_config(folder)
    if ids is not None:
        check_ids(c, ids)
    if grad and adapter_dir is None:
        refuse("--grad needs --adapter (use --grad-base for base tensors)")
    if merge_out is not None and adapter_dir is None:
        refuse("--merge-to needs --adapter")
    if (grad or grad_base) and ids is None:
        refuse("--grad / --grad-base need --ids or --ids-file")
    if (grad or grad_base) and len(ids) < 2:
        refuse("--ids: the loss needs at least two token ids")
    base_keys = base_grad_keys(c, grad_base)
    if bool(round_dtype) != bool(round_names):
        refuse("--round-base and --round-names go together (the dtype and the matrices to round)")
    if round_dtype is not None and merge_out is not None:
        refuse("--round-base does not go with --merge-to (the merge writes the folder's own weights)")
    rounded = round_keys(c, round_names) if round_dtype is not None else []
    if merge_out is not None:
        check_merge_to(merge_out, folder, adapter_dir)
    import numpy as np

    raw = read_weights(folder, np)
    W0 = resolve(c, raw)
    if rounded:
        W0 = round_base(W0, rounded, round_dtype, np)
    adapter = read_adapter(adapter_dir, c, np) if adapter_dir is not None else None
    out = {}
    if merge_out is not None:
        changed = merge_to(merge_out, folder, c, raw, adapter, merge_dtype, np)
        if ids is None:
            return {"merged_to": merge_out, "merged": changed}
    import torch  # after every check: refusals stay fast

    torch.set_num_threads(1)  # shared test machines; and a fixed summation order
    dt = torch.float32 if float32 else torch.float64
    W = {k: torch.from_numpy(np.ascontiguousarray(a)).to(dt) for k, a in W0.items()}
    lora, leaves = {}, {}
    if adapter is not None:
        for key, (_, a, b, _) in adapter["modules"].items():
            A = torch.from_numpy(np.ascontiguousarray(adapter["tensors"][a])).to(dt)
            B = torch.from_numpy(np.ascontiguousarray(adapter["tensors"][b])).to(dt)
            if grad:
                A.requires_grad_(True)
                B.requires_grad_(True)
            leaves[a], leaves[b] = A, B
            lora[key] = (A, B, adapter["scaling"])
    for _, key in base_keys:
        W[key].requires_grad_(True)
    want_grad = bool(grad or base_keys)
    idx = torch.tensor(ids, dtype=torch.long)
    with torch.set_grad_enabled(want_grad):
        fwd = forward_gpt2 if c["kind"] == "gpt2" else forward_llama
        logits = fwd(c, W, idx, torch, lora)
        lp = torch.log_softmax(logits, dim=-1)
        picked = lp[torch.arange(len(ids) - 1), idx[1:]]  # log P(ids[i] | ids[:i]), i >= 1
    out["ids"] = ids
    out["logprobs"] = [None] + [float(v) for v in picked.detach()]
    if merge_out is not None:
        out["merged_to"] = merge_out
    if not want_grad:
        return out
    loss = -picked.mean()
    names = sorted(leaves) if grad else []
    wrt = [leaves[n] for n in names] + [W[key] for _, key in base_keys]
    gs = torch.autograd.grad(loss, wrt)
    out["loss"] = float(loss.detach())
    if grad:
        out["grads"] = {n: g.reshape(-1).tolist() for n, g in zip(names, gs[: len(names)])}
    if base_keys:
        out["base_grads"] = {name: g.reshape(-1).tolist() for (name, _), g in zip(base_keys, gs[len(names) :])}
    return out


def score(folder, ids, float32=False):
    """The per-token log-probs [None, lp1, ...] of a model folder."""
    return run(folder, ids, float32)["logprobs"]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Per-token log-probs of a Hugging Face model folder (reference math in PyTorch).")
    ap.add_argument("folder")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--ids", help="comma-separated token ids")
    g.add_argument("--ids-file", help="a file of token ids (JSON array, or separated by commas / whitespace)")
    ap.add_argument("--float32", action="store_true", help="run the forward pass in float32 instead of float64")
    ap.add_argument("--adapter", metavar="DIR", help="a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)")
    ap.add_argument("--grad", action="store_true", help="add the loss and its gradient w.r.t. every LoRA tensor (needs --adapter)")
    ap.add_argument("--grad-base", metavar="NAME[,NAME]", default="", help="add the loss and its gradient w.r.t. these base tensors (names as stored)")
    ap.add_argument("--round-base", choices=["f16", "int8"], help="round --round-names as the packed WebGPU base does before the forward pass")
    ap.add_argument("--round-names", metavar="NAME:LAYOUT[,...]", default="", help="the matrices to round (as stored), LAYOUT out-in or in-out")
    ap.add_argument("--merge-to", metavar="OUT", help="write OUT/ as a model folder with the adapter merged (needs --adapter)")
    ap.add_argument("--merge-dtype", choices=["F32", "F16", "BF16"], default="F32", help="storage dtype of --merge-to (default F32)")
    a = ap.parse_args(argv)
    if a.ids is None and a.ids_file is None and a.merge_to is None:
        ap.error("one of the arguments --ids --ids-file is required (unless --merge-to)")
    try:
        ids = None
        if a.ids is not None:
            ids = parse_ids(a.ids, "--ids")
        elif a.ids_file is not None:
            try:
                with open(a.ids_file, "r", encoding="utf-8") as f:
                    ids = parse_ids(f.read(), f"--ids-file {a.ids_file}")
            except OSError as e:
                refuse(f"--ids-file {a.ids_file}: {e.strerror}")
        if not os.path.isdir(a.folder):
            refuse(f"{a.folder} is not a folder")
        grad_base = list(dict.fromkeys(n.strip() for n in a.grad_base.split(",") if n.strip()))
        round_names = [n.strip() for n in a.round_names.split(",") if n.strip()]
        out = run(a.folder, ids, a.float32, a.adapter, a.grad, grad_base, a.merge_to, a.merge_dtype, a.round_base, round_names)
    except Refused as e:
        print(f"hf_ref: refused: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


def serve():
    """--serve: one command line per stdin line (a JSON array of arguments),
    one JSON line back per command: {"status", "stdout", "stderr"}, as a
    separate run would have exited and printed. Tests make dozens of calls;
    importing torch once instead of per call saves ~2 s of CPU each."""
    import contextlib
    import io

    for line in sys.stdin:
        if not line.strip():
            continue
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(json.loads(line))
            except SystemExit as e:  # argparse's usage errors
                status = e.code if isinstance(e.code, int) else 2
            except Exception as e:  # a crash ends this command, not the server
                print(f"hf_ref: {type(e).__name__}: {e}", file=sys.stderr)
                status = 1
        sys.stdout.write(json.dumps({"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == ["--serve"] else main())
