#!/usr/bin/env python3
"""A PyTorch reference of the Hugging Face math for GPT2LMHeadModel,
LlamaForCausalLM and Qwen2ForCausalLM, reading a model folder itself (no
transformers, no safetensors package: Debian's python3-torch and numpy).

    /usr/bin/python3 support/hf_ref.py FOLDER (--ids 1,2,3 | --ids-file FILE) [--float32]

FOLDER holds config.json and model.safetensors, or shards named by
model.safetensors.index.json; tensors F32, F16 or BF16. Prints ONE JSON line

    {"ids": [...], "logprobs": [null, lp1, ...]}

where logprobs[i] = log P(ids[i] | ids[:i]) (the contract of `mcckd score`).
--ids-file reads ids from a file: a JSON array, or integers separated by
commas / whitespace. The forward pass runs in float64 (--float32 for float32).

Anything unsupported (another architecture, rope_scaling, a sliding window,
attention/MLP biases on LLaMA, another activation) or inconsistent (a missing
file or tensor, an unexpected tensor, a shape that disagrees with the config,
a truncated file, ids out of range) is refused before the forward pass: exit
status 2 and one line on stderr, "hf_ref: refused: <what>", naming the field
or file. Usage errors also exit 2 (argparse).

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
    known = {"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}
    if mt not in known:
        refuse(f"config.json: model_type {json.dumps(mt)} is not supported (supported: gpt2, llama, qwen2)")
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
    c = {
        "kind": mt,
        "vocab": int_field(cfg, "vocab_size", 1, MAX_VOCAB),
        "positions": int_field(cfg, "max_position_embeddings", 1, MAX_POSITIONS),
        "d": int_field(cfg, "hidden_size", 1, MAX_DIM),
        "layers": int_field(cfg, "num_hidden_layers", 1, MAX_LAYERS),
        "heads": int_field(cfg, "num_attention_heads", 1, MAX_DIM),
        "inner": int_field(cfg, "intermediate_size", 1, 1 << 20),
        "eps": float_field(cfg, "rms_norm_eps", 0, 1),
        "theta": float_field(cfg, "rope_theta", 0, 1e12, 10000.0),
        "tied": tied,
    }
    c["kv"] = int_field(cfg, "num_key_value_heads", 1, c["heads"], c["heads"]) if cfg.get("num_key_value_heads") is not None else c["heads"]
    if c["heads"] % c["kv"]:
        refuse(f"config.json: num_attention_heads {c['heads']} is not a multiple of num_key_value_heads {c['kv']}")
    if cfg.get("head_dim") is not None:
        c["hd"] = int_field(cfg, "head_dim", 2, MAX_DIM)
    else:
        if c["d"] % c["heads"]:
            refuse(f"config.json: hidden_size {c['d']} is not divisible by num_attention_heads {c['heads']}")
        c["hd"] = c["d"] // c["heads"]
    if c["hd"] % 2:
        refuse(f"config.json: head dimension {c['hd']} must be even for RoPE")
    if cfg.get("rope_scaling") is not None:
        refuse(f"config.json: rope_scaling {json.dumps(cfg['rope_scaling'])} is not supported (only null)")
    if cfg.get("hidden_act", "silu") != "silu":
        refuse(f"config.json: hidden_act {json.dumps(cfg.get('hidden_act'))} is not supported (silu)")
    if cfg.get("partial_rotary_factor", 1.0) != 1.0:
        refuse("config.json: partial_rotary_factor is not supported")
    if mt == "llama":
        for key in ("attention_bias", "mlp_bias"):
            if cfg.get(key, False) is not False:
                refuse(f"config.json: {key} {json.dumps(cfg[key])} is not supported (false)")
    if mt == "qwen2" and cfg.get("use_sliding_window", False) is not False:
        refuse(f"config.json: use_sliding_window {json.dumps(cfg['use_sliding_window'])} is not supported (false)")
    return c


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
            s[p + "post_attention_layernorm.weight"] = [d]
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


# ---- forward -----------------------------------------------------------------------


def forward_gpt2(c, W, ids, torch):
    T = len(ids)
    d, H, hd = c["d"], c["heads"], c["hd"]
    x = W["wte.weight"][ids] + W["wpe.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def ln(x, pre):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + c["eps"]) * W[pre + ".weight"] + W[pre + ".bias"]

    def conv1d(x, pre):
        return x @ W[pre + ".weight"] + W[pre + ".bias"]

    for i in range(c["layers"]):
        p = f"h.{i}."
        a = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn")  # [T, 3d]
        q, k, v = a.split(d, dim=-1)
        q, k, v = (t.reshape(T, H, hd).transpose(0, 1) for t in (q, k, v))  # [H, T, hd]
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~mask, float("-inf"))
        y = torch.softmax(s, dim=-1) @ v  # [H, T, hd]
        x = x + conv1d(y.transpose(0, 1).reshape(T, d), p + "attn.c_proj")
        m = conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc")
        m = 0.5 * m * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (m + 0.044715 * torch.pow(m, 3.0))))
        x = x + conv1d(m, p + "mlp.c_proj")
    x = ln(x, "ln_f")
    head = W["wte.weight"] if c["tied"] else W["lm_head.weight"]
    return x @ head.T


def forward_llama(c, W, ids, torch):
    T = len(ids)
    H, KV, hd = c["heads"], c["kv"], c["hd"]
    rep = H // KV
    dt = W["model.embed_tokens.weight"].dtype
    x = W["model.embed_tokens.weight"][ids]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]  # [T, hd/2]
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos().to(dt), emb.sin().to(dt)  # [T, hd]

    def rms(x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + c["eps"]) * w

    def rotate_half(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return torch.cat([-x2, x1], dim=-1)

    def lin(x, pre):
        y = x @ W[pre + ".weight"].T
        b = W.get(pre + ".bias")
        return y if b is None else y + b

    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        r = rms(x, W[p + "input_layernorm.weight"])
        q = lin(r, p + "self_attn.q_proj").reshape(T, H, hd).transpose(0, 1)  # [H, T, hd]
        k = lin(r, p + "self_attn.k_proj").reshape(T, KV, hd).transpose(0, 1)  # [KV, T, hd]
        v = lin(r, p + "self_attn.v_proj").reshape(T, KV, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(rep, dim=0)  # repeat_kv: query head h uses kv head h // rep
        v = v.repeat_interleave(rep, dim=0)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~mask, float("-inf"))
        y = torch.softmax(s, dim=-1) @ v  # [H, T, hd]
        x = x + lin(y.transpose(0, 1).reshape(T, H * hd), p + "self_attn.o_proj")
        r = rms(x, W[p + "post_attention_layernorm.weight"])
        g = lin(r, p + "mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(g) * lin(r, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if c["tied"] else W["lm_head.weight"]
    return x @ head.T


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


def score(folder, ids, float32=False):
    c = read_config(folder)
    if not ids:
        refuse("--ids: at least one token id is needed")
    bad = [i for i in ids if not (0 <= i < c["vocab"])]
    if bad:
        refuse(f"--ids: token id {bad[0]} is outside the vocabulary [0, {c['vocab']}) of config.json vocab_size")
    if len(ids) > c["positions"]:
        field = "n_positions" if c["kind"] == "gpt2" else "max_position_embeddings"
        refuse(f"--ids: {len(ids)} tokens exceed config.json {field} = {c['positions']}")
    import numpy as np

    raw = read_weights(folder, np)
    W0 = resolve(c, raw)
    import torch  # after every check: refusals stay fast

    dt = torch.float32 if float32 else torch.float64
    W = {k: torch.from_numpy(np.ascontiguousarray(a)).to(dt) for k, a in W0.items()}
    idx = torch.tensor(ids, dtype=torch.long)
    with torch.no_grad():
        logits = forward_gpt2(c, W, idx, torch) if c["kind"] == "gpt2" else forward_llama(c, W, idx, torch)
        lp = torch.log_softmax(logits, dim=-1)
        out = [None] + [float(lp[i - 1, ids[i]]) for i in range(1, len(ids))]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Per-token log-probs of a Hugging Face model folder (reference math in PyTorch).")
    ap.add_argument("folder")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids", help="comma-separated token ids")
    g.add_argument("--ids-file", help="a file of token ids (JSON array, or separated by commas / whitespace)")
    ap.add_argument("--float32", action="store_true", help="run the forward pass in float32 instead of float64")
    a = ap.parse_args(argv)
    try:
        if a.ids is not None:
            ids = parse_ids(a.ids, "--ids")
        else:
            try:
                with open(a.ids_file, "r", encoding="utf-8") as f:
                    ids = parse_ids(f.read(), f"--ids-file {a.ids_file}")
            except OSError as e:
                refuse(f"--ids-file {a.ids_file}: {e.strerror}")
        if not os.path.isdir(a.folder):
            refuse(f"{a.folder} is not a folder")
        lps = score(a.folder, ids, a.float32)
    except Refused as e:
        print(f"hf_ref: refused: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"ids": ids, "logprobs": lps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
