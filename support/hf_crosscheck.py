#!/usr/bin/env python3
"""support/hf_ref.py against Hugging Face transformers itself, on every tiny
model of scripts/hf/make_tiny.py (all families, their PEFT adapters).

    .venv/bin/python support/hf_crosscheck.py OUTDIR [--cases a,b] [--no-grad]

Writes the tiny models into OUTDIR (make_tiny.py --adapters --families
gpt2,llama,qwen2,qwen3,gemma3) and, in this one process (loading torch and
transformers once), compares for each case, base and with its adapter:
  f64:   hf_ref's log-probs in float64 vs transformers in float32
  f32:   hf_ref's log-probs in float32 vs transformers in float32
  merge: transformers on hf_ref's --merge-to folder (F32) vs transformers
         with the adapter through PEFT (hf_ref's merge = PEFT's merge)
  grad:  hf_ref's --grad LoRA gradients (float64) vs PEFT's autograd of
         the same mean NLL in float32, as max |diff| / max |grad|
Prints ONE JSON line {"transformers", "peft", "torch", "ids", "cases":
{case: {"base": {"f64", "f32"}, "lora": {"f64", "f32", "merge", "grad"}}}},
the numbers being max absolute differences; the caller judges them
(test/unit/hf-transformers.test.ts).
"""
import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "scripts", "hf"))

import hf_ref  # noqa: E402
import hf_transformers_ref as tr  # noqa: E402
import make_tiny  # noqa: E402

# 40 tokens, below every case's vocabulary (the smallest has 300): longer
# than Gemma3's windows (4, 5), so the sliding layers really cut keys off
IDS = [(i * 37 + 11) % 299 for i in range(40)]


def maxdiff(a, b):
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a[1:], b[1:]))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--cases", default="", help="only these cases (comma-separated)")
    ap.add_argument("--no-grad", action="store_true", help="skip the gradient comparison")
    a = ap.parse_args(argv)
    import peft
    import torch
    import transformers

    torch.set_num_threads(1)
    with open(os.devnull, "w") as null:
        old, sys.stdout = sys.stdout, null  # make_tiny prints its own summary line
        try:
            make_tiny.main([a.outdir, "--adapters", "--families", "gpt2,llama,qwen2,qwen3,gemma3"])
        finally:
            sys.stdout = old
    with open(os.path.join(a.outdir, "manifest.json")) as f:
        manifest = json.load(f)
    names = [n for n in manifest["cases"] if not a.cases or n in a.cases.split(",")]
    out = {"transformers": transformers.__version__, "peft": peft.__version__, "torch": torch.__version__, "ids": IDS, "cases": {}}
    for name in names:
        folder = os.path.join(a.outdir, name)
        lora = os.path.join(a.outdir, name + ".lora")
        r = {"base": {}, "lora": {}}
        with torch.no_grad():
            theirs = [None] + tr.logprobs(tr.load(folder), IDS).tolist()
        r["base"]["f64"] = maxdiff(hf_ref.run(folder, IDS)["logprobs"], theirs)
        r["base"]["f32"] = maxdiff(hf_ref.run(folder, IDS, float32=True)["logprobs"], theirs)
        model = tr.load(folder, lora)
        for n, p in model.named_parameters():  # PeftModel.from_pretrained loads it frozen
            p.requires_grad_(".lora_A." in n or ".lora_B." in n)
        with torch.enable_grad():
            lp = tr.logprobs(model, IDS)
            loss = -lp.mean()
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            grads = torch.autograd.grad(loss, [p for _, p in named]) if not a.no_grad else []
        theirs = [None] + lp.detach().tolist()
        merged = os.path.join(tempfile.mkdtemp(dir=a.outdir), "merged")
        ours = hf_ref.run(folder, IDS, adapter_dir=lora, grad=not a.no_grad, merge_out=merged)
        r["lora"]["f64"] = maxdiff(ours["logprobs"], theirs)
        r["lora"]["f32"] = maxdiff(hf_ref.run(folder, IDS, float32=True, adapter_dir=lora)["logprobs"], theirs)
        with torch.no_grad():
            r["lora"]["merge"] = maxdiff([None] + tr.logprobs(tr.load(merged), IDS).tolist(), theirs)
        if not a.no_grad:
            # PEFT names its parameters <module>.lora_A.default.weight; the
            # saved adapter (and hf_ref) drop the adapter name "default"
            peft_grads = {n.replace(".default.", "."): g.reshape(-1).tolist() for (n, _), g in zip(named, grads)}
            if sorted(peft_grads) != sorted(ours["grads"]):
                raise SystemExit(f"{name}: PEFT's trainable tensors {sorted(peft_grads)[:3]}... differ from hf_ref's {sorted(ours['grads'])[:3]}...")
            scale = max(abs(v) for g in ours["grads"].values() for v in g)
            r["lora"]["grad"] = max(abs(x - y) for n, g in ours["grads"].items() for x, y in zip(g, peft_grads[n])) / scale
        out["cases"][name] = r
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
