#!/usr/bin/env python3
"""Broken Hugging Face model folders, for refusal tests.

    /usr/bin/python3 scripts/hf/make_hostile.py OUTDIR [--seed N]

Each OUTDIR/<case>/ starts as a valid tiny model (scripts/hf/make_tiny.py)
and is broken in one way. OUTDIR/hostile.json maps every case to what is
wrong and to `expect`: a word or phrase that a refusal of this folder should
name (the field or file). A loader must refuse every one before allocating.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tiny as mt  # noqa: E402


def llama(seed, **over):
    c = mt.llama_config(320, 128, 32, 2, 4, 2, 64, tied=False)
    w = mt.llama_weights(c, mt.Init(seed, 0.2))
    c.update(over)
    return c, w


def write(outdir, name, cfg, w, dtype="F32", shards=None):
    folder = os.path.join(outdir, name)
    mt.write_case(outdir, name, cfg, w, dtype, shards)
    return folder


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=100)
    a = ap.parse_args(argv)
    out = a.outdir
    os.makedirs(out, exist_ok=True)
    cases = {}

    def case(name, problem, expect):
        cases[name] = {"problem": problem, "expect": expect}

    c, w = llama(a.seed)
    f = write(out, "missing-config", c, w)
    os.remove(os.path.join(f, "config.json"))
    case("missing-config", "no config.json", "config.json")

    f = write(out, "missing-weights", c, w)
    os.remove(os.path.join(f, "model.safetensors"))
    case("missing-weights", "no model.safetensors and no index", "model.safetensors")

    # a config that lies about shapes: hidden_size 48, the tensors are 32 wide
    c2 = dict(c, hidden_size=48)
    f = write(out, "config-lies-hidden", c, w)
    mt.write_json(os.path.join(f, "config.json"), c2)
    case("config-lies-hidden", "config hidden_size 48, tensors have 32", "hidden_size")

    # fewer layers stored than the config says
    c3 = dict(c, num_hidden_layers=3)
    f = write(out, "config-lies-layers", c, w)
    mt.write_json(os.path.join(f, "config.json"), c3)
    case("config-lies-layers", "config says 3 layers, 2 stored", "model.layers.2")

    f = write(out, "huge-vocab", c, w)
    mt.write_json(os.path.join(f, "config.json"), dict(c, vocab_size=10**9))
    case("huge-vocab", "vocab_size 10**9", "vocab_size")

    # a truncated shard: the second shard loses its last 1000 bytes
    f = write(out, "truncated-shard", c, w, shards=mt.layer_shards(w, 2))
    p = os.path.join(f, "model-00002-of-00002.safetensors")
    with open(p, "rb") as fh:
        data = fh.read()
    with open(p, "wb") as fh:
        fh.write(data[:-1000])
    case("truncated-shard", "model-00002-of-00002.safetensors cut short by 1000 bytes", "model-00002-of-00002.safetensors")

    # a truncated single file, cut inside the header
    f = write(out, "truncated-header", c, w)
    p = os.path.join(f, "model.safetensors")
    with open(p, "rb") as fh:
        data = fh.read()
    with open(p, "wb") as fh:
        fh.write(data[:100])
    case("truncated-header", "model.safetensors cut inside its header", "model.safetensors")

    f = write(out, "rope-scaling", dict(c, rope_scaling={"type": "linear", "factor": 2.0}), w)
    case("rope-scaling", "rope_scaling set (linear, factor 2)", "rope_scaling")

    qc = mt.qwen2_config(320, 128, 32, 2, 4, 2, 64, tied=True)
    qw = mt.llama_weights(qc, mt.Init(a.seed, 0.2), qkv_bias=True)
    write(out, "sliding-window", dict(qc, use_sliding_window=True, sliding_window=64), qw)
    case("sliding-window", "Qwen2 with use_sliding_window true", "use_sliding_window")

    f = write(out, "unknown-arch", dict(c, model_type="gpt_neox", architectures=["GPTNeoXForCausalLM"]), w)
    case("unknown-arch", "model_type gpt_neox / GPTNeoXForCausalLM", "gpt_neox")

    f = write(out, "arch-mismatch", dict(c, architectures=["LlamaForSequenceClassification"]), w)
    case("arch-mismatch", "model_type llama but architectures LlamaForSequenceClassification", "architectures")

    # the index names a second shard that is not there
    f = write(out, "index-missing-file", c, w, shards=mt.layer_shards(w, 2))
    os.remove(os.path.join(f, "model-00002-of-00002.safetensors"))
    case("index-missing-file", "index names model-00002-of-00002.safetensors, which is absent", "model-00002-of-00002.safetensors")

    w2 = dict(w)
    del w2["model.layers.1.mlp.up_proj.weight"]
    write(out, "missing-tensor", c, w2)
    case("missing-tensor", "model.layers.1.mlp.up_proj.weight absent", "model.layers.1.mlp.up_proj.weight")

    # untied config without lm_head.weight (a tied checkpoint with the wrong flag)
    w3 = {k: v for k, v in w.items() if k != "lm_head.weight"}
    write(out, "missing-lm-head", c, w3)
    case("missing-lm-head", "tie_word_embeddings false but no lm_head.weight", "lm_head.weight")

    # one tensor with a shape that disagrees with the config (GQA k_proj as if MHA)
    w4 = dict(w, **{"model.layers.0.self_attn.k_proj.weight": mt.Init(a.seed, 0.2).normal(32, 32)})
    write(out, "kv-shape", c, w4)
    case("kv-shape", "k_proj of layer 0 is [32, 32], num_key_value_heads 2 needs [16, 32]", "model.layers.0.self_attn.k_proj.weight")

    # GPT-2 with an activation we do not implement
    gc = mt.gpt2_config(300, 128, 32, 2, 4)
    gw = mt.gpt2_weights(gc, mt.Init(a.seed, 0.2))
    write(out, "gpt2-relu", dict(gc, activation_function="relu"), gw)
    case("gpt2-relu", "GPT-2 activation_function relu", "activation_function")

    # an unsupported storage dtype (F64)
    f = write(out, "f64-tensor", c, w)
    p = os.path.join(f, "model.safetensors")
    with open(p, "wb") as fh:
        fh.write(_with_f64(w))
    case("f64-tensor", "model.norm.weight stored as F64", "F64")

    mt.write_json(os.path.join(out, "hostile.json"), cases)
    print(json.dumps({"outdir": out, "cases": list(cases)}))


def _with_f64(w):
    """A file whose model.norm.weight is F64 (the writer only does F32/F16/BF16)."""
    import struct

    import numpy as np

    names = sorted(w)
    header = {"__metadata__": {"format": "pt"}}
    chunks, off = [], 0
    for n in names:
        b = np.ascontiguousarray(w[n], dtype="<f8" if n == "model.norm.weight" else "<f4").tobytes()
        header[n] = {"dtype": "F64" if n == "model.norm.weight" else "F32", "shape": list(np.shape(w[n])), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    return struct.pack("<Q", len(js)) + js + b"".join(chunks)


if __name__ == "__main__":
    sys.exit(main())
