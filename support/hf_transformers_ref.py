#!/usr/bin/env python3
"""Per-token log-probs of a model folder computed by Hugging Face transformers
itself (and PEFT for an adapter): the check of support/hf_ref.py's own math.

    .venv/bin/python support/hf_transformers_ref.py FOLDER (--ids 1,2,3 | --ids-file FILE)
        [--adapter DIR] [--float64]

Loads FOLDER with AutoModelForCausalLM.from_pretrained (dtype float32,
attn_implementation "eager", eval mode, no cache), with --adapter DIR wraps it
in peft.PeftModel.from_pretrained(model, DIR), and prints ONE JSON line in
hf_ref.py's shape:

    {"ids": [...], "logprobs": [null, lp1, ...], "transformers": "5.18.0", "peft": "0.21.0" | null}

where logprobs[i] = log P(ids[i] | ids[:i]). --float64 loads in float64
instead (transformers still computes some steps in float32: Gemma3's RMSNorm,
the eager softmax, the rotary tables), so it is a looser check than it looks.

Needs torch, transformers (and peft for --adapter); exit status 2 with one
line "hf_transformers_ref: <what>" on stderr when they are missing or the
folder does not load.
"""
import argparse
import json
import os
import re
import sys


def fail(msg):
    print(f"hf_transformers_ref: {msg}", file=sys.stderr)
    return 2


def parse_ids(text):
    text = text.strip()
    vals = json.loads(text) if text.startswith("[") else [int(t) for t in re.split(r"[,\s]+", text) if t]
    if not isinstance(vals, list) or not vals or not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        raise ValueError("not a non-empty list of integers")
    return vals


class LoadError(Exception):
    pass


def load(folder, adapter=None, float64=False):
    """The transformers model of FOLDER (eval mode), with the PEFT adapter
    folder ADAPTER applied when given. Raises LoadError."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    # one thread: the machines that run the tests are shared, and one thread
    # makes the sums' order, hence the last bits, reproducible
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()  # the load's own report is checked below instead
    transformers.logging.disable_progress_bar()
    dt = torch.float64 if float64 else torch.float32
    try:
        model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=dt, attn_implementation="eager", output_loading_info=True)
        # a tensor transformers did not find would be left at its random init:
        # refuse rather than compare against noise. Unexpected keys are fine
        # (GPT-2's legacy attn.bias / masked_bias buffers).
        missing = sorted(info.get("missing_keys") or [])
        mismatched = info.get("mismatched_keys") or []
        if missing or mismatched:
            raise LoadError(f"loading {folder}: missing {missing}, mismatched {mismatched}")
        if adapter is not None:
            import peft

            model = peft.PeftModel.from_pretrained(model, adapter)
    except LoadError:
        raise
    except Exception as e:  # noqa: BLE001: any load failure is one line for the caller
        raise LoadError(f"loading {folder}{' with ' + adapter if adapter else ''}: {type(e).__name__}: {e}") from e
    model.eval()
    return model


def logprobs(model, ids):
    """[T - 1] tensor: log P(ids[i] | ids[:i]) for i >= 1, in float64 after
    the model's own dtype (differentiable when grad is enabled)."""
    import torch

    idx = torch.tensor([ids], dtype=torch.long)
    logits = model(input_ids=idx, use_cache=False).logits[0].to(torch.float64)
    lp = torch.log_softmax(logits, dim=-1)
    return lp[torch.arange(len(ids) - 1), idx[0, 1:]]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Per-token log-probs of a Hugging Face model folder, by transformers itself.")
    ap.add_argument("folder")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids", help="comma-separated token ids")
    g.add_argument("--ids-file", help="a file of token ids (JSON array, or separated by commas / whitespace)")
    ap.add_argument("--adapter", metavar="DIR", help="a PEFT adapter folder, applied with peft.PeftModel")
    ap.add_argument("--float64", action="store_true", help="load the model in float64 instead of float32")
    a = ap.parse_args(argv)
    try:
        ids = parse_ids(a.ids if a.ids is not None else open(a.ids_file, encoding="utf-8").read())
    except (ValueError, OSError) as e:
        return fail(f"ids: {e}")
    if not os.path.isdir(a.folder):
        return fail(f"{a.folder} is not a folder")
    try:
        import torch
        import transformers
    except ImportError as e:
        return fail(f"cannot import {e.name} (pip install torch transformers)")
    peft_version = None
    if a.adapter is not None:
        try:
            import peft
        except ImportError:
            return fail("cannot import peft (pip install peft), needed for --adapter")
        peft_version = peft.__version__
    try:
        model = load(a.folder, a.adapter, a.float64)
    except LoadError as e:
        return fail(str(e))
    vocab = model.config.get_text_config().vocab_size
    if any(not (0 <= i < vocab) for i in ids):
        return fail(f"ids: a token id is outside the vocabulary [0, {vocab})")
    with torch.no_grad():
        picked = logprobs(model, ids)
    print(json.dumps({"ids": ids, "logprobs": [None] + [float(v) for v in picked], "transformers": transformers.__version__, "peft": peft_version}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
