#!/usr/bin/env python3
"""PyTorch side of the pretrained-shape LoRA bench (bench/pretrained.ts): the
same LoRA training step as our Trainer, on the same shapes, batches, LoRA
r / alpha / targets and steps, timed on the CPU, as people run it: a Hugging
Face transformers model class wrapped by PEFT.

    .venv/bin/python support/hf_bench.py CASE.json [--device cpu|cuda]

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
   "warmupSteps": 1, "timedSteps": 3, "budgetS": 900, "threads": null | int, "seed": 0,
   "impl": "auto" | "transformers" | "hf_ref"}
  (the timed steps stop early, after at least one, when one more would take
  their total past budgetS seconds; "threads": torch.set_num_threads, the
  bench passes 1 to match our single-threaded backends)

The step (what src/core/trainer.ts stepOn does with a LoRA config):
  - impl "transformers" (what "auto" picks where transformers and peft
    import, e.g. the repository's .venv): GPT2LMHeadModel / LlamaForCausalLM
    built from the config (transformers' own random init, dropout 0 as ours,
    transformers' default attention implementation, reported), wrapped by
    peft.get_peft_model with LoraConfig(r, lora_alpha, target_modules,
    lora_dropout 0, fan_in_fan_out for GPT-2's Conv1D); logits =
    model(input_ids).logits;
  - impl "hf_ref" (the fallback where they do not import, e.g. Debian's
    python3-torch alone): support/hf_ref.py's forward_gpt2 / forward_llama
    (the Hugging Face math) with ((x A^T) B^T) * alpha / r on every module
    PEFT's target_modules matching selects (hf_ref.module_table +
    hf_ref.peft_targets); base N(0, 0.02) as src/core/model.ts initParams,
    A Kaiming-uniform +-1/sqrt(in), B zeros (PEFT's init);
  - either way: the loss of support/torch_ref.py (mcckd_loss: the CE weighted
    over the rationale tokens, plus alpha * the symmetric KL at the answer
    tokens); backward into the LoRA A / B only (the base is frozen);
    clip_grad_norm_ and torch.optim.AdamW on A / B (decoupled decay: they
    are matrices). The weights' values are not ours, the shapes and the
    arithmetic are.

Prints one JSON line: {"model", "impl", "transformers", "peft", "attention",
"torch", "build", "threads", "torchPath", "device", "params",
"trainable", "firstStepMs", "msPerStep": [...], "medianMs", "cpuMsPerStep"
(the median CPU time of the process per timed step),
"tokensPerSecond", "losses": [...], "residentBytes", "maxRssBytes",
"cudaPeakBytes" (cuda only)};
tokens = rows * T; build: "wheel" | "debian" | "other" (torch_ref.torch_info).
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
from torch_ref import mcckd_loss, set_threads, torch_info  # noqa: E402


def rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


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


def has_hf():
    try:
        import peft  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def hf_model(c, lora, seed, dev):
    """The transformers model of config C with PEFT's LoRA on it (train mode).
    Returns (forward(ids) -> logits [R, T, V], base params, trainable leaves, about)."""
    import peft
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(seed)
    if c["kind"] == "gpt2":
        cfg = transformers.GPT2Config(
            vocab_size=c["vocab"], n_positions=c["positions"], n_embd=c["d"], n_layer=c["layers"], n_head=c["heads"],
            n_inner=c["inner"], layer_norm_epsilon=c["eps"], activation_function="gelu_new",
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=c["tied"], bos_token_id=0, eos_token_id=0)
        model = transformers.GPT2LMHeadModel(cfg)
    elif c["kind"] == "llama":
        cfg = transformers.LlamaConfig(
            vocab_size=c["vocab"], max_position_embeddings=c["positions"], hidden_size=c["d"], num_hidden_layers=c["layers"],
            num_attention_heads=c["heads"], num_key_value_heads=c["kv"], head_dim=c["hd"], intermediate_size=c["inner"],
            rms_norm_eps=c["eps"], rope_theta=c["theta"], tie_word_embeddings=c["tied"], attention_bias=False, mlp_bias=False,
            attention_dropout=0.0, bos_token_id=0, eos_token_id=0)
        model = transformers.LlamaForCausalLM(cfg)
    else:
        raise SystemExit(f"hf_bench: no transformers class for kind {c['kind']}")
    params = sum(p.numel() for p in model.parameters())  # a tied head counted once
    model = peft.get_peft_model(model, peft.LoraConfig(
        r=lora["r"], lora_alpha=lora["alpha"], target_modules=list(lora["targets"]), lora_dropout=0.0, bias="none",
        fan_in_fan_out=c["kind"] == "gpt2", task_type="CAUSAL_LM"))
    model.to(dev)  # in place: the parameters below are the device's
    model.train()
    leaves = [p for p in model.parameters() if p.requires_grad]
    if not leaves:
        raise SystemExit(f"hf_bench: target_modules {lora['targets']} match no module")
    attention = model.config._attn_implementation
    about = {
        "impl": f"transformers {transformers.__version__} {type(model.get_base_model()).__name__} + peft {peft.__version__} LoRA",
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "attention": attention,
    }

    def forward(ids):
        return model(input_ids=ids, use_cache=False).logits

    return forward, params, leaves, about


def ref_model(c, lora_cfg, seed, dev):
    """hf_ref.py's math with LoRA leaves (the fallback without transformers / peft)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        W = init_base(c, gen)
    lora = init_lora(c, lora_cfg, gen)
    if dev != "cpu":
        # initialised on the CPU (the seeded generator), then moved; the
        # forward's own tensors (masks, positions) are made on dev too
        W = {k: v.to(dev) for k, v in W.items()}
        lora = {k: (A.detach().to(dev).requires_grad_(True), B.detach().to(dev).requires_grad_(True), s) for k, (A, B, s) in lora.items()}
        torch.set_default_device(dev)
    leaves = [t for A, B, _ in lora.values() for t in (A, B)]
    fwd = forward_gpt2 if c["kind"] == "gpt2" else forward_llama
    about = {"impl": "support/hf_ref.py math (no transformers / peft in this python)", "transformers": None, "peft": None, "attention": "eager"}
    return (lambda ids: fwd(c, W, ids, torch, lora)), sum(t.numel() for t in W.values()), leaves, about


def main():
    case = json.load(open(sys.argv[1]))
    set_threads(case.get("threads"))
    c, tr = case["config"], case["train"]
    impl = case.get("impl", "auto")
    if impl not in ("auto", "transformers", "hf_ref"):
        raise SystemExit(f"hf_bench: impl {impl!r} is not auto, transformers or hf_ref")
    if impl == "transformers" and not has_hf():
        raise SystemExit("hf_bench: impl transformers, but this python cannot import transformers and peft")
    use_hf = impl == "transformers" or (impl == "auto" and has_hf())
    seed = int(case.get("seed", 0))
    dev = bench_device()
    forward, params, leaves, about = (hf_model if use_hf else ref_model)(c, case["lora"], seed, dev)
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
    warm, n = int(case.get("warmupSteps", 1)), int(case.get("timedSteps", 3))
    times, cpu, losses, first = [], [], [], None
    for step in range(warm + n):
        b = batches[step % len(batches)]
        t0, c0 = time.perf_counter(), time.process_time()
        logits = forward(b["inputs"])  # [R, T, V]
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
            cpu.append((time.process_time() - c0) * 1000)
        print(f"[pretrained] {case.get('model')} pytorch-{dev}: {'warm-up' if step < warm else f'step {step - warm + 1}/{n}'} {dt:.0f} ms", file=sys.stderr, flush=True)
        if times and sum(times) + times[-1] > float(case.get("budgetS", 1e9)) * 1000:
            break
    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2

    med = median(times)
    tokens = int(batches[0]["inputs"].numel())
    print(json.dumps({
        "model": case.get("model"),
        **about,
        **torch_info(),
        "device": dev,
        "params": params,
        "trainable": sum(t.numel() for t in leaves),
        "firstStepMs": first,
        "msPerStep": times,
        "medianMs": med,
        "cpuMsPerStep": median(cpu),
        "tokensPerSecond": tokens / (med / 1000),
        "losses": losses,
        "residentBytes": resident,
        **({"cudaPeakBytes": torch.cuda.max_memory_allocated()} if dev == "cuda" else {}),
        "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
