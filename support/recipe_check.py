#!/usr/bin/env python3
"""The recipe's batch and loss (src/export/recipe/train_mcckd.py) on given
data, for test/unit/recipe-loss.test.ts. Reads one JSON object on stdin:

    {"groups": [{"rationales": [{"ids", "ce_start", "span"}]}], "picks": [[g, a, b|null]],
     "settings": {"alpha", "temperature", "block_size", "pad_id", "pad_multiple"},
     "logits": [R*T*V floats], "vocab": V}

and prints one JSON line: the batch's arrays (ids, targets, weight, kl_a,
kl_b, kl_mask), the loss, ce and kl of the logits in float64, and the loss
summed over two halves of the questions each normalized by the whole
batch's counts (what gradient accumulation and DDP add up).
"""
import importlib.util
import json
import os
import sys
from types import SimpleNamespace

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("train_mcckd", os.path.join(HERE, "..", "src", "export", "recipe", "train_mcckd.py"))
tm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tm)


def main():
    q = json.load(sys.stdin)
    a = SimpleNamespace(**q["settings"])
    b = tm.build_batch(q["picks"], q["groups"], a, torch)
    rows, t = b["ids"].shape
    z = torch.tensor(q["logits"], dtype=torch.float64).reshape(rows * t, q["vocab"])
    loss, ce, kl = tm.mcckd_loss(z, b, a.alpha, a.temperature, torch)
    ce_count = float(b["weight"].sum())
    pair_count = float((b["kl_mask"].sum(1) > 0).sum()) if b["kl_mask"].numel() else 0.0
    # the same logits cut per question: rows 2q, 2q+1 of the whole batch (its T)
    half = len(q["picks"]) // 2
    split = 0.0
    for part in (q["picks"][:half], q["picks"][half:]):
        pb = tm.build_batch(part, q["groups"], a, torch)
        first = q["picks"].index(part[0])
        zz = z.reshape(rows, t, -1)[2 * first: 2 * (first + len(part)), : pb["ids"].shape[1]].reshape(-1, q["vocab"])
        split += float(tm.mcckd_loss(zz, pb, a.alpha, a.temperature, torch, ce_count, pair_count)[0])
    out = {k: b[k].reshape(-1).tolist() for k in ("ids", "targets", "weight", "kl_a", "kl_b", "kl_mask")}
    out.update(rows=rows, time=t, pairs=b["kl_mask"].shape[0], span=b["kl_mask"].shape[1],
               loss=float(loss), ce=float(ce), kl=float(kl), split=split)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
