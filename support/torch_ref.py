"""PyTorch reference for the bench: the same GPT student and MCC-KD loss,
fed the same initial weights (our own .safetensors export) and the same
batches, so that losses can be compared and throughput measured side by side.

Input: a JSON case file written by support/torch.ts:
  {"weights": "path.safetensors", "config": ModelConfig, "train": {...},
   "batches": [{"inputs": [[int]], "targets": [[int]], "ceWeight": [[float]],
                "klA": [[int]], "klB": [[int]], "klMask": [[float]]}],
   "timedSteps": N, "warmupSteps": W, "device": "cpu"|"cuda", "threads": N}
("threads": torch.set_num_threads, so that the ratio to our single-threaded
backends compares one thread with one thread; absent: torch's default, which
is every core for the pip wheel and 1 for Debian's python3-torch 1.13).
Output (stdout, one JSON object): losses per checked step, ms (wall, and CPU
time of the process) per timed step, tokens per second, and which PyTorch ran
(torch_info).
"""
import json
import math
import struct
import sys
import time

import torch
import torch.nn.functional as F


def torch_info():
    """Which PyTorch this is, for every bench row: its version, where it came
    from ("wheel": pip's install of the PyTorch wheel, e.g. the repository's
    .venv; "debian": Debian's python3-torch; "other"), the thread count it
    will use now, and the path it was imported from."""
    import importlib.metadata

    where = torch.__file__ or ""
    build = "other"
    if where.startswith("/usr/lib/python3/dist-packages/"):
        build = "debian"
    else:
        try:
            installer = (importlib.metadata.distribution("torch").read_text("INSTALLER") or "").strip()
        except importlib.metadata.PackageNotFoundError:
            installer = ""
        if installer in ("pip", "uv"):
            build = "wheel"
    return {"torch": torch.__version__, "build": build, "threads": torch.get_num_threads(), "torchPath": where}


def set_threads(n):
    """Intra-op (and, where still possible, inter-op) threads; None keeps torch's default."""
    if not n:
        return
    torch.set_num_threads(int(n))
    try:
        torch.set_num_interop_threads(int(n))
    except RuntimeError:
        pass  # only settable before the first parallel work; intra-op is what the kernels use


def load_safetensors(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = memoryview(raw)[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or name.startswith("optimizer."):
            continue  # AdamW moments: the reference starts its own optimizer
        assert info["dtype"] == "F32", name
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[b:e]), dtype=torch.float32).reshape(info["shape"])
        out[name] = t
    return out, header.get("__metadata__", {})


class GPT(torch.nn.Module):
    """GPT-2 layout; Conv1D weights stored [in, out] as in our export."""

    def __init__(self, c, w):
        super().__init__()
        self.c = c
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v.clone()) for k, v in w.items()})

    def g(self, name):
        return self.p[name.replace(".", "__")]

    def ln(self, x, pre):
        return F.layer_norm(x, (x.shape[-1],), self.g(pre + ".weight"), self.g(pre + ".bias"), self.c["layerNormEps"])

    def lin(self, x, pre):
        return x @ self.g(pre + ".weight") + self.g(pre + ".bias")

    def forward(self, ids):
        R, T = ids.shape
        d, H = self.c["nEmbd"], self.c["nHead"]
        wte = self.g("transformer.wte.weight")
        x = wte[ids] + self.g("transformer.wpe.weight")[:T]  # [R,T,d]
        mask = torch.ones(T, T, dtype=torch.bool, device=ids.device).tril()
        for i in range(self.c["nLayer"]):
            pre = f"transformer.h.{i}"
            h = self.ln(x, pre + ".ln_1")
            qkv = self.lin(h, pre + ".attn.c_attn")  # [R,T,3d]
            q, k, v = qkv.split(d, dim=2)
            q = q.view(R, T, H, d // H).transpose(1, 2)  # [R,H,T,hd]
            k = k.view(R, T, H, d // H).transpose(1, 2)
            v = v.view(R, T, H, d // H).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(d // H)  # [R,H,T,T]
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(R, T, d)
            x = x + self.lin(y, pre + ".attn.c_proj")
            h = self.ln(x, pre + ".ln_2")
            h = F.gelu(self.lin(h, pre + ".mlp.c_fc"), approximate="tanh")
            x = x + self.lin(h, pre + ".mlp.c_proj")
        x = self.ln(x, "transformer.ln_f")
        return x @ wte.T  # [R,T,V]


def mcckd_loss(logits, b, alpha, temperature):
    R, T, V = logits.shape
    flat = logits.reshape(R * T, V)
    ce = F.cross_entropy(flat, b["targets"].reshape(-1), reduction="none")
    w = b["ceWeight"].reshape(-1)
    ce = (ce * w).sum() / w.sum().clamp(min=1)
    kl = torch.zeros((), device=logits.device)
    if alpha > 0 and b["klMask"].sum() > 0:
        za = flat[b["klA"].reshape(-1)] / temperature
        zb = flat[b["klB"].reshape(-1)] / temperature
        lp, lq = za.log_softmax(-1), zb.log_softmax(-1)
        per = 0.5 * ((lp.exp() * (lp - lq)).sum(-1) + (lq.exp() * (lq - lp)).sum(-1))
        m = b["klMask"]
        per = per.reshape(m.shape) * m
        per_pair = per.sum(1) / m.sum(1).clamp(min=1)
        has = (m.sum(1) > 0).float()
        kl = (per_pair * has).sum() / has.sum().clamp(min=1)
    return ce + alpha * kl, ce, kl


def main():
    case = json.load(open(sys.argv[1]))
    dev = case.get("device", "cpu")
    if dev == "cuda" and not torch.cuda.is_available():
        dev = "cpu"
    set_threads(case.get("threads"))
    w, _ = load_safetensors(case["weights"])
    c, tr = case["config"], case["train"]
    model = GPT(c, w).to(dev)
    # decoupled decay on matrices only: not on biases, LayerNorm or embeddings
    names = {id(p): n.replace("__", ".") for n, p in model.p.items()}
    decay = [p for p in model.p.values() if p.ndim == 2 and "wte" not in names[id(p)] and "wpe" not in names[id(p)]]
    no_decay = [p for p in model.p.values() if not (p.ndim == 2 and "wte" not in names[id(p)] and "wpe" not in names[id(p)])]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tr["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=tr["lr"], betas=(tr["beta1"], tr["beta2"]), eps=tr["eps"])
    batches = []
    for b in case["batches"]:
        batches.append({
            "inputs": torch.tensor(b["inputs"], dtype=torch.long, device=dev),
            "targets": torch.tensor(b["targets"], dtype=torch.long, device=dev),
            "ceWeight": torch.tensor(b["ceWeight"], dtype=torch.float32, device=dev),
            "klA": torch.tensor(b["klA"], dtype=torch.long, device=dev),
            "klB": torch.tensor(b["klB"], dtype=torch.long, device=dev),
            "klMask": torch.tensor(b["klMask"], dtype=torch.float32, device=dev),
            "lr": b["lr"],
        })
    losses, times, cpu, tokens = [], [], [], []
    n = case.get("timedSteps", len(batches))
    warm = case.get("warmupSteps", 1)
    # every given batch is checked once, whatever the timing settings
    for step in range(max(len(batches), warm + n)):
        b = batches[step % len(batches)]
        t0, c0 = time.perf_counter(), time.process_time()
        for g in opt.param_groups:
            g["lr"] = b["lr"]
        logits = model(b["inputs"])
        loss, ce, kl = mcckd_loss(logits, b, tr["alpha"], tr["temperature"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tr["gradClip"] > 0:
            torch.nn.utils.clip_grad_norm_(list(model.p.values()), tr["gradClip"])
        opt.step()
        if dev == "cuda":
            torch.cuda.synchronize()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if step < len(batches):
            losses.append({"loss": loss.item(), "ce": ce.item(), "kl": kl.item()})
        if step >= warm:
            times.append(dt * 1000)
            cpu.append(dc * 1000)
            tokens.append(float(b["ceWeight"].numel()))
    times_sorted = sorted(times)
    med = times_sorted[len(times_sorted) // 2]
    print(json.dumps({"device": dev, **torch_info(), "losses": losses,
                      "msPerStep": times, "medianMs": med,
                      "cpuMsPerStep": cpu, "medianCpuMs": sorted(cpu)[len(cpu) // 2], "tokensPerSecond": tokens[0] / (med / 1000)}))


if __name__ == "__main__":
    main()
