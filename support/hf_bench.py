#!/usr/bin/env python3
"""PyTorch side of the pretrained-shape LoRA bench (bench/pretrained.ts): the
same LoRA training step as our Trainer, on the same shapes and batches, timed
on the CPU (Debian's python3-torch; no transformers, no peft).

    /usr/bin/python3 support/hf_bench.py CASE.json [--device cpu|cuda]

--device (else the environment's MCCKD_TORCH_DEVICE, which bench/gpu.ts sets
for the real-GPU bench; else cpu): where the step runs. cuda where torch sees
no CUDA device is an error, not a silent CPU run.

CASE (written by bench/pretrained.ts):
  {"model": "gpt2-124m",
   "config": {"kind": "gpt2"|"llama", "vocab", "positions", "d", "layers", "heads",
              "kv", "hd", "inner", "eps", "theta", "tied"},      # hf_ref.read_config's fields
   "lora": {"r": 8, "alpha": 16, "targets": ["c_attn", "c_proj"]},
   "train": {"lr", "beta1", "beta2", "eps", "weightDecay", "gradClip", "alpha", "temperature"},
   "batches": [{"inputs": [[int]], "targets": [[int]], "ceWeight": [[float]],
                "klA": [[int]], "klB": [[int]], "klMask": [[float]]}],
   "warmupSteps": 1, "timedSteps": 3, "budgetS": 900, "threads": null | int, "seed": 0}
  (the timed steps stop early, after at least one, when one more would take
  their total past budgetS seconds)

The step (what src/core/trainer.ts stepOn does with a LoRA config):
  - support/hf_ref.py's forward_gpt2 / forward_llama (the Hugging Face
    math) over rows [R, T], in float32; every module
    PEFT's target_modules matching selects (hf_ref.module_table +
    hf_ref.peft_targets: GPT-2's c_proj adapts attn.c_proj and mlp.c_proj)
    adds ((x A^T) B^T) * alpha / r;
  - the loss of support/torch_ref.py (mcckd_loss: the CE weighted over the
    rationale tokens, plus alpha * the symmetric KL at the answer tokens);
  - backward into the LoRA A / B only (the base has requires_grad False);
  - clip_grad_norm_ and torch.optim.AdamW on A / B (decoupled decay: they are
    matrices).
Base weights are random (N(0, 0.02), GPT-2's residual projections scaled by
1/sqrt(2 * layers), unit norm gains, zero biases, as src/core/model.ts
initParams), A Kaiming-uniform +-1/sqrt(in), B zeros (PEFT's init): the
values are not ours, the shapes and the arithmetic are.

Prints one JSON line: {"model", "torch", "threads", "device", "params",
"trainable", "firstStepMs", "msPerStep": [...], "medianMs", "tokensPerSecond",
"losses": [...], "residentBytes", "maxRssBytes", "cudaPeakBytes" (cuda only)};
tokens = rows * T.
"""
import json
import math
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from hf_ref import expected_shapes, forward_gpt2, forward_llama, module_table, peft_targets  # noqa: E402
from torch_ref import mcckd_loss  # noqa: E402


def rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def bench_device():
    """--device / MCCKD_TORCH_DEVICE: "cpu" or "cuda" (checked)."""
    dev = os.environ.get("MCCKD_TORCH_DEVICE") or "cpu"
    if "--device" in sys.argv:
        dev = sys.argv[sys.argv.index("--device") + 1]
    if dev not in ("cpu", "cuda"):
        raise SystemExit(f"hf_bench: --device must be cpu or cuda, got {dev!r}")
    if dev == "cuda" and not torch.cuda.is_available():
        raise SystemExit("hf_bench: --device cuda, but torch.cuda.is_available() is False")
    return dev


def init_base(c, gen):
    """name -> float32 tensor, initParams' scheme (hf_ref's resolved names)."""
    W = {}
    for name, shape in expected_shapes(c).items():
        if name.endswith(".bias"):
            W[name] = torch.zeros(shape)
        elif name.endswith("norm.weight") or name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
            W[name] = torch.ones(shape)
        else:
            resid = name.endswith("c_proj.weight") or name.endswith("o_proj.weight") or name.endswith("down_proj.weight")
            std = 0.02 / math.sqrt(2 * c["layers"]) if resid else 0.02
            W[name] = torch.randn(shape, generator=gen) * std
    return W


def init_lora(c, lora, gen):
    """weight key prefix -> (A [r, in], B [out, r], scaling), leaves with grads."""
    r, s = lora["r"], lora["alpha"] / lora["r"]
    out = {}
    for name, (_cls, key, fin, fout) in module_table(c).items():
        if key is None or not peft_targets(lora["targets"], name):
            continue
        bound = 1.0 / math.sqrt(fin)
        A = (torch.rand((r, fin), generator=gen) * 2 - 1) * bound
        B = torch.zeros((fout, r))
        A.requires_grad_(True)
        B.requires_grad_(True)
        out[key] = (A, B, s)
    if not out:
        raise SystemExit(f"hf_bench: target_modules {lora['targets']} match no module")
    return out


def main():
    case = json.load(open(sys.argv[1]))
    if case.get("threads"):
        torch.set_num_threads(int(case["threads"]))
    c, tr = case["config"], case["train"]
    gen = torch.Generator().manual_seed(int(case.get("seed", 0)))
    with torch.no_grad():
        W = init_base(c, gen)
    lora = init_lora(c, case["lora"], gen)
    dev = bench_device()
    if dev != "cpu":
        # initialised on the CPU (the seeded generator), then moved; the
        # forward's own tensors (masks, positions) are made on dev too
        W = {k: v.to(dev) for k, v in W.items()}
        lora = {k: (A.detach().to(dev).requires_grad_(True), B.detach().to(dev).requires_grad_(True), s) for k, (A, B, s) in lora.items()}
        torch.set_default_device(dev)
    leaves = [t for A, B, _ in lora.values() for t in (A, B)]
    opt = torch.optim.AdamW(leaves, lr=tr["lr"], betas=(tr["beta1"], tr["beta2"]), eps=tr["eps"], weight_decay=tr["weightDecay"])
    batches = [{
        "inputs": torch.tensor(b["inputs"], dtype=torch.long),
        "targets": torch.tensor(b["targets"], dtype=torch.long),
        "ceWeight": torch.tensor(b["ceWeight"], dtype=torch.float32),
        "klA": torch.tensor(b["klA"], dtype=torch.long),
        "klB": torch.tensor(b["klB"], dtype=torch.long),
        "klMask": torch.tensor(b["klMask"], dtype=torch.float32),
    } for b in case["batches"]]
    batches = [{k: v.to(dev) for k, v in b.items()} for b in batches]
    resident = rss_bytes()
    fwd = forward_gpt2 if c["kind"] == "gpt2" else forward_llama
    warm, n = int(case.get("warmupSteps", 1)), int(case.get("timedSteps", 3))
    times, losses, first = [], [], None
    for step in range(warm + n):
        b = batches[step % len(batches)]
        t0 = time.perf_counter()
        logits = fwd(c, W, b["inputs"], torch, lora)  # [R, T, V]
        loss, _ce, _kl = mcckd_loss(logits, b, tr["alpha"], tr["temperature"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tr["gradClip"] > 0:
            torch.nn.utils.clip_grad_norm_(leaves, tr["gradClip"])
        opt.step()
        losses.append(loss.item())  # the read-back ends the step, as ours
        if dev == "cuda":
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) * 1000
        if step < warm:
            first = dt if first is None else first
        else:
            times.append(dt)
        print(f"[pretrained] {case.get('model')} pytorch-{dev}: {'warm-up' if step < warm else f'step {step - warm + 1}/{n}'} {dt:.0f} ms", file=sys.stderr, flush=True)
        if times and sum(times) + times[-1] > float(case.get("budgetS", 1e9)) * 1000:
            break
    med = sorted(times)[len(times) // 2] if len(times) % 2 else sum(sorted(times)[len(times) // 2 - 1 : len(times) // 2 + 1]) / 2
    tokens = int(batches[0]["inputs"].numel())
    print(json.dumps({
        "model": case.get("model"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": dev,
        "params": sum(t.numel() for t in W.values()),
        "trainable": sum(t.numel() for t in leaves),
        "firstStepMs": first,
        "msPerStep": times,
        "medianMs": med,
        "tokensPerSecond": tokens / (med / 1000),
        "losses": losses,
        "residentBytes": resident,
        "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **({"cudaPeakBytes": torch.cuda.max_memory_allocated()} if dev == "cuda" else {}),
    }))


if __name__ == "__main__":
    main()
