// PEFT LoRA in the PyTorch reference (support/hf_ref.py --adapter / --grad /
// --grad-base / --merge-to), the yardstick our TypeScript LoRA will be held to.
// scripts/hf/make_tiny.py --adapters writes a PEFT adapter folder beside every
// tiny model; the helper below (Python, run with Debian's python3) derives
// grid copies, finite differences and broken adapters from them. Checks:
//   (a) scoring with --adapter equals scoring the merged model (W + (B A) s,
//       transposed for GPT-2's Conv1D) within 1e-9. Exactness needs the merged
//       weights to be representable in the F32 file, so the 1e-9 check runs on
//       grid copies (base on a 2^-8 grid, A and B on 2^-4: every merged value
//       is exact in float32); the real std-0.2 adapters are checked within the
//       F32 rounding of the merge (1e-5), and --merge-to's file is compared
//       byte for byte with a merge the helper computes on its own;
//   (b) --grad / --grad-base agree with central differences of the loss;
//   (c) hostile adapters and misused flags are refused (exit 2, named).
// Skipped when Debian's python3 cannot import torch (.ci/run's .venv, or MCCKD_PYTHON: support/python.ts).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeHfRef, hfRef } from '../../support/hf-ref';
import { PY } from '../../support/python';
// no __pycache__ next to the scripts
const ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAKE_TINY = path.join(ROOT, 'scripts/hf/make_tiny.py');

const hasTorch = spawnSync(PY, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) {
  console.warn(`hf-lora-ref: skipped, ${PY} cannot import torch (.ci/run's .venv, or MCCKD_PYTHON: support/python.ts)`);
}

// The helper: `python3 -c HELPER <command> <json>` prints one JSON value.
//   grid:    <case>.grid (every base tensor rounded to 2^-8, stored F32),
//            <case>.grid.lora (A, B rounded to 2^-4) and <case>.grid.inline-merged
//            (the merge computed here, independently of hf_ref's --merge-to)
//   fd:      central differences of hf_ref's loss for probes {kind, name, index}
//   hostile: broken adapter folders, each with the phrase its refusal names
const HELPER = String.raw`
import contextlib, io, json, os, shutil, sys
sys.dont_write_bytecode = True
cmd, arg = sys.argv[1], json.loads(sys.argv[2])
sys.path[:0] = [os.path.join(arg["root"], "scripts/hf"), os.path.join(arg["root"], "support")]
import numpy as np
import make_tiny as mt
import hf_ref as hr

P = "base_model.model."


def read_model(folder):
    return hr.read_weights(folder, np)


def read_lora(folder):
    cfg = json.load(open(os.path.join(folder, "adapter_config.json")))
    return cfg, hr.read_safetensors(os.path.join(folder, "adapter_model.safetensors"), np)


def write_lora(folder, cfg, w):
    os.makedirs(folder, exist_ok=True)
    mt.write_json(os.path.join(folder, "adapter_config.json"), cfg)
    with open(os.path.join(folder, "adapter_model.safetensors"), "wb") as f:
        f.write(mt.safetensors_bytes(w, "F32", {"format": "pt"}))


def write_base(src, dst, w):
    """dst/: src's json files, one F32 model.safetensors holding w."""
    os.makedirs(dst, exist_ok=True)
    for fn in ("config.json", "generation_config.json"):
        shutil.copyfile(os.path.join(src, fn), os.path.join(dst, fn))
    mt.write_model(dst, w, "F32")


def grid(a):
    """<case>.grid (every base tensor on the 2^-8 grid, F32), <case>.grid.lora
    (A, B on the 2^-4 grid) and <case>.grid.inline-merged (W + (B @ A) * s by
    this script): every merged value is exact in float32."""
    src, dst = a["src"], a["dst"]
    out = {}
    for case in a["cases"]:
        cfg = json.load(open(os.path.join(src, case, "config.json")))
        w = {k: np.round(v.astype(np.float64) * 256) / 256 for k, v in read_model(os.path.join(src, case)).items()}
        lcfg, lw = read_lora(os.path.join(src, case + ".lora"))
        lw = {k: np.round(v.astype(np.float64) * 16) / 16 for k, v in lw.items()}
        write_base(os.path.join(src, case), os.path.join(dst, case + ".grid"), w)
        write_lora(os.path.join(dst, case + ".grid.lora"), lcfg, lw)
        s = lcfg["lora_alpha"] / lcfg["r"]
        merged = dict(w)
        for k in lw:
            if not k.endswith(".lora_A.weight"):
                continue
            module = k[len(P) : -len(".lora_A.weight")]
            name = module + ".weight"
            if name not in merged:  # GPT-2 keys stored without transformer.
                name = name[len("transformer.") :]
            delta = (lw[k[: -len("A.weight")] + "B.weight"] @ lw[k]) * s  # [out, in]
            merged[name] = merged[name] + (delta.T if cfg["model_type"] == "gpt2" else delta)
        exact = all(np.array_equal(v.astype(np.float32).astype(np.float64), v) for v in merged.values())
        write_base(os.path.join(src, case), os.path.join(dst, case + ".grid.inline-merged"), merged)
        out[case] = {"exact": exact, "changed": sum(1 for k in merged if merged[k] is not w[k])}
    return out


def loss_of(model, adapter, ids, name):
    """The "loss" hf_ref's command line prints (--grad with an adapter, else --grad-base)."""
    extra = ["--adapter", adapter, "--grad"] if adapter else ["--grad-base", name]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = hr.main([model, "--ids", ",".join(map(str, ids))] + extra)
    assert rc == 0, f"hf_ref failed on {model} {adapter}"
    return json.loads(buf.getvalue())["loss"]


def fd(a):
    """Central differences of the loss for probes {kind: lora | base, name, index}:
    the tensor is stored F32, so the step is what storage kept: x+ - x-."""
    model, adapter, ids, h, tmp = a["model"], a["adapter"], a["ids"], a["h"], a["tmp"]
    base_w = read_model(model)
    lcfg, lw = read_lora(adapter) if adapter else (None, {})
    out = []
    for i, p in enumerate(a["probes"]):
        src = lw if p["kind"] == "lora" else base_w
        x = src[p["name"]].reshape(-1)
        vals, losses = [], []
        for sign in (1, -1):
            t = x.copy()
            t[p["index"]] = np.float32(float(x[p["index"]]) + sign * h)
            vals.append(float(t[p["index"]]))
            w2 = dict(src, **{p["name"]: t.reshape(src[p["name"]].shape)})
            d = os.path.join(tmp, f"fd{i}{'p' if sign > 0 else 'm'}")
            if p["kind"] == "lora":
                write_lora(d, lcfg, w2)
                losses.append(loss_of(model, d, ids, p["name"]))
            else:
                write_base(model, d, w2)
                losses.append(loss_of(d, adapter, ids, p["name"]))
        out.append({"fd": (losses[0] - losses[1]) / (vals[0] - vals[1]), "step": vals[0] - vals[1]})
    return out


def hostile(a):
    """Broken adapters, each with the phrase its refusal must name."""
    src, dst = a["src"], a["dst"]
    cases = {}

    def case(name, model, expect, cfg, w, drop_config=False, pickle_only=False):
        d = os.path.join(dst, name)
        write_lora(d, cfg, w)
        if drop_config:
            os.remove(os.path.join(d, "adapter_config.json"))
        if pickle_only:
            os.rename(os.path.join(d, "adapter_model.safetensors"), os.path.join(d, "adapter_model.bin"))
        cases[name] = {"model": model, "expect": expect}

    L = "llama-gqa"
    lc, lw = read_lora(os.path.join(src, L + ".lora"))
    k = P + "model.layers.0.self_attn.k_proj.lora_B.weight"
    case("wrong-shape", L, k, lc, dict(lw, **{k: np.zeros((64, 4), np.float32)}))  # as if 4 kv heads
    g = P + "transformer.h.0.attn.c_attn.lora_A.weight"
    gc, gw = read_lora(os.path.join(src, "gpt2-tiny.lora"))
    case("transposed-a", "gpt2-tiny", g, gc, dict(gw, **{g: gw[g].T.copy()}))
    case("unknown-target", L, "nonexistent_proj", dict(lc, target_modules=["nonexistent_proj"]), lw)
    case("rslora", L, "use_rslora", dict(lc, use_rslora=True), lw)
    case("dora", L, "use_dora", dict(lc, use_dora=True), lw)
    case("rank-pattern", L, "rank_pattern", dict(lc, rank_pattern={"q_proj": 8}), lw)
    case("alpha-pattern", L, "alpha_pattern", dict(lc, alpha_pattern={"q_proj": 16}), lw)
    case("bias-all", L, "bias", dict(lc, bias="all"), lw)
    case("modules-to-save", L, "modules_to_save", dict(lc, modules_to_save=["lm_head"]), lw)
    case("not-lora", L, "peft_type", dict(lc, peft_type="IA3"), lw)
    case("pissa", L, "init_lora_weights", dict(lc, init_lora_weights="pissa"), lw)
    case("r-mismatch", L, P + "model.layers.0.self_attn.q_proj.lora_A.weight", dict(lc, r=8), lw)
    case("untargeted-tensor", L, P + "model.layers.0.self_attn.o_proj.lora_A.weight", dict(lc, target_modules=["q_proj", "k_proj", "v_proj"]), lw)
    v = P + "model.layers.1.self_attn.v_proj.lora_B.weight"
    case("missing-tensor", L, v, lc, {n: t for n, t in lw.items() if n != v})
    x = P + "model.layers.5.self_attn.q_proj.lora_A.weight"
    case("extra-layer", L, "model.layers.5.self_attn.q_proj", lc, dict(lw, **{x: lw[P + "model.layers.0.self_attn.q_proj.lora_A.weight"]}))
    case("lm-head", L, "lm_head", dict(lc, target_modules=["q_proj", "lm_head"]), lw)
    case("attn-block", "gpt2-tiny", "transformer.h.0.attn (GPT2Attention)", dict(gc, target_modules=["attn"]), gw)
    case("missing-config", L, "adapter_config.json", lc, lw, drop_config=True)
    case("pickle-only", L, "adapter_model.bin", lc, lw, pickle_only=True)
    return cases


print(json.dumps({"grid": grid, "fd": fd, "hostile": hostile}[cmd](arg)))
`;

type Json = Record<string, unknown>;
const readJson = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;

interface RefResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** One python3 run, asynchronous so that independent runs overlap. */
function py(args: string[]): Promise<RefResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(PY, args, { env: ENV });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const ref = (folder: string, ids: number[] | null, extra: string[] = []): Promise<RefResult> =>
  hfRef([folder, ...(ids ? ['--ids', ids.join(',')] : []), ...extra]);

interface RefOut {
  ids: number[];
  logprobs: (number | null)[];
  loss?: number;
  grads?: Record<string, number[]>;
  base_grads?: Record<string, number[]>;
  merged_to?: string;
  merged?: string[];
}

async function refOk(folder: string, ids: number[] | null, extra: string[] = []): Promise<RefOut> {
  const r = await ref(folder, ids, extra);
  if (r.status !== 0) throw new Error(`hf_ref.py ${folder} ${extra.join(' ')} failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  expect(lines.length).toBe(1);
  return JSON.parse(lines[0]) as RefOut;
}

const lps = (o: RefOut): number[] => o.logprobs.slice(1) as number[];

async function helper<T>(cmd: string, arg: Json): Promise<T> {
  const r = await py(['-c', HELPER, cmd, JSON.stringify({ root: ROOT, ...arg })]);
  if (r.status !== 0) throw new Error(`helper ${cmd} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Runs f over items, `n` at a time. */
async function pool<T, R>(items: T[], f: (x: T) => Promise<R>): Promise<R[]> {
  const n = Math.max(2, Math.min(4, cpus().length));
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]);
      }
    }),
  );
  return out;
}

/** Deterministic ids below `vocab` (a small LCG). */
function someIds(n: number, vocab: number, seed = 7): number[] {
  const out: number[] = [];
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out.push(s % vocab);
  }
  return out;
}

const maxDiff = (a: number[], b: number[]): number => {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i])));
};

const CASES = ['gpt2-tiny', 'gpt2-noprefix', 'gpt2-f16', 'llama-gqa', 'llama-tied', 'qwen2-tiny', 'llama-sharded'];
const P = 'base_model.model.';

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function readHeader(file: string): { raw: string; entries: Record<string, HeaderEntry> } {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const raw = bytes.subarray(8, 8 + n).toString('utf8');
  const { __metadata__: _m, ...entries } = JSON.parse(raw) as Record<string, unknown>;
  return { raw, entries: entries as Record<string, HeaderEntry> };
}

describe.skipIf(!hasTorch)('PEFT LoRA in the PyTorch reference (hf_ref.py --adapter, --grad, --merge-to)', () => {
  let dir = '';
  let tiny = '';
  let plain = '';
  let grid = '';
  let hostile = '';
  let hostileCases: Record<string, { model: string; expect: string }> = {};

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hf-lora-ref-'));
    tiny = path.join(dir, 'tiny');
    plain = path.join(dir, 'plain');
    grid = path.join(dir, 'grid');
    hostile = path.join(dir, 'hostile');
    for (const d of [grid, hostile]) mkdirSync(d, { recursive: true });
    const made = await Promise.all([py([MAKE_TINY, tiny, '--variants', '--adapters']), py([MAKE_TINY, plain, '--variants'])]);
    for (const r of made) if (r.status !== 0) throw new Error(`make_tiny.py failed: ${r.stderr}`);
    const g = await helper<Record<string, { exact: boolean }>>('grid', { src: tiny, dst: grid, cases: CASES });
    for (const c of CASES) expect(g[c].exact, c).toBe(true);
    hostileCases = await helper('hostile', { src: tiny, dst: hostile });
  });

  afterAll(() => {
    closeHfRef();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('make_tiny --adapters writes a PEFT adapter beside every case and leaves the models byte-identical', () => {
    const manifest = readJson(path.join(tiny, 'manifest.json')) as {
      cases: Record<string, Json & { adapter?: { folder: string; files: string[]; tensors: Record<string, number[]> } }>;
    };
    const before = readJson(path.join(plain, 'manifest.json')) as { cases: Record<string, Json> };
    // the models and the manifest are what they are without --adapters (plus "adapter")
    for (const [name, entry] of Object.entries(manifest.cases)) {
      const { adapter, ...rest } = entry;
      expect(rest, name).toEqual(before.cases[name]);
      expect(adapter !== undefined, name).toBe(CASES.includes(name));
      for (const f of readdirSync(path.join(plain, name))) {
        expect(readFileSync(path.join(tiny, name, f)).equals(readFileSync(path.join(plain, name, f))), `${name}/${f}`).toBe(true);
      }
    }
    expect(
      readdirSync(tiny)
        .filter((f) => f.endsWith('.lora'))
        .sort(),
    ).toEqual(CASES.map((c) => `${c}.lora`).sort());
    for (const c of CASES) {
      const a = manifest.cases[c].adapter!;
      expect(a.folder).toBe(`${c}.lora`);
      expect(readdirSync(path.join(tiny, a.folder)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
      const cfg = readJson(path.join(tiny, a.folder, 'adapter_config.json'));
      const gpt2 = c.startsWith('gpt2');
      expect(cfg).toMatchObject({
        peft_type: 'LORA',
        task_type: 'CAUSAL_LM',
        r: 4,
        lora_alpha: 8,
        lora_dropout: 0,
        bias: 'none',
        fan_in_fan_out: gpt2,
        target_modules: gpt2 ? ['c_attn', 'c_proj'] : ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
        base_model_name_or_path: c,
        use_rslora: false,
        use_dora: false,
        modules_to_save: null,
        rank_pattern: {},
        alpha_pattern: {},
      });
      const h = readHeader(path.join(tiny, a.folder, 'adapter_model.safetensors'));
      expect(h.raw.startsWith('{"__metadata__":{"format":"pt"},')).toBe(true);
      expect(new Set(Object.values(h.entries).map((e) => e.dtype))).toEqual(new Set(['F32']));
      expect(Object.fromEntries(Object.entries(h.entries).map(([n, e]) => [n, e.shape]))).toEqual(a.tensors);
    }
    // GPT-2: c_proj matches attn.c_proj AND mlp.c_proj (PEFT's suffix match); the module
    // path has transformer. even when the model's keys do not; A [r, in], B [out, r]
    const g = readHeader(path.join(tiny, 'gpt2-noprefix.lora/adapter_model.safetensors')).entries;
    expect(Object.keys(g).length).toBe(2 * 3 * 2);
    expect(g[`${P}transformer.h.0.attn.c_attn.lora_A.weight`].shape).toEqual([4, 48]);
    expect(g[`${P}transformer.h.0.attn.c_attn.lora_B.weight`].shape).toEqual([144, 4]);
    expect(g[`${P}transformer.h.1.mlp.c_proj.lora_A.weight`].shape).toEqual([4, 192]);
    expect(g[`${P}transformer.h.1.mlp.c_proj.lora_B.weight`].shape).toEqual([48, 4]);
    const l = readHeader(path.join(tiny, 'llama-gqa.lora/adapter_model.safetensors')).entries;
    expect(Object.keys(l).length).toBe(2 * 4 * 2);
    expect(l[`${P}model.layers.0.self_attn.k_proj.lora_B.weight`].shape).toEqual([32, 4]); // 2 kv heads x 16
    expect(l[`${P}model.layers.1.self_attn.o_proj.lora_A.weight`].shape).toEqual([4, 64]);
  });

  it('(a) --adapter equals the merged model within 1e-9 (grid copies: the merge is exact in F32)', async () => {
    const rows = await pool(CASES, async (c) => {
      const ids = someIds(48, 300, 11);
      const base = path.join(grid, `${c}.grid`);
      const merged = path.join(grid, `${c}.grid.merged`);
      const [withAdapter, without] = await Promise.all([
        refOk(base, ids, ['--adapter', path.join(grid, `${c}.grid.lora`), '--merge-to', merged]),
        refOk(base, ids),
      ]);
      expect(withAdapter.merged_to).toBe(merged);
      const [m, inline] = await Promise.all([refOk(merged, ids), refOk(path.join(grid, `${c}.grid.inline-merged`), ids)]);
      // --merge-to wrote the very bytes of the helper's own merge (same values, same layout)
      expect(
        readFileSync(path.join(merged, 'model.safetensors')).equals(
          readFileSync(path.join(grid, `${c}.grid.inline-merged/model.safetensors`)),
        ),
        c,
      ).toBe(true);
      return {
        c,
        merge: maxDiff(lps(withAdapter), lps(m)),
        inline: maxDiff(lps(m), lps(inline)),
        effect: maxDiff(lps(withAdapter), lps(without)),
      };
    });
    for (const r of rows) {
      console.log(`hf-lora-ref: ${r.c} |adapter - merged| = ${r.merge.toExponential(2)}, adapter effect ${r.effect.toFixed(2)}`);
      expect(r.merge, r.c).toBeLessThan(1e-9);
      expect(r.inline, r.c).toBe(0);
      expect(r.effect, r.c).toBeGreaterThan(0.5); // the adapter changes the model a lot
    }
  });

  it('(a) --merge-to on the real adapters: sharded, F16, BF16 and no-prefix bases, within the F32 rounding of the merge', async () => {
    const rows = await pool(CASES, async (c) => {
      const ids = someIds(48, 300, 5);
      const out = path.join(dir, 'merged', c);
      const only = await refOk(path.join(tiny, c), null, ['--adapter', path.join(tiny, `${c}.lora`), '--merge-to', out]);
      expect(Object.keys(only).sort()).toEqual(['merged', 'merged_to']);
      const [a, m] = await Promise.all([refOk(path.join(tiny, c), ids, ['--adapter', path.join(tiny, `${c}.lora`)]), refOk(out, ids)]);
      return { c, only, d: maxDiff(lps(a), lps(m)), out };
    });
    for (const r of rows) {
      console.log(`hf-lora-ref: ${r.c} F32 merge |adapter - merged| = ${r.d.toExponential(2)}`);
      expect(r.d, r.c).toBeLessThan(1e-5);
      expect(readdirSync(r.out).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
      expect(readFileSync(path.join(r.out, 'config.json')).equals(readFileSync(path.join(tiny, r.c, 'config.json')))).toBe(true);
      const h = readHeader(path.join(r.out, 'model.safetensors')).entries;
      expect(new Set(Object.values(h).map((e) => e.dtype))).toEqual(new Set(['F32']));
      const gpt2 = r.c.startsWith('gpt2');
      const pre = r.c === 'gpt2-noprefix' ? '' : 'transformer.';
      const want = [0, 1].flatMap((i) =>
        gpt2
          ? ['attn.c_attn', 'attn.c_proj', 'mlp.c_proj'].map((m) => `${pre}h.${i}.${m}.weight`)
          : ['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((m) => `model.layers.${i}.self_attn.${m}.weight`),
      );
      expect(r.only.merged).toEqual([...want].sort());
      for (const n of want) expect(h[n], n).toBeDefined();
    }
    // the legacy GPT-2 buffers are carried over under their own names
    expect(readHeader(path.join(dir, 'merged/gpt2-noprefix/model.safetensors')).entries['h.0.attn.bias'].shape).toEqual([1, 1, 128, 128]);
  });

  /** Probes at the largest gradient and a fixed entry of each tensor named. */
  function probes(
    kind: 'lora' | 'base',
    grads: Record<string, number[]>,
    names: string[],
  ): { kind: string; name: string; index: number; g: number }[] {
    return names.flatMap((name) => {
      const g = grads[name];
      expect(g, name).toBeDefined();
      let arg = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[arg])) arg = i;
      return [arg, 7].map((index) => ({ kind, name, index, g: g[index] }));
    });
  }

  it.each([
    ['gpt2-tiny', ['transformer.h.0.attn.c_attn.weight', 'transformer.wte.weight', 'transformer.h.1.ln_2.bias']],
    ['llama-gqa', ['lm_head.weight', 'model.layers.1.self_attn.k_proj.weight', 'model.norm.weight']],
    ['qwen2-tiny', ['model.layers.0.self_attn.q_proj.bias', 'model.embed_tokens.weight']],
  ])('(b) %s: --grad and --grad-base match central differences of the loss (float64)', async (c, baseNames) => {
    const ids = someIds(24, 300, 3);
    const model = path.join(tiny, c);
    const adapter = path.join(tiny, `${c}.lora`);
    const out = await refOk(model, ids, ['--adapter', adapter, '--grad', '--grad-base', baseNames.join(',')]);
    expect(Object.keys(out)).toEqual(['ids', 'logprobs', 'loss', 'grads', 'base_grads']);
    const lp = lps(out);
    expect(Math.abs(out.loss! - -lp.reduce((s, x) => s + x, 0) / lp.length)).toBeLessThan(1e-12);
    const shapes = (
      readJson(path.join(tiny, 'manifest.json')) as {
        cases: Record<string, { adapter: { tensors: Record<string, number[]> }; tensors: Record<string, number[]> }>;
      }
    ).cases[c];
    expect(Object.keys(out.grads!).sort()).toEqual(Object.keys(shapes.adapter.tensors).sort());
    for (const [n, s] of Object.entries(shapes.adapter.tensors)) expect(out.grads![n].length, n).toBe(s.reduce((a, b) => a * b, 1));
    for (const n of baseNames) expect(out.base_grads![n].length, n).toBe(shapes.tensors[n].reduce((a, b) => a * b, 1));
    const lora = Object.keys(out.grads!).sort();
    const probe = [
      ...probes('lora', out.grads!, [lora[0], lora[1], lora[lora.length - 2], lora[lora.length - 1]]),
      ...probes('base', out.base_grads!, baseNames),
    ];
    const tmp = path.join(dir, `fd-${c}`);
    mkdirSync(tmp);
    const fd = await helper<{ fd: number; step: number }[]>('fd', { model, adapter, ids, h: 1e-5, tmp, probes: probe });
    let worst = 0;
    for (let i = 0; i < probe.length; i++) {
      const err = Math.abs(fd[i].fd - probe[i].g);
      worst = Math.max(worst, err);
      expect(err, `${probe[i].name}[${probe[i].index}]: grad ${probe[i].g}, central difference ${fd[i].fd}`).toBeLessThan(
        1e-8 + 1e-6 * Math.abs(probe[i].g),
      );
    }
    console.log(`hf-lora-ref: ${c} ${probe.length} probes, max |grad - central difference| = ${worst.toExponential(2)}`);
    // the gradients are informative: B is not zero, so A's gradient is not either
    expect(Math.max(...out.grads![lora[0]].map(Math.abs))).toBeGreaterThan(1e-3);
  });

  it('(b) --grad-base without an adapter (full fine-tuning) matches central differences, GPT-2 keys without transformer.', async () => {
    const ids = someIds(24, 300, 9);
    const model = path.join(grid, 'gpt2-noprefix.grid'); // F32, keys without transformer., legacy buffers
    const names = ['h.0.attn.c_attn.weight', 'wpe.weight'];
    const out = await refOk(model, ids, ['--grad-base', names.join(',')]);
    expect(Object.keys(out)).toEqual(['ids', 'logprobs', 'loss', 'base_grads']);
    const probe = probes('base', out.base_grads!, names);
    const tmp = path.join(dir, 'fd-full');
    mkdirSync(tmp);
    const fd = await helper<{ fd: number }[]>('fd', { model, adapter: null, ids, h: 1e-5, tmp, probes: probe });
    for (let i = 0; i < probe.length; i++)
      expect(Math.abs(fd[i].fd - probe[i].g), probe[i].name).toBeLessThan(1e-8 + 1e-6 * Math.abs(probe[i].g));
    // the same tensor under its transformer. name gives the same numbers
    const alt = await refOk(model, ids, ['--grad-base', 'transformer.h.0.attn.c_attn.weight']);
    expect(alt.base_grads!['transformer.h.0.attn.c_attn.weight']).toEqual(out.base_grads!['h.0.attn.c_attn.weight']);
  });

  it('(c) refuses every hostile adapter with exit 2 and a message that names the problem', async () => {
    expect(Object.keys(hostileCases).length).toBeGreaterThanOrEqual(15);
    const rows = await pool(Object.entries(hostileCases), async ([name, c]) => ({
      name,
      c,
      r: await ref(path.join(tiny, c.model), [1, 2, 3], ['--adapter', path.join(hostile, name)]),
    }));
    for (const { name, c, r } of rows) {
      expect({ name, status: r.status, stdout: r.stdout }).toEqual({ name, status: 2, stdout: '' });
      const lines = r.stderr.trim().split('\n');
      expect(lines.length, `${name}: ${r.stderr}`).toBe(1);
      expect(lines[0], name).toMatch(/^hf_ref: refused: /);
      expect(lines[0], name).toContain(c.expect);
    }
  });

  it('(c) refuses misused flags; without them the output is what it always was', async () => {
    const g = path.join(tiny, 'gpt2-tiny');
    const lora = path.join(tiny, 'gpt2-tiny.lora');
    const full = path.join(dir, 'not-empty');
    mkdirSync(full);
    writeFileSync(path.join(full, 'x'), 'x');
    const cases: [string[], number[] | null, string][] = [
      [['--grad'], [1, 2, 3], '--grad needs --adapter'],
      [['--merge-to', path.join(dir, 'nowhere')], [1, 2, 3], '--merge-to needs --adapter'],
      [['--adapter', lora, '--grad'], [1], 'at least two token ids'],
      [['--grad-base', 'lm_head.weight'], [1, 2, 3], 'transformer.wte.weight'],
      [['--grad-base', 'transformer.h.7.mlp.c_fc.weight'], [1, 2, 3], 'transformer.h.7.mlp.c_fc.weight'],
      [['--grad-base', 'h.0.attn.bias'], [1, 2, 3], 'h.0.attn.bias'],
      [['--adapter', lora, '--merge-to', full], null, 'not an empty folder'],
      [['--adapter', lora, '--merge-to', g], null, 'is the model or the adapter folder'],
      [['--adapter', path.join(dir, 'no-such-adapter')], [1, 2, 3], 'no-such-adapter'],
      [['--adapter', path.join(tiny, 'llama-gqa.lora')], [1, 2, 3], 'match no module of gpt2'],
    ];
    const rows = await pool(cases, async ([extra, ids, want]) => ({ extra, want, r: await ref(g, ids, extra) }));
    for (const { extra, want, r } of rows) {
      expect({ extra, status: r.status, stdout: r.stdout }).toEqual({ extra, status: 2, stdout: '' });
      expect(r.stderr.trim(), extra.join(' ')).toMatch(/^hf_ref: refused: /);
      expect(r.stderr, extra.join(' ')).toContain(want);
    }
    expect(existsSync(path.join(dir, 'nowhere'))).toBe(false);
    expect(readdirSync(full)).toEqual(['x']);
    // no ids and no --merge-to: argparse's usage error, exit 2
    expect((await ref(g, null)).status).toBe(2);
    // the default output keeps its two fields
    const plainOut = await refOk(g, [1, 2, 3]);
    expect(Object.keys(plainOut)).toEqual(['ids', 'logprobs']);
  });
});
