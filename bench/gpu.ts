// The real-GPU bench: our training steps on WebGPU through Dawn beside
// PyTorch eager on the same shapes, for a machine lent with an NVIDIA GPU
// (scripts/device/gpu-bench.sh runs it there from its esbuild bundle,
// device-pack/gpu.mjs, with no tsx and no node_modules; scripts/device/pack.sh
// builds the bundle). Rows, most important first, each in its own process
// (the bundle runs itself again with --row: Dawn reads its environment at
// process start, a row that hangs or exhausts memory takes only itself down):
//   - GPT-2-124M and SmolLM2-135M LoRA steps (bench/pretrained-measure.ts;
//     PyTorch: support/hf_bench.py through bench/pretrained.ts), one of ours
//     per base dtype asked for (--base-dtypes f32,f16,int8), each with the
//     base's bytes and the step's peak, planned and measured (a row that
//     comes back holding another dtype than it asked for is an error);
//   - the base, small and tiny presets (bench/measure.ts; PyTorch:
//     support/torch_ref.py through support/torch.ts torchReference).
// Each row runs under what is left of one time budget (--budget-s); rows that
// no longer fit are skipped with a note. Writes gpu-bench.json and
// gpu-bench.md (ours / PyTorch per row) to --out.
//
//   node device-pack/gpu.mjs [--dry-run] [--out DIR] [--budget-s 400] [--steps 5]
//                            (on the device a row also stops at 180 s (ours, pretrained) or 120 s)
//                            [--base-dtypes f32] [--torch-device cuda] [--only tiny,gpt2-124m]
//                            [--shape QxT] (the presets' batch, both sides; else the bench's own)
// --dry-run: Chromium's SwiftShader and PyTorch on the CPU, one timed step:
// the tiny preset at batch 1x32 beside PyTorch and, for the pretrained rows,
// gpt2-tiny (GPT-2's layout at a tiny size, bench/pretrained-models.ts) at
// batch 2x32 per base dtype, ours only (the 124M rows take ~8 min a step on SwiftShader).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { swiftShaderEnv } from '../src/cli/node-gpu';
import { BASE_DTYPES, isBaseDtype } from '../src/core/base-dtype-choice';
import { machineInfo } from './machine';

const args = process.argv.slice(2);
const flag = (k: string): string | undefined => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const SELF = fileURLToPath(import.meta.url);

/** A child row: runs the row's own script (each reads its flags from argv). */
async function childRow(kind: string): Promise<void> {
  if (kind === 'measure') await import('./measure');
  else if (kind === 'pretrained') await import('./pretrained-measure');
  else if (kind === 'adapter') await adapterRow();
  else if (kind === 'torch-preset') await torchPresetRow();
  else if (kind === 'torch-pretrained') await torchPretrainedRow();
  else throw new Error(`--row: unknown row kind ${kind}`);
}

/** The adapter Dawn gives this process, with the limits that size our buffers. */
async function adapterRow(): Promise<void> {
  const { installNodeWebGPU } = await import('../src/cli/node-gpu');
  await installNodeWebGPU();
  const gpu = (globalThis as unknown as { navigator: { gpu: GPU } }).navigator.gpu;
  const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!a) {
    process.stdout.write(`${JSON.stringify({ error: 'navigator.gpu.requestAdapter() returned no adapter' })}\n`);
    process.exit(3);
  }
  const i = a.info;
  process.stdout.write(
    `${JSON.stringify({
      vendor: i.vendor,
      architecture: i.architecture,
      device: i.device,
      description: i.description,
      features: [...a.features].sort(),
      maxBufferSize: a.limits.maxBufferSize,
      maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
    })}\n`,
  );
  process.exit(0);
}

/** PyTorch on a preset: torch_ref.py's step on the same weights and batches,
 * after one step of ours on tfjs' cpu backend to check they compute the same. */
async function torchPresetRow(): Promise<void> {
  const { setupBackend } = await import('../src/cli/setup');
  const { ensureTorch, torchReference } = await import('../support/torch');
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  await setupBackend('cpu');
  if (!ensureTorch(log)) throw new Error('PyTorch is not available to this python (MCCKD_PYTHON)');
  const device = flag('device') === 'cuda' ? 'cuda' : 'cpu';
  const { parseShape } = await import('../support/synthetic');
  const shape = flag('shape');
  const r = await torchReference(flag('preset') as 'tiny', {
    checkSteps: 1,
    timedSteps: Number(flag('steps')),
    device,
    ...(shape ? { shape: parseShape(shape) } : {}),
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}

/** PyTorch on a pretrained shape: bench/pretrained.ts's PyTorch row
 * (support/hf_bench.py on MCCKD_TORCH_DEVICE, set by the parent). */
async function torchPretrainedRow(): Promise<void> {
  // bench/pretrained.ts runs its whole bench when argv[1] is its own file,
  // which in the bundle is this one: hide the path from it
  process.argv[1] = '';
  const { pretrainedBench } = await import('./pretrained');
  const { BENCH_SHAPE } = await import('./pretrained-models');
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const batch = flag('batch')?.split('x').map(Number); // rows x tokens, two rows a question
  const r = await pretrainedBench(
    {
      models: [flag('model')!],
      backends: ['torch'],
      steps: Number(flag('steps')),
      warmup: 1,
      budgetS: Number(flag('budget-s')),
      shape: batch ? { questions: batch[0] / 2, time: batch[1] } : BENCH_SHAPE,
      recompute: false,
      baseDtypes: ['f32'],
    },
    log,
  );
  process.stdout.write(`${JSON.stringify(r.rows[0])}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------- the parent

type Side = 'ours' | 'torch';
/** One planned row: a workload on one side. */
export interface Planned {
  workload: string; // tiny, small, base, gpt2-124m, smollm2-135m
  kind: 'preset' | 'pretrained';
  side: Side;
  baseDtype?: string; // pretrained rows of ours
}

/** The rows in the order they run: pretrained shapes first (what the product
 * is for), then the presets from the cheapest (the most pairs within the
 * budget; base's PyTorch row first trains one step of ours on tfjs' cpu
 * backend, the slowest part); each of ours beside its PyTorch row. */
export function planRows(o: { dryRun: boolean; baseDtypes: string[]; only?: string[] }): Planned[] {
  const out: Planned[] = [];
  const workloads = o.dryRun ? ['gpt2-tiny', 'tiny'] : ['gpt2-124m', 'smollm2-135m', 'tiny', 'small', 'base'];
  for (const w of workloads) {
    if (o.only && !o.only.includes(w)) continue;
    const kind = w.includes('-') ? 'pretrained' : 'preset';
    if (kind === 'pretrained') for (const d of o.baseDtypes) out.push({ workload: w, kind, side: 'ours', baseDtype: d });
    else out.push({ workload: w, kind, side: 'ours' });
    // a dry run's gpt2-tiny checks our rows per base dtype; its PyTorch row
    // (transformers' import alone takes ~9 s here) would only lengthen the test
    if (!(o.dryRun && kind === 'pretrained')) out.push({ workload: w, kind, side: 'torch' });
  }
  return out;
}

/** The rows' results, as the report keeps them. */
export interface GpuRow extends Planned {
  backend: string;
  adapter?: string | null;
  msPerStep?: number;
  msPerStepAll?: number[];
  tokensPerSecond?: number;
  firstStepMs?: number;
  peakBytes?: number | null;
  /** Ours, pretrained: the peak of distinct tensor buffers and the planner's
   * (bench/pretrained-models.ts PretrainedRow). */
  bufferPeakBytes?: number;
  plannedBytes?: number;
  /** Ours, pretrained: the frozen base's bytes as built and the planner's,
   * and all that building the trainer put on the device (tf.memory). */
  baseBytes?: number;
  plannedBaseBytes?: number;
  builtBytes?: number;
  losses?: number[];
  lossCheck?: { initialLossDiff: number }; // torch preset rows: ours (tfjs cpu) vs PyTorch, first step
  wallS: number;
  error?: string;
}

/** Runs `argv` of this bundle in a child with `env`, killed (its whole
 * process group: PyTorch runs in a grandchild) after `timeoutMs`; the child's
 * first JSON line, or why there was none. */
function runSelf(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number, log: (s: string) => void): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SELF, ...argv], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      for (const l of d.toString().split('\n')) if (l.startsWith('[pretrained] ')) log(`    ${l.slice(13)}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) return resolve(JSON.parse(line) as Record<string, unknown>);
      const why = killed
        ? `stopped after ${Math.round(timeoutMs / 1000)} s (the row's share of the time budget)`
        : `${
            stderr
              .split('\n')
              .find((l) => /error|abort|memory/i.test(l))
              ?.slice(0, 300) ?? 'no result line'
          } (exit ${signal ?? code})`;
      resolve({ error: why });
    });
  });
}

/** A child's JSON as a report row. */
/** The byte counts a pretrained row of ours reports (GpuRow), kept when present. */
const BYTE_FIELDS = ['bufferPeakBytes', 'plannedBytes', 'baseBytes', 'plannedBaseBytes', 'builtBytes'] as const;

function toRow(p: Planned, backend: string, j: Record<string, unknown>, wallS: number): GpuRow {
  const row: GpuRow = { ...p, backend, wallS };
  if (typeof j.error === 'string') return { ...row, adapter: (j.adapter as string) ?? null, error: j.error };
  if (p.side === 'ours' && p.kind === 'preset') {
    const r = (j.results as Record<string, unknown>[])[0];
    return {
      ...row,
      adapter: j.adapter as string,
      msPerStep: r.msPerStep as number,
      msPerStepAll: r.msPerStepAll as number[],
      tokensPerSecond: r.tokensPerSecond as number,
      firstStepMs: r.firstStepMs as number,
      peakBytes: r.peakBytes as number,
    };
  }
  if (p.side === 'torch' && p.kind === 'preset')
    return {
      ...row,
      adapter: `PyTorch ${j.torch} ${j.device} (${j.threads} threads)`,
      msPerStep: j.torchMsPerStep as number,
      tokensPerSecond: j.torchTokensPerSecond as number,
      lossCheck: { initialLossDiff: j.initialLossDiff as number },
    };
  // pretrained rows (ours and PyTorch's): bench/pretrained-models.ts PretrainedRow
  const out: GpuRow = {
    ...row,
    adapter: j.adapter as string,
    msPerStep: j.msPerStep as number,
    msPerStepAll: j.msPerStepAll as number[],
    tokensPerSecond: j.tokensPerSecond as number,
    firstStepMs: j.firstStepMs as number,
    peakBytes: j.peakBytes as number | null,
    losses: j.losses as number[],
  };
  for (const k of BYTE_FIELDS) if (typeof j[k] === 'number') out[k] = j[k];
  // a row counts for the base dtype it asked for only where it says it held it
  if (p.side === 'ours' && p.baseDtype && j.baseDtype !== p.baseDtype)
    return { ...row, error: `bench/pretrained-measure.ts held no ${p.baseDtype} base (it reported ${String(j.baseDtype ?? 'none')})` };
  return out;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software/i;

/** The markdown table: ours / PyTorch per workload. */
export function markdownTable(rows: GpuRow[]): string {
  const f = (x: number | undefined, d = 0): string =>
    x == null || !Number.isFinite(x) ? '-' : x.toLocaleString('en', { maximumFractionDigits: d });
  const lines = [
    '| workload | base | ours ms/step | ours tok/s | PyTorch ms/step | PyTorch tok/s | ours / PyTorch (tok/s) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows.filter((x) => x.side === 'ours')) {
    const t = rows.find((x) => x.side === 'torch' && x.workload === r.workload);
    const cell = (x: GpuRow | undefined, v: number | undefined, d = 0): string => (!x ? 'not run' : x.error ? 'error' : f(v, d));
    const ratio =
      r.tokensPerSecond && t?.tokensPerSecond && !r.error && !t.error ? (r.tokensPerSecond / t.tokensPerSecond).toFixed(3) : '-';
    lines.push(
      `| ${r.workload} | ${r.kind === 'pretrained' ? (r.baseDtype ?? 'f32') : 'f32 (full training)'} | ${cell(r, r.msPerStep, 1)} | ${cell(r, r.tokensPerSecond)} | ${cell(t, t?.msPerStep, 1)} | ${cell(t, t?.tokensPerSecond)} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

/** Ours, pretrained: the frozen base's bytes as built beside the planner's,
 * and planned vs measured peak (MiB, distinct buffers, the resident weights
 * and AdamW state included; src/core/plan.ts). */
export function peakLines(rows: GpuRow[]): string[] {
  const mb = (x: number): string => Math.round(x / 2 ** 20).toLocaleString('en');
  const base = (r: GpuRow): string =>
    r.baseBytes && r.plannedBaseBytes
      ? `base ${mb(r.baseBytes)} MiB (${r.baseBytes.toLocaleString('en')} bytes; planned ${r.plannedBaseBytes.toLocaleString('en')}), `
      : '';
  return rows
    .filter((r) => r.side === 'ours' && r.plannedBytes && r.bufferPeakBytes)
    .map(
      (r) =>
        `${r.workload} ${r.baseDtype ?? 'f32'}: ${base(r)}planned peak ${mb(r.plannedBytes!)} MiB, measured ${mb(r.bufferPeakBytes!)} MiB (distinct buffers), planned / measured ${(r.plannedBytes! / r.bufferPeakBytes!).toFixed(2)}`,
    );
}

async function main(): Promise<void> {
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const dryRun = args.includes('--dry-run');
  const outDir = path.resolve(flag('out') ?? 'gpu-bench-out');
  const budgetS = Number(flag('budget-s') ?? 400);
  const steps = Number(flag('steps') ?? (dryRun ? 1 : 5));
  // the presets' batch shape (QxT) when not the bench's own: a dry run takes
  // 1x32, where SwiftShader runs the tiny preset's 4x64 at ~16 s a step
  const shape = flag('shape') ?? (dryRun ? '1x32' : undefined);
  const shapeArgs = shape ? ['--shape', shape] : [];
  // the pretrained rows' batch (rows x tokens): a dry run's gpt2-tiny at 2x32
  const pretrainedBatch = dryRun ? ['--batch', '2x32'] : [];
  const baseDtypes = (flag('base-dtypes') ?? 'f32').split(',').filter((d) => d);
  for (const d of baseDtypes) if (!isBaseDtype(d)) throw new Error(`--base-dtypes: ${BASE_DTYPES.join(', ')}, got ${d}`);
  const torchDevice = flag('torch-device') ?? (dryRun ? 'cpu' : 'cuda');
  if (!['cpu', 'cuda'].includes(torchDevice)) throw new Error(`--torch-device: cpu or cuda, got ${torchDevice}`);
  for (const [k, v] of [
    ['--budget-s', budgetS],
    ['--steps', steps],
  ] as const)
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`${k}: a positive number, got ${flag(k.slice(2))}`);
  const only = flag('only')?.split(',');
  const known = ['gpt2-124m', 'smollm2-135m', 'gpt2-tiny', 'tiny', 'small', 'base', 'none'];
  for (const w of only ?? []) if (!known.includes(w)) throw new Error(`--only: ${known.join(', ')}, got ${w}`);
  const t0 = performance.now();
  const left = (): number => budgetS - (performance.now() - t0) / 1000;
  const notes: string[] = [];

  // WebGPU children: in a dry run Chromium's SwiftShader; on the device the
  // Vulkan that gpu-bench.sh set (the NVIDIA ICD), and never a fallback
  let gpuEnv: NodeJS.ProcessEnv = process.env;
  if (dryRun) {
    const ss = swiftShaderEnv();
    if (!ss) throw new Error("--dry-run needs Chromium's SwiftShader (/usr/lib/chromium/vk_swiftshader_icd.json)");
    gpuEnv = { ...process.env, ...ss };
    notes.push(
      `dry run: WebGPU on Chromium's SwiftShader (a CPU), PyTorch on the CPU, 1 timed step: the tiny preset${shape ? ` at batch ${shape}` : ''} and gpt2-tiny per base dtype at batch ${pretrainedBatch[1]} (ours only): no GPU figures`,
    );
    notes.push('dry run: the GPT-2-124M and SmolLM2-135M rows are skipped (about 8 minutes a step on SwiftShader)');
  }

  log(`… adapter`);
  const probe = await runSelf(['--row', 'adapter'], gpuEnv, 60_000, log);
  const adapter = probe.error ? null : [probe.vendor, probe.architecture, probe.device, probe.description].filter((s) => s).join(' / ');
  const software = adapter ? SOFTWARE.test(adapter) : false;
  log(`WebGPU adapter: ${adapter ?? `none (${probe.error})`}`);
  let webgpuOk = !!adapter;
  if (!adapter) notes.push(`no WebGPU adapter: ${String(probe.error)}; WebGPU rows not run`);
  else if (software && !dryRun) {
    webgpuOk = false;
    notes.push(`Dawn got a software adapter (${adapter}), not the GPU: WebGPU rows not run (they would not be GPU figures)`);
    log(`NOT A REAL GPU: ${adapter}`);
  }

  const rows: GpuRow[] = [];
  const skipped: { row: string; why: string }[] = [];
  for (const p of planRows({ dryRun, baseDtypes, only })) {
    const name = `${p.workload} ${p.side === 'ours' ? `webgpu${p.baseDtype ? ` ${p.baseDtype}` : ''}` : `pytorch-${torchDevice}`}`;
    if (p.side === 'ours' && !webgpuOk) {
      skipped.push({ row: name, why: 'no usable WebGPU adapter' });
      continue;
    }
    // a row needs at least this long to start and measure anything
    const floorS = p.kind === 'pretrained' ? 30 : 10;
    if (left() < floorS) {
      skipped.push({ row: name, why: `time budget spent (${Math.max(0, Math.round(left()))} s of ${budgetS} s left)` });
      continue;
    }
    // the pretrained rows' timed steps stop themselves within a share of what is left
    const stepBudgetS = Math.max(1, Math.floor(left() / 6));
    let argv: string[];
    let env: NodeJS.ProcessEnv = p.side === 'ours' ? gpuEnv : process.env;
    if (p.side === 'ours' && p.kind === 'preset')
      argv = [
        '--row',
        'measure',
        '--backend',
        'webgpu',
        '--presets',
        p.workload,
        '--steps',
        String(steps),
        '--decode-tokens',
        '4',
        ...shapeArgs,
      ];
    else if (p.side === 'ours')
      argv = [
        '--row',
        'pretrained',
        '--backend',
        'webgpu',
        '--model',
        p.workload,
        '--steps',
        String(steps),
        '--warmup',
        '1',
        '--budget-s',
        String(stepBudgetS),
        ...pretrainedBatch,
      ];
    else if (p.kind === 'preset')
      argv = ['--row', 'torch-preset', '--preset', p.workload, '--steps', String(steps), '--device', torchDevice, ...shapeArgs];
    else {
      argv = [
        '--row',
        'torch-pretrained',
        '--model',
        p.workload,
        '--steps',
        String(steps),
        '--budget-s',
        String(stepBudgetS),
        ...pretrainedBatch,
      ];
      env = { ...process.env, MCCKD_TORCH_DEVICE: torchDevice };
    }
    if (p.baseDtype) argv.push('--base-dtype', p.baseDtype);
    log(`… ${name} (${Math.round(left())} s left)`);
    const r0 = performance.now();
    // and on the device no row may take more than its cap, so that a hung one
    // leaves the rest their time (SwiftShader, in a dry run, takes what is left)
    const capS = dryRun ? Number.POSITIVE_INFINITY : p.kind === 'pretrained' && p.side === 'ours' ? 180 : 120;
    const j = await runSelf(argv, env, Math.min(capS, Math.max(1, left())) * 1000, log);
    const wallS = (performance.now() - r0) / 1000;
    let row = toRow(p, p.side === 'ours' ? 'webgpu' : `pytorch-${torchDevice}`, j, wallS);
    // tfjs picks its own adapter: on the device a row of ours on a software one is no GPU figure
    if (!dryRun && p.side === 'ours' && !row.error && SOFTWARE.test(row.adapter ?? ''))
      row = { ...p, backend: row.backend, adapter: row.adapter, wallS, error: `ran on a software adapter (${row.adapter}), not the GPU` };
    log(
      `  ${row.error ? `error: ${row.error.slice(0, 300)}` : `${row.msPerStep?.toFixed(1)} ms/step, ${Math.round(row.tokensPerSecond ?? 0)} tok/s`} (${wallS.toFixed(0)} s)`,
    );
    rows.push(row);
  }
  for (const s of skipped) log(`skipped ${s.row}: ${s.why}`);

  const report = {
    date: new Date().toISOString(),
    mode: dryRun ? 'dry-run' : 'device',
    machine: machineInfo(),
    gpu: process.env.MCCKD_NVIDIA_SMI ?? null, // gpu-bench.sh: nvidia-smi's name, driver, memory
    adapter: probe.error ? { error: probe.error } : probe,
    adapterName: adapter,
    realGpu: !!adapter && !software,
    torchDevice,
    settings: {
      budgetS,
      steps,
      baseDtypes,
      warmup: 1,
      batch: 'presets: support/synthetic.ts SHAPES; pretrained: 2 x 128, LoRA r 8 alpha 16',
    },
    rows,
    skipped,
    notes,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
  const table = markdownTable(rows);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'gpu-bench.json'), `${JSON.stringify(report, null, 1)}\n`);
  const md = [
    `WebGPU adapter: ${adapter ?? 'none'}${software ? ' (software: not a GPU)' : ''}; PyTorch on ${torchDevice}; ${report.gpu ?? ''}`.trim(),
    '',
    table,
    '',
    ...peakLines(rows).map((n) => `- ${n}`),
    ...notes.map((n) => `- ${n}`),
    ...skipped.map((s) => `- skipped ${s.row}: ${s.why}`),
  ].join('\n');
  writeFileSync(path.join(outDir, 'gpu-bench.md'), `${md}\n`);
  process.stdout.write(`${md}\n`);
}

const row = flag('row');
if (row) await childRow(row);
else if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  try {
    await main();
  } catch (e) {
    process.stderr.write(`gpu-bench: ${(e as Error).message}\n`);
    process.exit(2);
  }
}
