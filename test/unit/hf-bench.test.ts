// The pretrained bench's PyTorch row (support/hf_bench.py) on small shapes:
// where the python has transformers and peft (the repository's .venv), the
// step runs a real Hugging Face model class wrapped by PEFT's LoRA, with the
// same LoRA r / alpha / targets as our rows (the adapter's parameter count is
// ours: countTrainable), the same base size (countParams), on the bench's one
// thread, and says which PyTorch ran it. Without them, hf_ref.py's math is
// the fallback and says so. Skipped when the python lacks what a case needs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { countParams, countTrainable, type ModelConfig } from '../../src/core/config';
import { benchLora } from '../../bench/pretrained-models';
import { hfBenchCase } from '../../bench/pretrained';
import { BENCH_TORCH_THREADS } from '../../support/torch';
import { PY, PY_ENV, pythonMissing } from '../../support/python';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const tmp = mkdtempSync(path.join(tmpdir(), 'mcckd-hf-bench-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const GPT2: ModelConfig = {
  arch: 'gpt2',
  vocabSize: 96,
  blockSize: 32,
  nLayer: 2,
  nHead: 2,
  nEmbd: 16,
  layerNormEps: 1e-5,
  tieWordEmbeddings: true,
};
const LLAMA: ModelConfig = {
  arch: 'llama',
  vocabSize: 96,
  blockSize: 32,
  nLayer: 2,
  nHead: 4,
  nKvHead: 2,
  nEmbd: 16,
  intermediateSize: 24,
  ropeTheta: 100_000,
  layerNormEps: 1e-5,
  tieWordEmbeddings: true,
};

interface Row {
  impl: string;
  transformers: string | null;
  peft: string | null;
  torch: string;
  build: string;
  threads: number;
  params: number;
  trainable: number;
  msPerStep: number[];
  losses: number[];
}

/** hf_bench.py on one case (asynchronous: the cases overlap). */
function bench(name: string, mc: ModelConfig, impl: 'auto' | 'hf_ref'): Promise<Row> {
  const file = path.join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify({ ...hfBenchCase(name, mc, { steps: 1, warmup: 1, budgetS: 60 }, { questions: 1, time: 12 }), impl }));
  return new Promise((resolve, reject) => {
    const p = spawn(PY, [path.join(ROOT, 'support/hf_bench.py'), file], { env: PY_ENV });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Row)
        : reject(new Error(`hf_bench ${name}: exit ${code}: ${err.slice(-800)}`)),
    );
  });
}

const hfMissing = pythonMissing('torch', 'transformers', 'peft');
if (hfMissing) console.warn(`hf-bench: transformers cases skipped: ${hfMissing}`);
const torchMissing = pythonMissing('torch');

describe.skipIf(!!hfMissing)('hf_bench.py with transformers + PEFT', () => {
  const runs = { gpt2: bench('gpt2', GPT2, 'auto'), llama: bench('llama', LLAMA, 'auto') };
  it.each([
    ['gpt2', GPT2, 'GPT2LMHeadModel'],
    ['llama', LLAMA, 'LlamaForCausalLM'],
  ] as const)('%s: a real transformers model with PEFT LoRA, our shapes and adapter size, one thread', async (name, mc, cls) => {
    const r = await runs[name];
    expect(r.impl).toContain(`transformers ${r.transformers} ${cls} + peft ${r.peft} LoRA`);
    expect(r.params).toBe(countParams(mc));
    expect(r.trainable).toBe(countTrainable({ ...mc, lora: benchLora(mc) }));
    expect(r.threads).toBe(BENCH_TORCH_THREADS);
    expect(['wheel', 'debian', 'other']).toContain(r.build);
    expect(r.losses).toHaveLength(2); // warm-up + one timed step
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.msPerStep).toHaveLength(1);
  });
});

describe.skipIf(!!torchMissing)('hf_bench.py fallback without transformers', () => {
  it('impl hf_ref: hf_ref.py math, same sizes, says so', async () => {
    const r = await bench('llama-ref', LLAMA, 'hf_ref');
    expect(r.impl).toMatch(/hf_ref\.py math/);
    expect(r.transformers).toBeNull();
    expect(r.params).toBe(countParams(LLAMA));
    expect(r.trainable).toBe(countTrainable({ ...LLAMA, lora: benchLora(LLAMA) }));
    expect(r.threads).toBe(BENCH_TORCH_THREADS);
  });
});
