// Our PyTorch reference of the Hugging Face math (support/hf_ref.py), which the
// parity tests trust, against Hugging Face transformers ITSELF (and PEFT for
// the adapters): every tiny model of scripts/hf/make_tiny.py, all five
// families (GPT-2, LLaMA, Qwen2, Qwen3, Gemma3 with windows shorter than the
// text and soft-caps), base and with a LoRA adapter, hf_ref in float64 and
// float32, its --merge-to folder and its --grad LoRA gradients
// (support/hf_crosscheck.py, one process). Transformers runs in float32, so
// the differences are float32 rounding (~1e-6 here); a wrong convention (a
// window off by one key, the bfloat16-rounded Gemma embedding scale, an
// attention soft-cap transformers does not apply) moves them by 5e-3 to 1.5.
// Skipped, with what is missing, when support/python.ts's python lacks
// torch, transformers or peft (.ci/run creates .venv with them).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PY, PY_ENV, pythonMissing } from '../../support/python';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const missing = pythonMissing('numpy', 'torch', 'transformers', 'peft');
if (missing) console.warn(`hf-transformers: skipped, ${missing}`);

const LP_TOL = 5e-5; // log-probs, float32 transformers
const GRAD_TOL = 1e-4; // LoRA gradients, relative to the largest
const FAMILIES = { gpt2: 'gpt2-', llama: 'llama-', qwen2: 'qwen2-', qwen3: 'qwen3-', gemma3: 'gemma3-' };

interface Diffs {
  f64: number;
  f32: number;
  merge?: number;
  grad?: number;
}
interface Report {
  transformers: string;
  peft: string;
  torch: string;
  ids: number[];
  cases: Record<string, { base: Diffs; lora: Diffs }>;
}

const run = (script: string, args: string[]): string => {
  const r = spawnSync(PY, [path.join(ROOT, script), ...args], { encoding: 'utf8', env: PY_ENV, maxBuffer: 64 << 20, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  return r.stdout;
};

describe.skipIf(!!missing)('support/hf_ref.py agrees with Hugging Face transformers', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-hf-transformers-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('on every tiny case of every family, with and without a LoRA adapter, merged, and in the LoRA gradients', () => {
    const r = JSON.parse(run('support/hf_crosscheck.py', [path.join(dir, 'all')])) as Report;
    const names = Object.keys(r.cases);
    // every family is there, not just the ones that happen to pass
    for (const prefix of Object.values(FAMILIES))
      expect(
        names.some((n) => n.startsWith(prefix)),
        prefix,
      ).toBe(true);
    const rows: string[] = [];
    for (const [name, c] of Object.entries(r.cases)) {
      for (const [k, v] of Object.entries({
        'base f64': c.base.f64,
        'base f32': c.base.f32,
        'lora f64': c.lora.f64,
        'lora f32': c.lora.f32,
        'lora merge': c.lora.merge,
      })) {
        expect(v, `${name} ${k}`).toBeLessThan(LP_TOL);
      }
      expect(c.lora.grad, `${name} lora grad`).toBeLessThan(GRAD_TOL);
      rows.push(
        `${name.padEnd(16)} base ${c.base.f64.toExponential(1)} / ${c.base.f32.toExponential(1)}  lora ${c.lora.f64.toExponential(1)} / ${c.lora.f32.toExponential(1)}  merge ${c.lora.merge!.toExponential(1)}  grad ${c.lora.grad!.toExponential(1)}`,
      );
    }
    console.log(
      `hf_ref vs transformers ${r.transformers}, peft ${r.peft}, torch ${r.torch} (max |d log p|, hf_ref f64 / f32):\n${rows.join('\n')}`,
    );
  }, 600_000);

  it('the two command lines print the same JSON shape and agree (gemma3-tiny with its adapter)', () => {
    // its own folder: the test also runs alone (vitest -t)
    const out = path.join(dir, 'cli');
    run('scripts/hf/make_tiny.py', [out, '--adapters', '--families', 'gemma3']);
    const ids = Array.from({ length: 16 }, (_, i) => (i * 53 + 7) % 300).join(',');
    const args = [path.join(out, 'gemma3-tiny'), '--ids', ids, '--adapter', path.join(out, 'gemma3-tiny.lora')];
    const ours = JSON.parse(run('support/hf_ref.py', args)) as { ids: number[]; logprobs: (number | null)[] };
    const theirs = JSON.parse(run('support/hf_transformers_ref.py', args)) as {
      ids: number[];
      logprobs: (number | null)[];
      transformers: string;
    };
    expect(theirs.ids).toEqual(ours.ids);
    expect(ours.logprobs[0]).toBeNull();
    expect(theirs.logprobs[0]).toBeNull();
    expect(theirs.logprobs.length).toBe(16);
    for (let i = 1; i < 16; i++)
      expect(Math.abs((ours.logprobs[i] as number) - (theirs.logprobs[i] as number)), `token ${i}`).toBeLessThan(LP_TOL);
  }, 300_000);
});
