#!/usr/bin/env python3
"""MCC-KD with PyTorch + transformers + PEFT + Accelerate: the run exported by
`mcckd export --format recipe`, at any scale.

    python train_mcckd.py [--max-steps N] [--output-dir OUT] [--cpu] [--SETTING VALUE ...]
    accelerate launch --multi_gpu --num_processes N train_mcckd.py ... [--cpu]

Every key of recipe.yaml (beside this file) is a flag of the same name. The
result is OUT/adapter_config.json + OUT/adapter_model.safetensors (a PEFT
adapter), OUT/metrics.jsonl (mcckd's run-folder format) and OUT/recipe.yaml
(the settings used); `mcckd import --adapter OUT --student BASE --out RUN`
makes it an mcckd run again.

What one step computes (mcckd's src/core/losses.ts and batch.ts, exactly):
- a batch is `batch_size` questions; question q gives two rows, two distinct
  rationales a and b (from data/order.jsonl); a question with one rationale
  repeats it in the second row with no loss there and no KL pair;
- row = prompt + rationale + end token; position t predicts token t+1, and
  the CE covers the targets from ce_start on (rationale, answer, end token);
- CE = sum of per-token CE over those targets / their number in the batch;
- KL: for each answer token s of the pair (same answer ids after a and b), the
  logits predicting it after a (za) and after b (zb);
  0.5 * (KL(P||Q) + KL(Q||P)) with P = softmax(za / T), Q = softmax(zb / T),
  mean over the pair's answer tokens, then mean over the pairs that have one;
- loss = CE + alpha * KL (alpha = 0: the loss is the CE alone).
The global batch is split over processes and gradient-accumulation
micro-batches; each part's loss is its share of the global sums divided by
the global counts, so the summed gradient is the global batch's exactly.
"""
import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- settings --------------------------------------------------------------


def read_recipe(path):
    """recipe.yaml is JSON (a subset of YAML 1.2), after any '#' comment lines."""
    with open(path, encoding="utf-8") as f:
        text = "".join(line for line in f if not line.lstrip().startswith("#"))
    return json.loads(text)


def parse_args(argv, recipe):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default=os.path.join(HERE, "recipe.yaml"), help="the settings file (default: beside this script)")
    ap.add_argument("--max-steps", "--max_steps", type=int, default=None, help="stop after N steps (the schedule stays that of --steps)")
    ap.add_argument("--output-dir", "--output_dir", default="out", help="where the adapter and metrics.jsonl go")
    ap.add_argument("--cpu", action="store_true", help="train on the CPU (float32) even when a GPU is there")
    ap.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                    help="the frozen base's dtype and autocast: auto = bfloat16 on a GPU, float32 on the CPU")
    for key, value in recipe.items():
        if key == "format":
            continue
        kind = type(value)
        flags = ["--" + key] + (["--" + key.replace("_", "-")] if "_" in key else [])
        if isinstance(value, bool):
            ap.add_argument(*flags, dest=key, type=lambda s: s.lower() in ("1", "true", "yes"), default=value)
        elif isinstance(value, list):
            ap.add_argument(*flags, dest=key, type=lambda s: [x for x in s.split(",") if x], default=value)
        elif isinstance(value, (int, float)):
            ap.add_argument(*flags, dest=key, type=float if kind is float else _int_or_float, default=value)
        elif value is None or isinstance(value, str):
            ap.add_argument(*flags, dest=key, default=value)
        else:  # an object (metrics_at_export): informative only
            continue
    return ap.parse_args(argv)


def _int_or_float(s):
    x = float(s)
    return int(x) if x.is_integer() and "." not in s and "e" not in s.lower() else x


RECIPE_DIR = [HERE]  # where recipe.yaml is: its relative paths start there


def resolve(path):
    """A path as given when it exists from here, else beside recipe.yaml."""
    return path if not path or os.path.isabs(path) or os.path.exists(path) else os.path.join(RECIPE_DIR[0], path)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- schedule and data order -------------------------------------------------


def learning_rate(step, a):
    """Linear warmup, then cosine to min_lr (src/core/schedule.ts); step is 0-based."""
    if a.warmup_steps > 0 and step < a.warmup_steps:
        return a.lr * (step + 1) / a.warmup_steps
    span = max(1, a.steps - a.warmup_steps)
    progress = min(1.0, max(0.0, (step - a.warmup_steps) / span))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * progress))


def picks_for(step, order, groups, a, gen):
    """The questions of optimizer step `step` (1-based): the run's own from
    order.jsonl, then a seeded shuffle of our own with the same pairing rule."""
    if step <= len(order):
        return order[step - 1]
    import torch

    picks = []
    while len(picks) < a.batch_size:
        if not gen["queue"]:
            gen["queue"] = torch.randperm(len(groups), generator=gen["g"]).tolist()
        g = gen["queue"].pop(0)
        k = len(groups[g]["rationales"])
        if k == 1:
            picks.append([g, 0, None])
            continue
        x = int(torch.randint(k, (1,), generator=gen["g"]))
        y = (x + 1 + int(torch.randint(k - 1, (1,), generator=gen["g"]))) % k
        picks.append([g, x, y])
    return picks


def build_batch(picks, groups, a, torch):
    """Rows, targets, CE weights and KL rows of some questions (src/core/batch.ts)."""
    rows = []
    for g, i, j in picks:
        rs = groups[g]["rationales"]
        rows.append((rs[i], 1.0))
        rows.append((rs[j] if j is not None else rs[i], 1.0 if j is not None else 0.0))
    longest = max(1, max(len(r["ids"]) - 1 for r, _ in rows))
    t = min(a.block_size, -(-longest // a.pad_multiple) * a.pad_multiple)
    ids = torch.full((len(rows), t), a.pad_id, dtype=torch.long)
    targets = torch.full((len(rows), t), a.pad_id, dtype=torch.long)
    weight = torch.zeros(len(rows), t)
    for n, (r, w) in enumerate(rows):
        x = r["ids"]
        ids[n, : len(x) - 1] = torch.tensor(x[:-1])
        targets[n, : len(x) - 1] = torch.tensor(x[1:])
        # position p predicts x[p + 1]: trained when that token is past the prompt
        weight[n, max(0, r["ce_start"] - 1): len(x) - 1] = w
    # KL pairs: the same answer tokens after both rationales
    span = max([rs_a["span"][1] - rs_a["span"][0] for (rs_a, _), (_, wb) in zip(rows[0::2], rows[1::2]) if wb > 0] + [0])
    ka, kb, mask = [], [], []
    if span > 0:
        for q in range(len(picks)):
            ra, (rb, wb) = rows[2 * q][0], rows[2 * q + 1]
            la, lb = ra["span"][1] - ra["span"][0], rb["span"][1] - rb["span"][0]
            same = wb > 0 and la == lb and ra["ids"][ra["span"][0]: ra["span"][1]] == rb["ids"][rb["span"][0]: rb["span"][1]]
            for s in range(span):
                ok = same and s < la and ra["span"][0] >= 1 and rb["span"][0] >= 1
                # the logits at position span_start + s - 1 predict answer token s
                ka.append(2 * q * t + ra["span"][0] + s - 1 if ok else 0)
                kb.append((2 * q + 1) * t + rb["span"][0] + s - 1 if ok else 0)
                mask.append(1.0 if ok else 0.0)
    pairs = len(picks) if span > 0 else 0
    return {
        "ids": ids,
        "targets": targets.reshape(-1),
        "weight": weight.reshape(-1),
        "kl_a": torch.tensor(ka, dtype=torch.long),
        "kl_b": torch.tensor(kb, dtype=torch.long),
        "kl_mask": torch.tensor(mask).reshape(pairs, span),
        "tokens": int(sum(len(r["ids"]) - 1 for r, w in rows if w > 0)),
    }


# ---- the loss ----------------------------------------------------------------


def symmetric_kl(za, zb, temperature, torch):
    """0.5 * (KL(P||Q) + KL(Q||P)) per row, P = softmax(za / T), Q = softmax(zb / T)."""
    lp = torch.log_softmax(za / temperature, dim=-1)
    lq = torch.log_softmax(zb / temperature, dim=-1)
    return 0.5 * ((lp.exp() - lq.exp()) * (lp - lq)).sum(-1)


def loss_parts(logits, b, temperature, torch):
    """The sums the loss is made of, for logits [R*T, V]: the weighted CE sum,
    the sum over pairs of each pair's mean KL, and the KL of each pair [P]."""
    ce_tok = torch.logsumexp(logits, -1) - logits.gather(1, b["targets"][:, None])[:, 0]
    ce_sum = (ce_tok * b["weight"].to(logits.dtype)).sum()
    p, s = b["kl_mask"].shape
    if p * s == 0:
        zero = logits.sum() * 0
        return ce_sum, zero, zero
    mask = b["kl_mask"].to(logits.dtype)
    per = symmetric_kl(logits[b["kl_a"]], logits[b["kl_b"]], temperature, torch).reshape(p, s) * mask
    n = mask.sum(1)
    per_pair = per.sum(1) / n.clamp(min=1)
    has = (n > 0).to(logits.dtype)
    return ce_sum, (per_pair * has).sum(), per_pair


def mcckd_loss(logits, b, alpha, temperature, torch, ce_count=None, pair_count=None):
    """The MCC-KD loss of logits [R*T, V] (losses.ts mcckdLossFrom): returns
    (loss, ce, kl). With the global batch's counts given, the part of the
    global loss this (micro-)batch contributes."""
    ce_sum, kl_sum, _ = loss_parts(logits, b, temperature, torch)
    if ce_count is None:
        ce_count = float(b["weight"].sum())
    if pair_count is None:
        pair_count = float((b["kl_mask"].sum(1) > 0).sum()) if b["kl_mask"].numel() else 0.0
    ce = ce_sum / max(ce_count, 1.0)
    kl = kl_sum / max(pair_count, 1.0)
    loss = ce + alpha * kl if alpha > 0 else ce
    return loss, ce, kl


# ---- the model -------------------------------------------------------------


def load_model(a, torch):
    from transformers import AutoModelForCausalLM
    import peft

    # the frozen base in the compute dtype (bf16 halves it on a GPU); PEFT keeps the adapter in float32
    base_dtype = torch.bfloat16 if a.dtype_used == "bfloat16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(resolve(a.base), dtype=base_dtype, attn_implementation="eager")
    model.config.use_cache = False
    adapter = resolve(a.adapter) if a.adapter else ""
    if adapter:
        model = peft.PeftModel.from_pretrained(model, adapter, is_trainable=True)
        c = model.peft_config["default"]
        if c.r != int(a.lora_r) or float(c.lora_alpha) != float(a.lora_alpha):
            print(f"note: the adapter in {adapter} has r {c.r}, lora_alpha {c.lora_alpha}: they are used, not --lora_r/--lora_alpha", file=sys.stderr)
    else:
        fan_in_fan_out = model.config.model_type == "gpt2"  # Conv1D stores [in, out]
        config = peft.LoraConfig(r=int(a.lora_r), lora_alpha=a.lora_alpha, lora_dropout=float(a.lora_dropout),
                                 target_modules=list(a.lora_targets), bias="none", fan_in_fan_out=fan_in_fan_out,
                                 task_type="CAUSAL_LM")
        model = peft.get_peft_model(model, config)
    return model


def decays(name, p):
    """Decay matrices that are not embeddings (src/core/optimizer.ts)."""
    return p.ndim == 2 and ".wte." not in name and ".wpe." not in name


def save_adapter(model, out, a, accelerator):
    """adapter_config.json + adapter_model.safetensors, with the base's
    fingerprint in the metadata as mcckd's export writes it."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    unwrapped = accelerator.unwrap_model(model)
    state = get_peft_model_state_dict(unwrapped, state_dict=accelerator.get_state_dict(model), save_embedding_layers=False)
    if not accelerator.is_main_process:
        return
    unwrapped.peft_config["default"].save_pretrained(out)
    meta = {"format": "pt"}
    for k in ("fingerprint", "name", "arch"):
        v = getattr(a, "base_" + k, None)
        if v:
            meta["mcckd.base_" + k] = str(v)
    save_file({k: v.detach().float().contiguous().cpu() for k, v in state.items()}, os.path.join(out, "adapter_model.safetensors"), metadata=meta)


# ---- training ----------------------------------------------------------------


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--recipe", default=os.path.join(HERE, "recipe.yaml"))
    recipe_path = pre.parse_known_args(argv)[0].recipe
    RECIPE_DIR[0] = os.path.dirname(os.path.abspath(recipe_path))
    recipe = read_recipe(recipe_path)
    a = parse_args(argv, recipe)

    import torch
    from accelerate import Accelerator

    dtype = a.dtype if a.dtype != "auto" else ("float32" if a.cpu or not torch.cuda.is_available() else "bfloat16")
    a.dtype_used = dtype
    accelerator = Accelerator(cpu=a.cpu, mixed_precision="bf16" if dtype == "bfloat16" else "no")
    world, rank = accelerator.num_processes, accelerator.process_index
    accum = int(a.gradient_accumulation_steps)
    if a.batch_size % (world * accum):
        sys.exit(f"--batch_size {a.batch_size} must be a multiple of processes x --gradient_accumulation_steps ({world} x {accum})")
    micro = a.batch_size // (world * accum)
    if accelerator.is_main_process:
        print(f"training on {world} processes ({accelerator.distributed_type.value}), {accum} micro-batches of {micro} "
              f"questions each per process, {dtype}", file=sys.stderr)
    torch.manual_seed(int(a.seed))

    groups = read_jsonl(resolve(a.train_file))
    order = read_jsonl(resolve(a.order_file)) if a.order_file and os.path.exists(resolve(a.order_file)) else []
    order = [o["picks"] for o in order if len(o["picks"]) == a.batch_size]
    if not groups:
        sys.exit(f"{a.train_file}: no training questions")
    gen = {"g": torch.Generator().manual_seed(int(a.seed)), "queue": []}

    model = load_model(a, torch)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in params if decays(n, p)], "weight_decay": a.weight_decay},
         {"params": [p for n, p in params if not decays(n, p)], "weight_decay": 0.0}],
        lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    model, opt = accelerator.prepare(model, opt)
    # mcckd trains without dropout (the base's resid/attn/embd dropout, and
    # lora_dropout 0): eval mode switches dropout off, gradients still flow
    model.eval()
    if float(a.lora_dropout) > 0 and accelerator.is_main_process:
        print("warning: --lora_dropout has no effect: the recipe trains without dropout, as mcckd does", file=sys.stderr)

    out = a.output_dir
    if accelerator.is_main_process:
        os.makedirs(out, exist_ok=True)
        open(os.path.join(out, "metrics.jsonl"), "w").close()
        # the settings this run trained with (flags applied): `mcckd import` reads them
        used = {k: getattr(a, k, v) for k, v in recipe.items()}
        with open(os.path.join(out, "recipe.yaml"), "w", encoding="utf-8") as f:
            f.write(json.dumps(used, indent=2) + "\n")
    last = min(int(a.steps), a.max_steps) if a.max_steps else int(a.steps)
    t0 = time.time()
    since = {"tokens": 0, "t": t0}
    skipped = 0
    device = accelerator.device
    for step in range(last):
        lr = learning_rate(step, a)
        for group in opt.param_groups:
            group["lr"] = lr
        picks = picks_for(step + 1, order, groups, a, gen)
        whole = build_batch(picks, groups, a, torch)
        ce_count = float(whole["weight"].sum())
        pair_count = float((whole["kl_mask"].sum(1) > 0).sum()) if whole["kl_mask"].numel() else 0.0
        mine = picks[rank * micro * accum: (rank + 1) * micro * accum]
        totals = torch.zeros(3, device=device, dtype=torch.float64)  # loss, ce, kl: this process's share
        for m in range(accum):
            b = build_batch(mine[m * micro: (m + 1) * micro], groups, a, torch)
            b = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in b.items()}
            sync = m == accum - 1
            ctx = accelerator.no_sync(model) if not sync else _null()
            with ctx, accelerator.autocast():
                z = model(input_ids=b["ids"]).logits.float()  # [rows, T, V]
                logits = z.reshape(-1, z.shape[-1])  # [rows * T, V]
                loss, ce, kl = mcckd_loss(logits, b, a.alpha, a.temperature, torch, ce_count, pair_count)
                # DDP averages gradients over processes: scale so they sum
                accelerator.backward(loss * world)
            totals += torch.stack([loss.detach(), ce.detach(), kl.detach()]).double()
        totals = accelerator.reduce(totals, reduction="sum")
        norm = accelerator.clip_grad_norm_(model.parameters(), a.grad_clip) if a.grad_clip > 0 else None
        finite = bool(torch.isfinite(totals[0])) and (norm is None or bool(torch.isfinite(torch.as_tensor(norm))))
        if finite:
            opt.step()
        else:
            skipped += 1  # as mcckd's AdamW: a step with a non-finite loss or gradient changes nothing
        opt.zero_grad(set_to_none=True)
        since["tokens"] += whole["tokens"]
        n = step + 1
        if accelerator.is_main_process and (n % int(a.log_every) == 0 or n == last or n == int(a.steps)):
            now = time.time()
            point = {"step": n, "loss": float(totals[0]), "ce": float(totals[1]), "kl": float(totals[2]), "lr": lr,
                     "tokensPerSecond": since["tokens"] / max(1e-6, now - since["t"]), "time": (now - t0) * 1000}
            since = {"tokens": 0, "t": now}
            with open(os.path.join(out, "metrics.jsonl"), "a") as f:
                f.write(json.dumps(point) + "\n")
            print(json.dumps(point), flush=True)
    if skipped:
        print(f"warning: {skipped} steps skipped for a non-finite loss or gradient", file=sys.stderr)
    accelerator.wait_for_everyone()
    save_adapter(model, out, a, accelerator)
    if accelerator.is_main_process:
        print(f"saved the adapter and metrics.jsonl to {os.path.abspath(out)}", file=sys.stderr)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
