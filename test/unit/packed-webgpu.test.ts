// The frozen base in f16 and int8 on real WebGPU (Dawn + SwiftShader, in a
// child process: test/gpu/packed.check.ts): the packed projection and its
// input gradient against tfjs's float32 matMul of the same values, and
// tiny Hugging Face-layout students (scripts/hf/make_tiny.py: GPT-2, LLaMA
// with GQA, Qwen2 with q/k/v biases) scored and trained with each base
// dtype against their f32 base, and against the PyTorch reference
// (support/hf_ref.py) on the same weights rounded as our packing rounds them
// (--round-base: what the kernels add beyond the format's own rounding).
// Skipped without Chromium's SwiftShader or without numpy (make_tiny.py); the
// PyTorch comparison also without torch.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { swiftShaderEnv } from '../../src/cli/node-gpu';
import { PY, PY_ENV, pythonHas, pythonMissing } from '../../support/python';
import { closeHfRef, hfRef } from '../../support/hf-ref';
import type { Report, StudentCase } from '../gpu/packed.check';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const gpuEnv = swiftShaderEnv();
const hasNumpy = pythonHas('numpy');
const CASES = ['gpt2-tiny', 'llama-gqa', 'qwen2-tiny'];
const STEPS_CASE = 'llama-gqa';
const noTorch = pythonMissing('torch');

function check(dir: string): Promise<Report> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), path.join(ROOT, 'test/gpu/packed.check.ts'), dir, STEPS_CASE, ...CASES],
      { cwd: ROOT, env: { ...process.env, ...gpuEnv }, maxBuffer: 64 << 20, timeout: 840_000 },
      (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (err || !line) reject(new Error(`packed check failed: ${String(err)}\n${stderr.slice(-2000)}`));
        else resolve(JSON.parse(line) as Report);
      },
    );
  });
}

describe.skipIf(!gpuEnv || !hasNumpy)('frozen base in f16 / int8 on WebGPU (Dawn + SwiftShader)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcckd-packed-'));
    const made = spawnSync(PY, [path.join(ROOT, 'scripts/hf/make_tiny.py'), dir, '--families', 'gpt2,llama,qwen2'], {
      encoding: 'utf8',
      env: PY_ENV,
    });
    if (made.status !== 0) throw new Error(made.stderr);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // one check run for both tests (SwiftShader takes about a minute)
  let report: Promise<Report> | undefined;
  const getReport = (): Promise<Report> => (report ??= check(dir));

  it('match float32 forward and dX, score near the f32 base, train like it, and hold a half / about a quarter of the bytes', {
    timeout: 900_000,
  }, async () => {
    const r = await getReport();
    expect(r.backend).toBe('webgpu');
    expect(r.gpuErrors).toEqual([]);
    expect(r.ops).toHaveLength(6);
    for (const o of r.ops) {
      const what = `${o.dtype} [${o.shape}]`;
      // the kernel computes with exactly the unpacked values: float32 rounding only
      expect(o.y.diff, `${what} y`).toBeLessThanOrEqual(1e-5 * Math.max(1, o.y.scale));
      expect(o.dx.diff, `${what} dX`).toBeLessThanOrEqual(1e-5 * Math.max(1, o.dx.scale));
      // a gradient for x only: none for the frozen weight
      expect(o.gradShapes).toEqual([[o.shape[0], o.shape[1]]]);
      // against the weight before packing: half precision's rounding, int8's coarser
      if (o.dtype === 'f16') expect(o.yVsF32.diff, what).toBeLessThan(1e-3 * o.yVsF32.scale);
      const twin = r.ops.find((p) => p.dtype === 'f16' && p.shape.join() === o.shape.join())!;
      if (o.dtype === 'int8') expect(o.yVsF32.diff).toBeGreaterThan(5 * twin.yVsF32.diff);
    }
    expect(r.students.map((s) => s.name)).toEqual(CASES);
    for (const s of r.students) {
      // f16 (projections and token tables): the issue's 2e-3 holds for the
      // mean everywhere and for the max on gpt2-tiny; the max is 3.1e-3 on
      // qwen2-tiny and 8.4e-3 on llama-gqa, whose untied embedding and head are
      // both rounded (measured, README "Frozen base dtype"): the weights' own
      // rounding, the kernels add none (the tables' test below)
      expect(s.logprobs.f16.mean, `${s.name} f16 mean`).toBeLessThan(2e-3);
      expect(s.logprobs.f16.max, `${s.name} f16 max`).toBeLessThan(1.2e-2);
      // int8's bound, measured (README "Frozen base dtype"): mean and max |difference| to f32
      expect(s.logprobs.int8.mean, `${s.name} int8 mean`).toBeLessThan(0.07);
      expect(s.logprobs.int8.max, `${s.name} int8 max`).toBeLessThan(0.25);
      expect(s.logprobs.int8.mean).toBeGreaterThan(s.logprobs.f16.mean); // the check can tell them apart
      // measured device bytes move by exactly the planner's count of the
      // projections and the token tables (the tables' own test below)
      const tb = r.studentTables.find((x) => x.name === s.name)!.tableBytes;
      for (const d of ['f16', 'int8'] as const)
        expect(s.baseBytes[d] - s.baseBytes.f32).toBe(s.projectionBytes[d] - s.projectionBytes.f32 + tb[d] - tb.f32);
      expect(s.projectionBytes.f16 * 2).toBe(s.projectionBytes.f32);
      // a quarter, plus a float32 scale a row (4 bytes against 32+ inputs here)
      expect(s.projectionBytes.int8).toBeGreaterThan(s.projectionBytes.f32 / 4);
      expect(s.projectionBytes.int8).toBeLessThan(0.3 * s.projectionBytes.f32);
    }
    console.log('log-prob |difference| to the f32 base (mean / max):', Object.fromEntries(r.students.map((s) => [s.name, s.logprobs])));
    const t = r.students.find((s) => s.name === STEPS_CASE)!;
    const { f32, f16, int8 } = t.losses;
    console.log('LoRA losses, f32 / f16 / int8 base:', f32, f16, int8);
    for (const l of [f32, f16, int8]) {
      expect(l).toHaveLength(2);
      expect(l[1]).toBeLessThan(l[0]);
    }
    // the same seed and data: the base dtype moves each loss by little against its fall
    const fall = f32[0] - f32[1];
    f16.forEach((l, i) => {
      expect(Math.abs(l - f32[i])).toBeLessThan(0.01 * fall);
    });
    int8.forEach((l, i) => {
      expect(Math.abs(l - f32[i])).toBeLessThan(0.05 * fall);
    });
    for (const d of ['f32', 'f16', 'int8'] as const) {
      expect(t.growth[d], `${d} tensors grew`).toBe(0);
      // a run's checkpoint is the same whatever the base dtype: the base's
      // fingerprint (of its float32 host weights) and the adapter only
      expect(t.snapshots[d]).toEqual(t.snapshots.f32);
    }
    expect(t.snapshots.f32.fingerprint).toBe(`${STEPS_CASE}-fingerprint`);
    expect(t.snapshots.f32.params.length).toBeGreaterThan(0);
    expect(t.snapshots.f32.params.every((n) => /\.lora_[AB]\.weight$/.test(n))).toBe(true);
  });

  it('packed token tables: the gather is tf.gather of the unpacked rows, the tied head and its chunked CE the float32 head of them, one storage, bytes as planned', {
    timeout: 900_000,
  }, async () => {
    const r = await getReport();
    expect(r.gpuErrors).toEqual([]);
    expect(r.tables).toHaveLength(2);
    for (const t of r.tables) {
      const what = `${t.dtype} [${t.shape}]`;
      expect(t.blocks, what).toBeGreaterThan(1);
      // the gather unpacks the words as unpackMatrix does: exact
      expect(t.gather.diff, `${what} gather`).toBe(0);
      expect(t.gatherBlocks.diff, `${what} gather in blocks`).toBe(0);
      expect(t.gather.scale).toBeGreaterThan(0);
      // the head through the packed storage: float32 rounding only
      for (const k of ['ce', 'dh', 'ceBlocks', 'dhBlocks', 'logits'] as const)
        expect(t[k].diff, `${what} ${k}`).toBeLessThanOrEqual(1e-5 * Math.max(1, t[k].scale));
    }
    expect(r.studentTables.map((s) => s.name)).toEqual(CASES);
    for (const s of r.studentTables) {
      // no float32 copy of a table: the tied head (gpt2-tiny, qwen2-tiny)
      // reads the embedding's packed words, llama-gqa's lm_head is packed too
      expect(s.float32Tables, s.name).toEqual({ f16: [], int8: [] });
      expect(s.tableBytes.f16 * 2).toBe(s.tableBytes.f32);
      const st = r.students.find((x) => x.name === s.name)!;
      // the planner's frozen weights move as the measured device bytes do
      for (const d of ['f16', 'int8'] as const) expect(st.baseBytes[d] - st.baseBytes.f32).toBe(s.plannedWeights[d] - s.plannedWeights.f32);
    }
  });

  it.skipIf(!!noTorch)(
    `score like PyTorch on the same rounded weights, f32 / f16 / int8 base, to float32 rounding${noTorch ? ` (skipped: ${noTorch})` : ''}`,
    { timeout: 900_000 },
    async () => {
      const r = await getReport();
      expect(r.gpuErrors).toEqual([]);
      const figures: Record<string, Record<string, string>> = {};
      for (const s of r.students) {
        const d = await againstReference(dir, r.ids, s);
        figures[s.name] = Object.fromEntries(
          Object.entries(d).map(([k, v]) => [k, `${v.mean.toExponential(1)} / ${v.max.toExponential(1)}`]),
        );
        for (const dt of ['f32', 'f16', 'int8'] as const) {
          // the kernels on the rounded weights: float32 rounding against a float64 reference
          expect(d[dt].max, `${s.name} ${dt} vs PyTorch on the rounded weights`).toBeLessThan(REF_BOUND);
        }
        for (const dt of ['f16', 'int8'] as const) {
          // and the comparison can tell: the unrounded reference is far off (the format's effect)
          expect(d[`${dt}Unrounded`].max, `${s.name} ${dt} vs PyTorch on the float32 weights`).toBeGreaterThan(5 * d[dt].max);
        }
      }
      console.log('log-prob |ours - PyTorch on the same rounded weights| (mean / max):', figures);
    },
  );
  afterAll(() => closeHfRef());
});

/** float32 arithmetic against hf_ref.py's float64 on the same values (measured: README "Frozen base dtype"). */
const REF_BOUND = 1e-4;

interface MeanMax {
  mean: number;
  max: number;
}

/** |a - b| over positions 1.. (position 0 has no log-prob). */
function meanMax(a: (number | null)[], b: (number | null)[]): MeanMax {
  const xs = a.slice(1).map((v, i) => Math.abs((v as number) - (b[i + 1] as number)));
  return { mean: xs.reduce((x, y) => x + y, 0) / xs.length, max: Math.max(...xs) };
}

/** One student's log-probs per base dtype against hf_ref.py: on the float32
 * weights, and with --round-base f16 / int8 on the matrices our packed base
 * packs (the check's roundNames). Three calls on the warm reference server. */
async function againstReference(
  dir: string,
  ids: number[],
  s: StudentCase,
): Promise<Record<'f32' | 'f16' | 'int8' | 'f16Unrounded' | 'int8Unrounded', MeanMax>> {
  const ref = async (extra: string[]): Promise<(number | null)[]> => {
    const run = await hfRef([path.join(dir, s.name), '--ids', ids.join(','), ...extra]);
    if (run.status !== 0) throw new Error(`hf_ref.py ${s.name} ${extra.join(' ')}: ${run.stderr}`);
    return (JSON.parse(run.stdout) as { logprobs: (number | null)[] }).logprobs;
  };
  const names = s.ref.roundNames.join(',');
  const [f32, f16, int8] = await Promise.all([
    ref([]),
    ref(['--round-base', 'f16', '--round-names', names]),
    ref(['--round-base', 'int8', '--round-names', names]),
  ]);
  const ours = s.ref.logprobs;
  return {
    f32: meanMax(ours.f32, f32),
    f16: meanMax(ours.f16, f16),
    int8: meanMax(ours.int8, int8),
    f16Unrounded: meanMax(ours.f16, f32),
    int8Unrounded: meanMax(ours.int8, f32),
  };
}
