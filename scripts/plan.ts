// Memory plans for the pretrained students (src/core/plan.ts) at a batch of
// questions x tokens, LoRA r 8 on the attention projections, with and
// without per-block recompute, against a 4 GB and an 8 GB GPU with WebGPU's
// default 128 MiB per-binding limit.
// Usage: npx tsx scripts/plan.ts [QUESTIONS=4] [TOKENS=256] [RANK=8]

import { attentionTargets, formatPlan, planMemory, REFERENCE_SHAPES, type MemoryPlan, type PlanLimits } from '../src/core/plan';
import { formatBytes } from '../src/shared/format';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const arg = (i: number, fallback: number): number => {
  const v = process.argv[2 + i];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`usage: npx tsx scripts/plan.ts [QUESTIONS] [TOKENS] [RANK]: "${v}" is not a whole number`);
    process.exit(1);
  }
  return n;
};
const questions = arg(0, 4);
const seqLen = arg(1, 256);
const rank = arg(2, 8);

const GPUS: { name: string; limits: PlanLimits }[] = [
  { name: '4 GB GPU', limits: { memoryBytes: 4 * GiB, maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 128 * MiB } },
  { name: '8 GB GPU', limits: { memoryBytes: 8 * GiB, maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 128 * MiB } },
];

const plans: { gpu: string; recompute: boolean; plan: MemoryPlan }[] = [];
for (const gpu of GPUS) {
  for (const { name, shape } of REFERENCE_SHAPES) {
    for (const recompute of [false, true]) {
      const plan = planMemory({ name, shape, lora: { rank, targets: rank ? attentionTargets(shape.arch) : [] }, batch: { rows: 2 * questions, seqLen }, recompute, weightBytes: 4, limits: gpu.limits });
      plans.push({ gpu: gpu.name, recompute, plan });
    }
  }
}

console.log(`${questions} questions (${2 * questions} rows) x ${seqLen} tokens, ${rank ? `LoRA r ${rank} on the attention projections` : 'full fine-tuning'}, float32 weights\n`);
for (const gpu of GPUS) {
  console.log(`== ${gpu.name}: memory ${formatBytes(gpu.limits.memoryBytes)}, maxBufferSize ${formatBytes(gpu.limits.maxBufferSize)}, maxStorageBufferBindingSize ${formatBytes(gpu.limits.maxStorageBufferBindingSize)}\n`);
  for (const p of plans.filter((x) => x.gpu === gpu.name)) console.log(`${formatPlan(p.plan)}\n`);
}
console.log('== summary');
for (const p of plans) {
  const why = p.plan.verdict.reasons.map((r) => (r.includes('per-binding') ? 'binding' : r.includes('buffer limit') ? 'buffer' : r.includes('memory') ? 'memory' : 'positions'));
  console.log(`  ${p.gpu}  ${p.plan.name.padEnd(14)} recompute ${p.recompute ? 'on ' : 'off'}  peak ${formatBytes(p.plan.total).padStart(9)}  ${p.plan.verdict.fits ? 'fits' : `does not fit (${why.join(', ')})`}`);
}
