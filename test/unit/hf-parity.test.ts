// Pretrained students against the PyTorch reference of the Hugging Face math
// (support/hf_ref.py, Debian's python3-torch): per-token log-probs of every
// tiny model of scripts/hf/make_tiny.py (GPT-2 with and without prefix, F16;
// LLaMA with GQA and MHA, tied and untied, BF16, sharded; Qwen2 with q/k/v
// biases; Qwen3 with per-head q/k norms and head_dim * heads != hidden, tied
// and untied; Gemma3 with sliding windows of 4-5 keys shorter than the
// 40-token text, local/global RoPE bases, q/k norms and a final soft-cap),
// with and without a PEFT LoRA adapter, and the LoRA gradients of
// the mean NLL (with and without activation recomputation; the frozen embedding
// and head also held in row blocks, as over a GPU binding limit), on cpu (1e-4),
// wasm and WebGPU on Dawn + SwiftShader (1e-3; WebGPU on the cases whose
// math differs, GPU_CASES).
// Ours run in a child process per backend (test/gpu/hf-parity.check.ts).
// Where the python has transformers and peft, ours on cpu are also checked
// against transformers ITSELF (base, adapter, LoRA gradients) for every case.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { swiftShaderEnv } from '../../src/cli/node-gpu';
import type { Report } from '../gpu/hf-parity.check';

import { closeHfRef, hfRef } from '../../support/hf-ref';
import { PY, pythonMissing } from '../../support/python';
const ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hasTorch = spawnSync(PY, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) console.warn(`hf-parity: skipped, ${PY} cannot import torch (.ci/run's .venv, or MCCKD_PYTHON: support/python.ts)`);

/** Cases with an adapter (make_tiny --adapters writes one per main case). */
const CASES = [
  'gpt2-tiny',
  'gpt2-noprefix',
  'gpt2-f16',
  'llama-gqa',
  'llama-tied',
  'qwen2-tiny',
  'llama-sharded',
  'qwen3-tiny',
  'qwen3-untied',
  'gemma3-tiny',
  'gemma3-softcap',
];
const FAMILIES = 'gpt2,llama,qwen2,qwen3,gemma3'; // make_tiny's families of CASES
/** WebGPU runs one case per family and per feature of the math (a
 * SwiftShader case takes ~10 s): GQA, a tied head, q/k/v biases, q/k norms
 * with head_dim * heads != hidden, sliding windows with layer_types, the
 * pattern form and soft-caps. The rest differ in how the folder stores the
 * same math (no prefix, F16, BF16, shards) or repeat a feature (llama-tied,
 * qwen3-tiny), which the host reads the same way for every backend; cpu and
 * wasm run them all. */
const GPU_CASES = ['gpt2-tiny', 'llama-gqa', 'qwen2-tiny', 'qwen3-untied', 'gemma3-tiny', 'gemma3-softcap'];
// below every case's vocabulary (gpt2-noprefix has 300 tokens); 40 positions
const IDS = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 299);

interface Ref {
  logprobs: (number | null)[];
  loss?: number;
  grads?: Record<string, number[]>;
}

async function ref(folder: string, extra: string[] = []): Promise<Ref> {
  const r = await hfRef([folder, '--ids', IDS.join(','), ...extra]);
  if (r.status !== 0) throw new Error(`hf_ref.py ${folder}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Ref;
}

// Transformers itself (support/hf_transformers_ref.py's loading, float32,
// eager attention; PEFT for the adapter) on every case in ONE process
// (importing transformers takes most of the time): the log-probs with and
// without the adapter and the LoRA gradients of the mean NLL, PEFT's names.
const TRANSFORMERS_PY = `
import json, sys, torch
sys.path.insert(0, sys.argv[1])
from hf_transformers_ref import load, logprobs
d, ids, out = sys.argv[2], [int(x) for x in sys.argv[3].split(',')], {}
for c in sys.argv[4:]:
    with torch.no_grad():
        base = logprobs(load(d + '/' + c), ids)
    m = load(d + '/' + c, d + '/' + c + '.lora')
    lora = {n: p for n, p in m.named_parameters() if 'lora_' in n}
    for p in lora.values(): p.requires_grad_(True)
    lp = logprobs(m, ids)
    (-lp.mean()).backward()
    out[c] = {'base': [None] + base.tolist(), 'lora': [None] + lp.detach().tolist(),
              'grads': {n.replace('.default.', '.'): p.grad.flatten().tolist() for n, p in lora.items()}}
print(json.dumps(out))
`;
const noTransformers = !hasTorch || pythonMissing('transformers', 'peft');
if (noTransformers)
  console.warn(`hf-parity: the check against transformers itself is skipped, ${noTransformers === true ? 'no torch' : noTransformers}`);

function transformersRefs(
  dir: string,
): Record<string, { base: (number | null)[]; lora: (number | null)[]; grads: Record<string, number[]> }> {
  const r = spawnSync(PY, ['-c', TRANSFORMERS_PY, path.join(ROOT, 'support'), dir, IDS.join(','), ...CASES], {
    encoding: 'utf8',
    env: ENV,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`transformers reference: ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout) as ReturnType<typeof transformersRefs>;
}

function ours(dir: string, backend: string, env: Record<string, string> = {}, cases = CASES): Promise<Report> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'),
        path.join(ROOT, 'test/gpu/hf-parity.check.ts'),
        dir,
        backend,
        IDS.join(','),
        ...cases,
      ],
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 900_000 },
      (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (err || !line) reject(new Error(`hf-parity check on ${backend} failed: ${String(err)}\n${stderr.slice(-2000)}`));
        else resolve(JSON.parse(line) as Report);
      },
    );
  });
}

const maxDiff = (a: (number | null)[], b: (number | null)[]): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 1; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

describe.skipIf(!hasTorch)('pretrained students match the Hugging Face math (PyTorch reference)', () => {
  let dir = '';
  const refs: Record<string, { base: Ref; lora: Ref }> = {};
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcckd-parity-'));
    const made = spawnSync(PY, [path.join(ROOT, 'scripts/hf/make_tiny.py'), dir, '--adapters', '--families', FAMILIES], {
      encoding: 'utf8',
      env: ENV,
    });
    if (made.status !== 0) throw new Error(made.stderr);
    for (const c of CASES)
      refs[c] = {
        base: await ref(path.join(dir, c)),
        lora: await ref(path.join(dir, c), ['--adapter', path.join(dir, `${c}.lora`), '--grad']),
      };
  }, 300_000);
  afterAll(() => {
    closeHfRef();
    rmSync(dir, { recursive: true, force: true });
  });
  // one cpu run serves both cpu checks
  let cpuRun: Promise<Report> | undefined;
  const oursCpu = (): Promise<Report> => (cpuRun ??= ours(dir, 'cpu'));

  const check = (r: Report, tol: number, gradTol: number, cases = CASES): Record<string, string> => {
    const seen: Record<string, string> = {};
    for (const c of cases) {
      const o = r.cases[c];
      const { base, lora } = refs[c];
      const dBase = maxDiff(o.base, base.logprobs);
      const dLora = maxDiff(o.lora, lora.logprobs);
      // the adapter moves the log-probs by far more than the tolerance
      expect(maxDiff(base.logprobs, lora.logprobs)).toBeGreaterThan(0.1);
      expect(dBase, `${c} base`).toBeLessThan(tol);
      expect(dLora, `${c} lora`).toBeLessThan(tol);
      expect(maxDiff(o.split, lora.logprobs), `${c} split tables`).toBeLessThan(tol);
      expect(Math.abs(o.loss - lora.loss!)).toBeLessThan(tol);
      expect(Object.keys(o.grads).sort()).toEqual(Object.keys(lora.grads!).sort());
      let dGrad = 0;
      let scale = 0;
      for (const [n, g] of Object.entries(lora.grads!)) {
        g.forEach((x, i) => {
          dGrad = Math.max(dGrad, Math.abs(x - o.grads[n][i]));
          scale = Math.max(scale, Math.abs(x));
        });
      }
      expect(scale).toBeGreaterThan(1e-3);
      expect(dGrad / scale, `${c} grads`).toBeLessThan(gradTol);
      expect(o.leaked, `${c} tensors left over`).toBe(0);
      // activation recomputation differentiates the same math again
      expect(o.recomputeDiff / scale, `${c} recompute`).toBeLessThan(1e-5);
      seen[c] = `logprobs ${dBase.toExponential(1)} / lora ${dLora.toExponential(1)}, grads ${(dGrad / scale).toExponential(1)} rel`;
    }
    return seen;
  };

  it('cpu: within 1e-4, LoRA gradients within 1e-4 relative', { timeout: 400_000 }, async () => {
    console.log('cpu', check(await oursCpu(), 1e-4, 1e-4));
  });

  it.skipIf(!!noTransformers)(
    'cpu against transformers itself: within 1e-4, LoRA gradients within 1e-4 relative',
    { timeout: 600_000 },
    async () => {
      const [o, t] = [await oursCpu(), transformersRefs(dir)];
      const seen: Record<string, string> = {};
      for (const c of CASES) {
        const dBase = maxDiff(o.cases[c].base, t[c].base);
        const dLora = maxDiff(o.cases[c].lora, t[c].lora);
        expect(dBase, `${c} base`).toBeLessThan(1e-4);
        expect(dLora, `${c} lora`).toBeLessThan(1e-4);
        // the same PEFT tensors, compared relative to the largest gradient
        expect(Object.keys(o.cases[c].grads).sort()).toEqual(Object.keys(t[c].grads).sort());
        let dGrad = 0;
        let scale = 0;
        for (const [n, g] of Object.entries(t[c].grads)) {
          g.forEach((x, i) => {
            dGrad = Math.max(dGrad, Math.abs(x - o.cases[c].grads[n][i]));
            scale = Math.max(scale, Math.abs(x));
          });
        }
        expect(scale).toBeGreaterThan(1e-3);
        expect(dGrad / scale, `${c} grads`).toBeLessThan(1e-4);
        seen[c] = `logprobs ${dBase.toExponential(1)} / lora ${dLora.toExponential(1)}, grads ${(dGrad / scale).toExponential(1)} rel`;
      }
      console.log('cpu vs transformers', seen);
    },
  );

  it('wasm: within 1e-3', { timeout: 400_000 }, async () => {
    console.log('wasm', check(await ours(dir, 'wasm'), 1e-3, 1e-3));
  });

  const gpu = swiftShaderEnv();
  it.skipIf(!gpu)('WebGPU (Dawn + SwiftShader), every family and feature: within 1e-3', { timeout: 900_000 }, async () => {
    const r = await ours(dir, 'webgpu', gpu, GPU_CASES);
    expect(r.backend).toBe('webgpu');
    expect(r.gpuErrors).toEqual([]);
    expect(Object.keys(r.cases).sort()).toEqual([...GPU_CASES].sort());
    console.log('webgpu', check(r, 1e-3, 1e-3, GPU_CASES));
  });
});
