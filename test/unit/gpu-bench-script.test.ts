// scripts/device/gpu-bench.sh, the real-GPU bench, as a device run would use
// it but here: packed by scripts/device/pack.sh (--fast: Node and Dawn
// uncompressed, as xz of Node's 99 MB takes minutes here), then run with
// --dry-run (Dawn on Chromium's SwiftShader, PyTorch on the CPU, the tiny
// preset, one timed step). Checks the report a device run would bring back:
// the adapter named (and not called a GPU), each row with finite figures, the
// skipped 124M rows said. Plus bench/gpu.ts's row order and table.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GpuRow, markdownTable, peakLines, planRows } from '../../bench/gpu';
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
    expect(planRows({ dryRun: true, baseDtypes: ['f32'] }).map((r) => r.workload)).toEqual(['tiny', 'tiny']);
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

  it('packs, runs the tiny preset on SwiftShader and PyTorch CPU, and reports both rows with the adapter', () => {
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
    expect(report.rows.map((r) => `${r.workload} ${r.backend}`)).toEqual(['tiny webgpu', 'tiny pytorch-cpu']);
    for (const r of report.rows) {
      expect(r.error, `${r.workload} ${r.backend}`).toBeUndefined();
      expect(Number.isFinite(r.msPerStep) && r.msPerStep! > 0).toBe(true);
      expect(Number.isFinite(r.tokensPerSecond) && r.tokensPerSecond! > 0).toBe(true);
    }
    expect(report.rows[1].lossCheck!.initialLossDiff).toBeLessThan(1e-4); // PyTorch computed the same step
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
