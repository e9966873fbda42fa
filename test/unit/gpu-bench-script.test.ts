// scripts/device/gpu-bench.sh, the real-GPU bench, as a device run would use
// it but here: packed by scripts/device/pack.sh (--fast: Node and Dawn
// uncompressed, as xz of Node's 99 MB takes minutes here), then run with
// --dry-run (Dawn on Chromium's SwiftShader, PyTorch on the CPU, the tiny
// preset and gpt2-tiny's pretrained rows in f32, f16 and int8, one timed
// step). Checks the report a device run would bring back: the adapter named
// (and not called a GPU), each row with finite figures, each pretrained row
// holding the base dtype it asked for with the planner's bytes, the skipped
// 124M rows said. Plus bench/gpu.ts's row order and table, and the base
// dtype flags of bench/pretrained.ts and bench/pretrained-measure.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GpuRow, markdownTable, peakLines, planRows } from '../../bench/gpu';
import { pretrainedOptions, pretrainedTable, rowDtypes, type PretrainedReport } from '../../bench/pretrained';
import { BENCH_MODELS, benchBaseDtype, type PretrainedRow } from '../../bench/pretrained-models';
import { projectionBytes, tableBytes } from '../../src/core/base-dtype';
import { paramShapes } from '../../src/core/config';
import { familyOf } from '../../src/core/arch';
import { SWIFTSHADER_ICD, swiftShaderEnv } from '../../src/cli/node-gpu';
import { PY, pythonMissing } from '../../support/python';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACK = 'device-pack-test'; // ignored by git (/device-pack*/)

describe('bench/gpu.ts rows', () => {
  it('runs the pretrained shapes first, each of ours beside its PyTorch row, one of ours per base dtype', () => {
    const rows = planRows({ dryRun: false, baseDtypes: ['f32', 'int8'] }).map(
      (r) => `${r.workload} ${r.side}${r.baseDtype ? ` ${r.baseDtype}` : ''}`,
    );
    expect(rows).toEqual([
      'gpt2-124m ours f32',
      'gpt2-124m ours int8',
      'gpt2-124m torch',
      'smollm2-135m ours f32',
      'smollm2-135m ours int8',
      'smollm2-135m torch',
      'tiny ours',
      'tiny torch',
      'small ours',
      'small torch',
      'base ours',
      'base torch',
    ]);
    // a dry run: gpt2-tiny per base dtype (ours only), then the tiny preset beside PyTorch
    expect(
      planRows({ dryRun: true, baseDtypes: ['f32', 'f16'] }).map((r) => `${r.workload} ${r.side}${r.baseDtype ? ` ${r.baseDtype}` : ''}`),
    ).toEqual(['gpt2-tiny ours f32', 'gpt2-tiny ours f16', 'tiny ours', 'tiny torch']);
  });

  it('tables ours / PyTorch per workload, and no ratio where a side failed', () => {
    const row = (over: Partial<GpuRow>): GpuRow => ({
      workload: 'tiny',
      kind: 'preset',
      side: 'ours',
      backend: 'webgpu',
      wallS: 1,
      ...over,
    });
    const md = markdownTable([
      row({ tokensPerSecond: 300, msPerStep: 10 }),
      row({ side: 'torch', backend: 'pytorch-cuda', tokensPerSecond: 600, msPerStep: 5 }),
      row({ workload: 'gpt2-124m', kind: 'pretrained', baseDtype: 'f16', error: 'boom' }),
      row({ workload: 'gpt2-124m', kind: 'pretrained', side: 'torch', backend: 'pytorch-cuda', tokensPerSecond: 9000, msPerStep: 28 }),
    ]).split('\n');
    expect(md[2]).toBe('| tiny | f32 (full training) | 10 | 300 | 5 | 600 | 0.500 |');
    expect(md[3]).toBe('| gpt2-124m | f16 | error | error | 28 | 9,000 | - |');
    // the planner's peak beside the measured one, ours only
    expect(
      peakLines([
        row({ workload: 'gpt2-124m', kind: 'pretrained', plannedBytes: 900 * 2 ** 20, bufferPeakBytes: 1000 * 2 ** 20 }),
        row({ workload: 'gpt2-124m', kind: 'pretrained', side: 'torch', plannedBytes: 1, bufferPeakBytes: 1 }),
      ]),
    ).toEqual(['gpt2-124m f32: planned peak 900 MiB, measured 1,000 MiB (distinct buffers), planned / measured 0.90']);
    // with the base's bytes, as built beside the planner's
    expect(
      peakLines([
        row({
          workload: 'gpt2-124m',
          kind: 'pretrained',
          baseDtype: 'int8',
          baseBytes: 64 * 2 ** 20,
          plannedBaseBytes: 64 * 2 ** 20,
          plannedBytes: 900 * 2 ** 20,
          bufferPeakBytes: 1000 * 2 ** 20,
        }),
      ]),
    ).toEqual([
      'gpt2-124m int8: base 64 MiB (67,108,864 bytes; planned 67,108,864), planned peak 900 MiB, measured 1,000 MiB (distinct buffers), planned / measured 0.90',
    ]);
  });
});

describe("the pretrained rows' base dtype flags", () => {
  it('bench/pretrained-measure.ts --base-dtype: f32 by default, f16 / int8 on webgpu only, naming the flag', () => {
    expect(benchBaseDtype(undefined, 'webgpu')).toBe('f32');
    expect(benchBaseDtype('int8', 'webgpu')).toBe('int8');
    expect(benchBaseDtype('f32', 'wasm')).toBe('f32');
    expect(() => benchBaseDtype('f16', 'wasm')).toThrow(/--base-dtype f16 needs the webgpu backend.*on wasm use --base-dtype f32/);
    // the unfused variant runs none of our WGSL kernels, the packed ones included
    expect(() => benchBaseDtype('int8', 'webgpu-unfused')).toThrow(/--base-dtype int8 needs the webgpu backend/);
    expect(() => benchBaseDtype('int4', 'webgpu')).toThrow('--base-dtype must be one of f32, f16, int8, got "int4"');
  });

  it('refuses a packed base off webgpu in its own row, before starting a backend', () => {
    const r = spawnSync(
      process.execPath,
      ['node_modules/tsx/dist/cli.mjs', 'bench/pretrained-measure.ts', '--backend', 'wasm', '--model', 'gpt2-tiny', '--base-dtype', 'int8'],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      model: 'gpt2-tiny',
      backend: 'wasm',
      error: '--base-dtype int8 needs the webgpu backend (the packed base runs in its WGSL kernels); on wasm use --base-dtype f32',
    });
  }, 60_000);

  it('bench/pretrained.ts --pretrained-base-dtypes: one webgpu row per dtype, f32 elsewhere; bad lists refused', () => {
    const o = pretrainedOptions(['--pretrained', '--pretrained-base-dtypes', 'f32,f16,int8'])!;
    expect(o.models).toEqual(['gpt2-124m', 'smollm2-135m']); // not the dry run's check shape
    expect(o.baseDtypes).toEqual(['f32', 'f16', 'int8']);
    expect(rowDtypes('webgpu', o)).toEqual(['f32', 'f16', 'int8']);
    expect(rowDtypes('wasm', o)).toEqual(['f32']);
    expect(rowDtypes('webgpu-unfused', o)).toEqual(['f32']);
    expect(pretrainedOptions(['--pretrained'])!.baseDtypes).toEqual(['f32']);
    expect(() => pretrainedOptions(['--pretrained', '--pretrained-base-dtypes', 'f32,bf16'])).toThrow(
      '--pretrained-base-dtypes: each one of f32, f16, int8, got bf16',
    );
    expect(() => pretrainedOptions(['--pretrained', '--pretrained-backends', 'wasm,torch', '--pretrained-base-dtypes', 'f16'])).toThrow(
      /--pretrained-base-dtypes f16: only the webgpu rows hold a packed base, and --pretrained-backends \(wasm,torch\) has no webgpu/,
    );
  });

  it("bench/pretrained.ts's table shows each row's base dtype and its bytes, as built and planned", () => {
    const row = (backend: string, over: Partial<PretrainedRow>): PretrainedRow =>
      ({
        model: 'gpt2-124m',
        backend,
        arch: 'gpt2',
        params: 1,
        trainable: 1,
        lora: { rank: 8, alpha: 16, targets: ['c_attn'] },
        batch: { rows: 2, time: 128, tokens: 256 },
        initMs: 1,
        firstStepMs: 1,
        msPerStep: 10,
        msPerStepAll: [10],
        tokensPerSecond: 25_600,
        kernelsPerStep: null,
        gpuProgramsPerStep: null,
        residentBytes: null,
        peakBytes: 1,
        tensorGrowth: 0,
        ...over,
      }) as PretrainedRow;
    const report = {
      models: {},
      settings: { ...pretrainedOptions(['--pretrained'])!, batch: { rows: 2, time: 128 }, lora: 'r 8', lr: 1e-3 },
      rows: [
        row('webgpu', { baseDtype: 'f16', baseBytes: 3 * 2 ** 19, plannedBaseBytes: 3 * 2 ** 19 }),
        row('webgpu', { baseDtype: 'int8', error: 'boom' } as Partial<PretrainedRow>),
        row('wasm', {}),
      ],
    } as PretrainedReport;
    const lines = pretrainedTable(report);
    expect(lines[1]).toMatch(/ base .* baseMB basePlanMB /);
    expect(lines[2]).toMatch(/^gpt2-124m +webgpu +f16 .* 1\.5 +1\.5 /);
    expect(lines[3]).toMatch(/^gpt2-124m +webgpu +int8 +error: boom/);
    expect(lines[4]).toMatch(/^gpt2-124m +wasm +f32 .* - +- /);
  });
});

const noSwiftShader = !existsSync(SWIFTSHADER_ICD) ? `no Chromium SwiftShader (${SWIFTSHADER_ICD})` : undefined;
const noTorch = pythonMissing('torch');
const skip = noSwiftShader ?? noTorch ?? (os.arch() !== 'x64' ? `pack.sh packs x86-64 only, this is ${os.arch()}` : undefined);

describe.skipIf(!!skip)(`gpu-bench.sh --dry-run${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'mcckd-gpu-bench-'));
  beforeAll(() => {
    execFileSync('bash', ['scripts/device/pack.sh', '--fast', '--out', PACK], { cwd: ROOT, stdio: 'pipe' });
  });
  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
    rmSync(path.join(ROOT, PACK), { recursive: true, force: true });
  });

  it('packs, runs gpt2-tiny in f32, f16 and int8 and the tiny preset on SwiftShader and PyTorch CPU, and reports the rows with the adapter', () => {
    const stdout = execFileSync('bash', ['scripts/device/gpu-bench.sh', '--dry-run', '--pack', PACK], {
      cwd: ROOT,
      env: { ...process.env, OUT: out, MCCKD_PYTHON: PY },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const report = JSON.parse(readFileSync(path.join(out, 'gpu-bench.json'), 'utf8')) as {
      mode: string;
      adapterName: string | null;
      realGpu: boolean;
      rows: GpuRow[];
      notes: string[];
    };
    expect(report.mode).toBe('dry-run');
    expect(report.adapterName).toMatch(/swiftshader/i);
    expect(report.realGpu).toBe(false); // SwiftShader is never reported as a GPU
    expect(report.rows.map((r) => `${r.workload} ${r.backend}${r.baseDtype ? ` ${r.baseDtype}` : ''}`)).toEqual([
      'gpt2-tiny webgpu f32',
      'gpt2-tiny webgpu f16',
      'gpt2-tiny webgpu int8',
      'tiny webgpu',
      'tiny pytorch-cpu',
    ]);
    for (const r of report.rows) {
      expect(r.error, `${r.workload} ${r.backend} ${r.baseDtype ?? ''}`).toBeUndefined(); // a pretrained row that held another dtype is an error
      expect(Number.isFinite(r.msPerStep) && r.msPerStep! > 0).toBe(true);
      expect(Number.isFinite(r.tokensPerSecond) && r.tokensPerSecond! > 0).toBe(true);
    }
    expect(report.rows[4].lossCheck!.initialLossDiff).toBeLessThan(1e-4); // PyTorch computed the same step
    // the base's bytes as built: the planner's count in each dtype, the
    // projections and token tables (the packed part) halved in f16 and about
    // quartered in int8 (words, plus a float32 scale a row)
    const [f32, f16, int8] = report.rows.slice(0, 3);
    for (const r of [f32, f16, int8]) {
      expect(r.baseBytes, r.baseDtype).toBe(r.plannedBaseBytes);
      expect(r.bufferPeakBytes! > 0 && r.plannedBytes! > 0).toBe(true);
      // tf.memory()'s growth over building the trainer: the base, and the
      // adapter with AdamW's state, which are the same whatever the base
      expect(r.builtBytes! - r.baseBytes!, r.baseDtype).toBe(f32.builtBytes! - f32.baseBytes!);
    }
    const c = BENCH_MODELS['gpt2-tiny'].config;
    const shapes = paramShapes(c);
    const packedF32 = projectionBytes(shapes, familyOf(c).weightLayout, 'f32') + tableBytes(shapes, 'f32');
    const kept = f32.baseBytes! - packedF32; // what stays float32 (positions, norms, biases)
    expect(kept).toBeGreaterThan(0);
    expect(f16.baseBytes! - kept).toBe(packedF32 / 2);
    const quarter = (int8.baseBytes! - kept) / packedF32;
    expect(quarter).toBeGreaterThan(0.25);
    expect(quarter).toBeLessThan(0.3);
    expect(report.notes.join('\n')).toMatch(/GPT-2-124M and SmolLM2-135M rows are skipped/);
    // the table gpu-bench.sh prints and keeps
    expect(stdout).toMatch(/\| tiny \| f32 \(full training\) \| [\d,.]+ \| [\d,]+ \| [\d,.]+ \| [\d,]+ \| [\d.]+ \|/);
    expect(readFileSync(path.join(out, 'gpu-bench.md'), 'utf8')).toContain('software: not a GPU');
    // the script leaves no link to its temporary Dawn behind in the pack
    expect(() => lstatSync(path.join(ROOT, PACK, 'node_modules'))).toThrow();
  }, 600_000);

  it('on the device, refuses to call a software adapter a GPU and runs none of its WebGPU rows', () => {
    // device mode (no --dry-run) on a machine whose Vulkan is SwiftShader; no rows asked for (--only none)
    const dir = path.join(out, 'device');
    execFileSync(process.execPath, [path.join(PACK, 'gpu.mjs'), '--only', 'none', '--out', dir], {
      cwd: ROOT,
      env: { ...process.env, ...swiftShaderEnv() },
      stdio: 'pipe',
    });
    const report = JSON.parse(readFileSync(path.join(dir, 'gpu-bench.json'), 'utf8')) as {
      mode: string;
      realGpu: boolean;
      notes: string[];
    };
    expect(report.mode).toBe('device');
    expect(report.realGpu).toBe(false);
    expect(report.notes.join('\n')).toMatch(/software adapter \(.*swiftshader.*\), not the GPU: WebGPU rows not run/i);
  }, 120_000);
});
