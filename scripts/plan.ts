// Memory plans of the pretrained students (src/core/plan.ts, as `mcckd
// train` prints them: describePlan) at a batch of questions
// x tokens with LoRA (rank 8, alpha 16 on the attention projections by
// default; RANK 0: full fine-tuning), against a 4 GB and an 8 GB GPU, each
// with WebGPU's default 128 MiB per-binding limit and with 1 GiB (what
// tfjs-backend-webgpu gets where the adapter offers it: it asks for the
// adapter's limits, see src/core/limits.ts).
// BASE_DTYPE (f32, f16 or int8) holds a LoRA run's frozen base as
// `--base-dtype` does (base-dtype.ts: projections and token tables packed).
// Usage: npx tsx scripts/plan.ts [QUESTIONS=4] [TOKENS=256] [RANK=8] [BASE_DTYPE=f32]

import { DEFAULT_LORA_TARGETS, LORA_DEFAULTS, archOf, type ModelConfig } from '../src/core/config';
import type { GpuLimits } from '../src/core/limits';
import { BASE_DTYPES, isBaseDtype } from '../src/core/base-dtype';
import { REFERENCE_MODELS, describePlan } from '../src/core/plan';
import { formatBytes } from '../src/shared/format';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const arg = (i: number, fallback: number): number => {
  const v = process.argv[2 + i];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0 || (i < 2 && n === 0)) {
    console.error(`usage: npx tsx scripts/plan.ts [QUESTIONS] [TOKENS] [RANK]: "${v}" is not a ${i < 2 ? 'positive' : 'whole'} number`);
    process.exit(1);
  }
  return n;
};
const questions = arg(0, 4);
const seqLen = arg(1, 256);
const rank = arg(2, LORA_DEFAULTS.rank);
const baseDtype = process.argv[5] ?? 'f32';
if (!isBaseDtype(baseDtype)) {
  console.error(
    `usage: npx tsx scripts/plan.ts [QUESTIONS] [TOKENS] [RANK] [BASE_DTYPE]: "${baseDtype}" is not one of ${BASE_DTYPES.join(', ')}`,
  );
  process.exit(1);
}

const GPUS: { name: string; memoryBytes: number; limits: GpuLimits }[] = [
  { name: '4 GB GPU, 128 MiB binding', memoryBytes: 4 * GiB, limits: { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 128 * MiB } },
  { name: '4 GB GPU, 1 GiB binding', memoryBytes: 4 * GiB, limits: { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: GiB } },
  { name: '8 GB GPU, 128 MiB binding', memoryBytes: 8 * GiB, limits: { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 128 * MiB } },
  { name: '8 GB GPU, 1 GiB binding', memoryBytes: 8 * GiB, limits: { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: GiB } },
];

const configOf = (c: ModelConfig): ModelConfig =>
  rank
    ? { ...c, lora: { rank, alpha: LORA_DEFAULTS.alpha * (rank / LORA_DEFAULTS.rank), targets: [...DEFAULT_LORA_TARGETS[archOf(c)]] } }
    : c;

console.log(
  `${questions} questions (${2 * questions} rows) x ${seqLen} tokens, ${rank ? `LoRA r ${rank} on each architecture's default targets, ${baseDtype} base` : 'full fine-tuning, float32'}\n`,
);
const summary: string[] = [];
for (const gpu of GPUS) {
  console.log(
    `== ${gpu.name}: memory ${formatBytes(gpu.memoryBytes)}, maxBufferSize ${formatBytes(gpu.limits.maxBufferSize)}, maxStorageBufferBindingSize ${formatBytes(gpu.limits.maxStorageBufferBindingSize)}\n`,
  );
  for (const { name, config } of REFERENCE_MODELS) {
    for (const recompute of [false, true]) {
      const p = describePlan(configOf(config), {
        name,
        rows: 2 * questions,
        seqLen,
        limits: gpu.limits,
        memoryBytes: gpu.memoryBytes,
        recompute,
        baseDtype,
      });
      if (!recompute) console.log(`${p.text}\n`);
      const why = [
        ...new Set(
          p.reasons.map((r) =>
            r.includes('per-binding') ? 'binding' : r.includes('buffer limit') ? 'buffer' : r.includes('memory') ? 'memory' : 'positions',
          ),
        ),
      ];
      summary.push(
        `  ${gpu.name.padEnd(26)} ${name.padEnd(14)} ${recompute ? 'recompute' : '         '} peak ${formatBytes(p.peak).padStart(9)}  ${p.fits ? 'fits' : `does not fit (${why.join(', ')})`}`,
      );
    }
  }
}
console.log('== summary');
console.log(summary.join('\n'));
