#!/usr/bin/env python3
"""Check an MCC-KD checkpoint (.safetensors) independently of the TypeScript code.

    python3 scripts/check_safetensors.py FILE [--json] [--no-checksum]

Parses the container by hand (struct + json; no third-party package needed),
with the same strict rules as src/checkpoint/safetensors.ts: header bounds,
dtypes, shapes, data_offsets tiling the data section exactly. If the
`safetensors` package is installed it also opens the file with it and compares;
with numpy (or torch) it loads the tensors and counts non-finite values. For
format "mcckd-run/1" it checks the xxh32 checksum over the tensor bytes in
sorted name order, and every parameter's name and shape against model_config
(GPT-2 layout, Conv1D weights [in, out], weight-tied head).

Prints tensor names, shapes and metadata keys; exits 0 if the file is valid,
1 if not (each problem printed), 2 on usage errors.
"""
import json
import struct
import sys
from array import array

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER = 16 * 1024 * 1024

P1, P2, P3, P4, P5 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1
M32 = 0xFFFFFFFF


def _rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & M32


def xxh32(chunks, seed=0):
    """XXH32 of the concatenation of `chunks` (bytes-like), pure Python."""
    try:
        import xxhash  # type: ignore

        h = xxhash.xxh32(seed=seed)
        for c in chunks:
            h.update(bytes(c))
        return h.intdigest()
    except ImportError:
        pass
    data = b"".join(bytes(c) for c in chunks)
    n = len(data)
    i = 0
    if n >= 16:
        v1, v2, v3, v4 = (seed + P1 + P2) & M32, (seed + P2) & M32, seed & M32, (seed - P1) & M32
        stripes = n // 16
        words = array("I")
        words.frombytes(data[: stripes * 16])
        if sys.byteorder == "big":
            words.byteswap()
        for k in range(0, stripes * 4, 4):
            v1 = (_rotl((v1 + words[k] * P2) & M32, 13) * P1) & M32
            v2 = (_rotl((v2 + words[k + 1] * P2) & M32, 13) * P1) & M32
            v3 = (_rotl((v3 + words[k + 2] * P2) & M32, 13) * P1) & M32
            v4 = (_rotl((v4 + words[k + 3] * P2) & M32, 13) * P1) & M32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & M32
        i = stripes * 16
    else:
        h = (seed + P5) & M32
    h = (h + n) & M32
    while i + 4 <= n:
        (w,) = struct.unpack_from("<I", data, i)
        h = (_rotl((h + w * P3) & M32, 17) * P4) & M32
        i += 4
    while i < n:
        h = (_rotl((h + data[i] * P5) & M32, 11) * P1) & M32
        i += 1
    h ^= h >> 15
    h = (h * P2) & M32
    h ^= h >> 13
    h = (h * P3) & M32
    h ^= h >> 16
    return h


def expected_param_shapes(c):
    d, out = c["nEmbd"], {}
    out["transformer.wte.weight"] = [c["vocabSize"], d]
    out["transformer.wpe.weight"] = [c["blockSize"], d]
    for i in range(c["nLayer"]):
        h = f"transformer.h.{i}"
        out.update({
            f"{h}.ln_1.weight": [d], f"{h}.ln_1.bias": [d],
            f"{h}.attn.c_attn.weight": [d, 3 * d], f"{h}.attn.c_attn.bias": [3 * d],
            f"{h}.attn.c_proj.weight": [d, d], f"{h}.attn.c_proj.bias": [d],
            f"{h}.ln_2.weight": [d], f"{h}.ln_2.bias": [d],
            f"{h}.mlp.c_fc.weight": [d, 4 * d], f"{h}.mlp.c_fc.bias": [4 * d],
            f"{h}.mlp.c_proj.weight": [4 * d, d], f"{h}.mlp.c_proj.bias": [d],
        })
    out["transformer.ln_f.weight"] = [d]
    out["transformer.ln_f.bias"] = [d]
    return out


def parse(raw):
    """Returns (header_entries, metadata, data_start); raises ValueError."""
    if len(raw) < 8:
        raise ValueError(f"file is {len(raw)} bytes long: too short for the 8-byte header length")
    (n,) = struct.unpack_from("<Q", raw, 0)
    if n > MAX_HEADER:
        raise ValueError(f"header length {n} exceeds the limit of {MAX_HEADER} bytes")
    if 8 + n > len(raw):
        raise ValueError(f"header length {n} goes beyond the end of the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("header is not valid UTF-8")
    except json.JSONDecodeError as e:
        raise ValueError(f"header is not valid JSON: {e}")
    if not isinstance(header, dict):
        raise ValueError("header must be a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("__metadata__ must be an object of strings")
    data_len = len(raw) - 8 - n
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise ValueError(f'tensor "{name}": entry must be an object')
        dtype, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_SIZE:
            raise ValueError(f'tensor "{name}": unknown dtype {dtype!r}')
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise ValueError(f'tensor "{name}": shape must be a list of non-negative integers, got {shape!r}')
        if (not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offs)
                or offs[0] > offs[1]):
            raise ValueError(f'tensor "{name}": data_offsets must be [begin, end], got {offs!r}')
        numel = 1
        for s in shape:
            numel *= s
        if numel * DTYPE_SIZE[dtype] != offs[1] - offs[0]:
            raise ValueError(f'tensor "{name}": holds {offs[1] - offs[0]} bytes but shape {shape} of {dtype} needs {numel * DTYPE_SIZE[dtype]}')
        if offs[1] > data_len:
            raise ValueError(f'tensor "{name}": data_offsets {offs} go beyond the data section ({data_len} bytes)')
        entries.append((name, dtype, shape, offs[0], offs[1]))
    pos = 0
    for name, _, _, b, e in sorted(entries, key=lambda t: (t[3], t[4])):
        if b < pos:
            raise ValueError(f'tensor "{name}" overlaps the tensor before it')
        if b > pos:
            raise ValueError(f'bytes [{pos}, {b}) before tensor "{name}" belong to no tensor')
        pos = e
    if pos != data_len:
        raise ValueError(f"{data_len - pos} trailing bytes after the last tensor")
    return entries, meta, 8 + n


def check_mcckd(entries, meta, raw, start, do_checksum, report):
    errors = report["errors"]
    names = sorted(e[0] for e in entries)
    by_name = {e[0]: e for e in entries}
    if do_checksum:
        want = meta.get("checksum")
        algo = meta.get("checksum_algorithm", "xxh32")
        if algo != "xxh32":
            errors.append(f"unknown checksum algorithm {algo!r}")
        elif not want:
            errors.append('metadata "checksum" is missing')
        else:
            got = "%08x" % xxh32(raw[start + by_name[n][3] : start + by_name[n][4]] for n in names)
            report["checksum"] = {"expected": want, "actual": got, "ok": got == want.lower()}
            if got != want.lower():
                errors.append(f"checksum mismatch: file says {want}, tensor bytes hash to {got}")
    try:
        cfg = json.loads(meta["model_config"])
        exp = expected_param_shapes(cfg)
    except (KeyError, ValueError, TypeError) as e:
        errors.append(f"model_config unusable: {e!r}")
        return
    for key in ("train_config", "tokenizer", "run_state"):
        try:
            json.loads(meta[key])
        except (KeyError, ValueError) as e:
            errors.append(f"metadata {key!r} missing or not JSON: {e!r}")
    families = {"": {}, "optimizer.exp_avg.": {}, "optimizer.exp_avg_sq.": {}}
    for n in names:
        prefix = "optimizer.exp_avg_sq." if n.startswith("optimizer.exp_avg_sq.") else "optimizer.exp_avg." if n.startswith("optimizer.exp_avg.") else ""
        families[prefix][n[len(prefix):]] = by_name[n]
    report["weights_only"] = not families["optimizer.exp_avg."] and not families["optimizer.exp_avg_sq."]
    for prefix, fam in families.items():
        if prefix and report["weights_only"]:
            continue
        for n, shape in exp.items():
            if n not in fam:
                errors.append(f'"{prefix}{n}" is missing')
            elif fam[n][2] != shape or fam[n][1] != "F32":
                errors.append(f'"{prefix}{n}" is {fam[n][1]} {fam[n][2]}, model_config needs F32 {shape}')
        for n in fam:
            if n not in exp:
                errors.append(f'unexpected tensor "{prefix}{n}"')
    report["parameters"] = sum(numel_of(s) for s in exp.values())


def numel_of(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def load_arrays(entries, raw, start, report):
    """Loads F32 tensors with numpy or torch if present; counts non-finite values."""
    try:
        import numpy as np  # type: ignore

        nonfinite = 0
        for name, dtype, shape, b, e in entries:
            if dtype == "F32":
                a = np.frombuffer(raw, dtype="<f4", count=(e - b) // 4, offset=start + b).reshape(shape)
                nonfinite += int(a.size - np.isfinite(a).sum())
        report["loaded_with"] = "numpy"
        report["non_finite_values"] = nonfinite
        return
    except ImportError:
        pass
    try:
        import torch  # type: ignore

        nonfinite = 0
        for name, dtype, shape, b, e in entries:
            if dtype == "F32" and e > b:
                t = torch.frombuffer(bytearray(raw[start + b : start + e]), dtype=torch.float32).reshape(shape)
                nonfinite += int((~torch.isfinite(t)).sum())
        report["loaded_with"] = "torch"
        report["non_finite_values"] = nonfinite
    except ImportError:
        report["loaded_with"] = None


def cross_check_safetensors(path, entries, report):
    try:
        from safetensors import safe_open  # type: ignore
    except ImportError:
        report["safetensors_package"] = "not installed"
        return
    try:
        with safe_open(path, framework="numpy") as f:
            theirs = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
        ours = {e[0]: e[2] for e in entries}
        report["safetensors_package"] = "agrees" if theirs == ours else "DISAGREES"
        if theirs != ours:
            report["errors"].append("the safetensors package reads different names/shapes")
    except Exception as e:  # noqa: BLE001 - any refusal by the reference reader is a finding
        report["safetensors_package"] = f"refused: {e}"
        report["errors"].append(f"the safetensors package refused the file: {e}")


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    if len(args) != 1 or flags - {"--json", "--no-checksum"}:
        sys.stderr.write(__doc__)
        return 2
    path = args[0]
    with open(path, "rb") as fh:
        raw = fh.read()
    report = {"file": path, "bytes": len(raw), "errors": []}
    try:
        entries, meta, start = parse(raw)
    except ValueError as e:
        report["errors"].append(str(e))
        entries, meta, start = [], {}, 0
    else:
        report["tensors"] = {e[0]: {"dtype": e[1], "shape": e[2]} for e in sorted(entries)}
        report["metadata_keys"] = sorted(meta)
        report["format"] = meta.get("format")
        if meta.get("format") == "mcckd-run/1":
            check_mcckd(entries, meta, raw, start, "--no-checksum" not in flags, report)
        load_arrays(entries, raw, start, report)
        cross_check_safetensors(path, entries, report)
    report["ok"] = not report["errors"]
    if "--json" in flags:
        print(json.dumps(report))
    else:
        for name, info in report.get("tensors", {}).items():
            print(f"{name:50s} {info['dtype']:5s} {info['shape']}")
        print(f"metadata keys: {', '.join(report.get('metadata_keys', []))}")
        for k in ("format", "weights_only", "parameters", "checksum", "loaded_with", "non_finite_values", "safetensors_package"):
            if k in report:
                print(f"{k}: {report[k]}")
        for err in report["errors"]:
            print(f"ERROR: {err}")
        print("OK" if report["ok"] else "INVALID")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
