// Pretrained-shaped LoRA rows: a GPT-2-124M-shaped and a SmolLM2-135M-shaped
// student (random weights, real shapes; bench/pretrained-models.ts), LoRA r 8 /
// alpha 16 on the attention projections, batch 2 x 128. Per row: median step
// ms after warm-up, tokens/s, tf.profile's peak bytes, on wasm and WebGPU
// (Dawn) in Node, each row in its own process (bench/pretrained-measure.ts),
// and PyTorch on the CPU on the same shapes, batches, LoRA settings and steps
// (support/hf_bench.py: Hugging Face transformers' model class with a PEFT
// LoRA config where the python has them, i.e. the repository's .venv with the
// PyTorch wheel; hf_ref.py's math on Debian's python3-torch otherwise), on
// BENCH_TORCH_THREADS (1) thread as our wasm and cpu rows. Each row says which
// PyTorch, which build and how many threads.
// A row that fails (out of memory, a WebGPU limit) carries the error text.
//
// In `npm run bench` (bench/run.ts) only when asked: each row takes minutes.
//   --pretrained            run them
//   --pretrained-models gpt2-124m,smollm2-135m
//   --pretrained-backends wasm,webgpu,torch   (also wasm-plain, webgpu-unfused, cpu; torch = PyTorch CPU, 1 thread)
//   --pretrained-steps N    timed steps after one warm-up step (default 3)
//   --pretrained-budget-s S a row's timed steps stop early (after at least
//                           one) when one more would take them past S seconds
//                           (default 900: on SwiftShader one step takes ~10 min)
//   --pretrained-batch RxT  rows x tokens (default 2x128; rows even: two
//                           rationales a question), ours and PyTorch alike
//   --pretrained-recompute  our rows recompute each block in the backward
//                           (TrainConfig.recompute; the PyTorch row does not)
//   --pretrained-base-dtypes f32,f16,int8
//                           the webgpu rows, one per base dtype (default f32;
//                           f16 / int8 pack the frozen base: webgpu only, the
//                           other backends' rows stay f32); each row reports
//                           the base's bytes, planned and measured
// Alone: `npx tsx bench/pretrained.ts [the same flags]` prints the table and
// keeps the report in bench/results/<date>-<host>-pretrained.json.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TRAIN, dimsOf, type ModelConfig } from '../src/core/config';
import { BENCH_TORCH_THREADS, batchJson, ensureTorch, torchLabel, type TorchInfo } from '../support/torch';
import { syntheticBatches, type Shape } from '../support/synthetic';
import { withVulkanFallback } from './node-rows';
import { BASE_DTYPES, isBaseDtype, type BaseDtype } from '../src/core/base-dtype-choice';
import { BENCH_LR, BENCH_MODEL_NAMES, BENCH_MODELS, BENCH_SHAPE, benchLora, type PretrainedRow } from './pretrained-models';

const HERE = path.dirname(fileURLToPath(import.meta.url));
import { PY, PY_ENV } from '../support/python';
import { machineInfo } from './machine';
/** One row may take this long (SwiftShader runs a 124M model's step in minutes). */
const ROW_TIMEOUT_MS = 90 * 60_000;

export interface PretrainedOptions {
  models: string[];
  backends: string[]; // ours (wasm, webgpu, ...) and 'torch'
  steps: number;
  warmup: number;
  /** A row's timed steps stop early (after at least one) when one more would take them past this. */
  budgetS: number;
  /** The batch (default BENCH_SHAPE: one question, two rows of 128 tokens). */
  shape: Shape;
  /** Our rows recompute blocks in the backward (TrainConfig.recompute). */
  recompute: boolean;
  /** The webgpu rows' base dtypes, one row each (other backends: f32 only). */
  baseDtypes: BaseDtype[];
}

/** The base dtypes backend `b` runs of `o`'s: each asked for on webgpu, f32 elsewhere. */
export const rowDtypes = (b: string, o: Pick<PretrainedOptions, 'baseDtypes'>): BaseDtype[] => (b === 'webgpu' ? o.baseDtypes : ['f32']);

export interface PretrainedReport {
  models: Record<string, { about: string; config: ModelConfig }>;
  settings: PretrainedOptions & { batch: { rows: number; time: number }; lora: string; lr: number };
  rows: PretrainedRow[];
}

/** The rows' settings from the bench's flags; null when they are skipped. */
export function pretrainedOptions(args: string[]): PretrainedOptions | null {
  const flag = (k: string): string | undefined => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  // opt-in: each row is minutes (GPT-2 124M on SwiftShader: ~8 min a step)
  if (!args.includes('--pretrained') || args.includes('--no-pretrained')) return null;
  const list = (k: string, d: string): string[] =>
    (flag(k) ?? d)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s && s !== 'none');
  const models = list('pretrained-models', BENCH_MODEL_NAMES.join(','));
  for (const m of models)
    if (!BENCH_MODELS[m]) throw new Error(`--pretrained-models: unknown model ${m} (${Object.keys(BENCH_MODELS).join(', ')})`);
  const batch = flag('pretrained-batch');
  const m = batch === undefined ? null : /^(\d+)x(\d+)$/.exec(batch);
  if (batch !== undefined && (!m || Number(m[1]) < 2 || Number(m[1]) % 2 || Number(m[2]) < 8))
    throw new Error(`--pretrained-batch: need ROWSxTOKENS with an even number of rows and at least 8 tokens (e.g. 4x256), got ${batch}`);
  const backends = list('pretrained-backends', 'wasm,webgpu,torch');
  const baseDtypes = list('pretrained-base-dtypes', 'f32');
  for (const d of baseDtypes)
    if (!isBaseDtype(d)) throw new Error(`--pretrained-base-dtypes: each one of ${BASE_DTYPES.join(', ')}, got ${d}`);
  if (!baseDtypes.length) throw new Error('--pretrained-base-dtypes: at least one of f32, f16, int8');
  const packed = baseDtypes.filter((d) => d !== 'f32');
  if (packed.length && !backends.includes('webgpu'))
    throw new Error(
      `--pretrained-base-dtypes ${packed.join(',')}: only the webgpu rows hold a packed base, and --pretrained-backends (${backends.join(',')}) has no webgpu`,
    );
  return {
    models,
    backends,
    steps: Number(flag('pretrained-steps') ?? 3),
    warmup: 1,
    budgetS: Number(flag('pretrained-budget-s') ?? 900),
    shape: m ? { questions: Number(m[1]) / 2, time: Number(m[2]) } : BENCH_SHAPE,
    recompute: args.includes('--pretrained-recompute'),
    baseDtypes: [...new Set(baseDtypes)] as BaseDtype[],
  };
}

/** A child's JSON line, or the error it died with. */
function runChild(
  file: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
  fallback: { model: string; backend: string },
  log?: (s: string) => void,
): Promise<PretrainedRow> {
  return new Promise((resolve) => {
    const child = execFile(file, argv, { env, maxBuffer: 64 << 20, timeout: ROW_TIMEOUT_MS }, (err, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) return resolve(JSON.parse(line) as PretrainedRow);
      // no row printed: a crash (wasm's Aborted(), a signal) or the timeout
      const e = err as (Error & { killed?: boolean; code?: number | string; signal?: string }) | null;
      const exit = e ? ` (exit ${e.signal ?? e.code ?? '?'})` : ' (exit 0, no result line)';
      const why = e?.killed
        ? `no result in ${ROW_TIMEOUT_MS / 60_000} min (killed)`
        : (stderr
            .split('\n')
            .filter((l) => /error|abort|memory|mcckd|hf_bench/i.test(l))
            .map((l) => l.slice(0, 300))[0] ?? 'the process ended without a result') + exit;
      resolve({ ...fallback, error: why });
    });
    // the child's progress lines ("[pretrained] ..."), as they come
    let pending = '';
    child.stderr?.on('data', (d: Buffer) => {
      const lines = (pending + d.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) if (log && l.startsWith('[pretrained] ')) log(`  ${l.slice(13)}`);
    });
  });
}

/** One of our rows: its own process; WebGPU retried on SwiftShader when the
 * first Vulkan gives no adapter (as bench/node-rows.ts does). */
async function ours(
  backend: string,
  model: string,
  baseDtype: BaseDtype,
  o: PretrainedOptions,
  log: (s: string) => void,
): Promise<PretrainedRow> {
  const argv = [
    path.join(HERE, '../node_modules/tsx/dist/cli.mjs'),
    path.join(HERE, 'pretrained-measure.ts'),
    '--backend',
    backend,
    '--model',
    model,
    '--steps',
    String(o.steps),
    '--warmup',
    String(o.warmup),
    '--budget-s',
    String(o.budgetS),
    '--batch',
    `${o.shape.questions * 2}x${o.shape.time}`,
    ...(o.recompute ? ['--recompute'] : []),
    '--base-dtype',
    baseDtype,
  ];
  const run = (env: NodeJS.ProcessEnv): Promise<PretrainedRow> => runChild(process.execPath, argv, env, { model, backend }, log);
  return withVulkanFallback(backend, run, log);
}

/** hf_ref.py's config fields for a model config. */
function hfConfig(c: ModelConfig): Record<string, unknown> {
  const d = dimsOf(c);
  return {
    kind: c.arch ?? 'gpt2',
    vocab: c.vocabSize,
    positions: c.blockSize,
    d: c.nEmbd,
    layers: c.nLayer,
    heads: c.nHead,
    kv: d.nKvHead,
    hd: d.headDim,
    inner: d.inner,
    eps: c.layerNormEps,
    theta: d.ropeTheta,
    tied: d.tied,
  };
}

/** support/hf_bench.py's case for model config `mc`: the batches our row
 * draws (syntheticBatches, same seed), the same LoRA r / alpha / targets
 * (benchLora), learning rate, AdamW and loss settings, warm-up and timed
 * steps, on BENCH_TORCH_THREADS threads. */
export function hfBenchCase(
  model: string,
  mc: ModelConfig,
  o: Pick<PretrainedOptions, 'steps' | 'warmup' | 'budgetS'>,
  shape: Shape = BENCH_SHAPE,
): Record<string, unknown> {
  const lora = benchLora(mc);
  const t = DEFAULT_TRAIN;
  return {
    model,
    config: hfConfig(mc),
    lora: { r: lora.rank, alpha: lora.alpha, targets: lora.targets },
    train: {
      lr: BENCH_LR,
      beta1: t.beta1,
      beta2: t.beta2,
      eps: t.eps,
      weightDecay: t.weightDecay,
      gradClip: t.gradClip,
      alpha: t.alpha,
      temperature: t.temperature,
    },
    batches: syntheticBatches(Math.max(2, o.steps), shape, mc.vocabSize, mc.blockSize).map(batchJson),
    warmupSteps: o.warmup,
    timedSteps: o.steps,
    budgetS: o.budgetS,
    threads: BENCH_TORCH_THREADS,
    seed: 0,
  };
}

/** The PyTorch row of a model: the same batches the child draws. */
async function torchRow(
  model: string,
  o: PretrainedOptions,
  torch: TorchInfo | undefined,
  log: (s: string) => void,
): Promise<PretrainedRow> {
  const backend = 'pytorch-cpu';
  if (!torch) return { model, backend, error: `PyTorch is not available in ${PY} (.ci/run's .venv, or Debian's python3-torch)` };
  const mc = BENCH_MODELS[model].config;
  const lora = benchLora(mc);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mcckd-pretrained-'));
  try {
    const casePath = path.join(dir, 'case.json');
    writeFileSync(casePath, JSON.stringify(hfBenchCase(model, mc, o, o.shape)));
    const row = await runChild(PY, [path.join(HERE, '../support/hf_bench.py'), casePath], PY_ENV, { model, backend }, log);
    if ('error' in row) return row;
    const r = row as unknown as TorchInfo & {
      impl: string;
      attention: string;
      params: number;
      trainable: number;
      firstStepMs: number;
      msPerStep: number[];
      medianMs: number;
      cpuMsPerStep: number;
      tokensPerSecond: number;
      losses: number[];
      residentBytes: number | null;
      maxRssBytes: number;
    };
    return {
      model,
      backend,
      adapter: `${torchLabel(r)}, ${r.impl}${r.attention ? `, ${r.attention} attention` : ''}`,
      arch: mc.arch ?? 'gpt2',
      params: r.params,
      trainable: r.trainable,
      lora,
      batch: { rows: o.shape.questions * 2, time: o.shape.time, tokens: o.shape.questions * 2 * o.shape.time },
      initMs: 0,
      firstStepMs: r.firstStepMs,
      msPerStep: r.medianMs,
      msPerStepAll: r.msPerStep,
      cpuMsPerStep: r.cpuMsPerStep,
      tokensPerSecond: r.tokensPerSecond,
      kernelsPerStep: null,
      gpuProgramsPerStep: null,
      residentBytes: r.residentBytes,
      peakBytes: r.maxRssBytes,
      tensorGrowth: null,
      threads: r.threads,
      torch: r.torch,
      torchBuild: r.build,
      impl: r.impl,
      attention: r.attention,
      losses: r.losses,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every row: each model on each backend, then PyTorch. */
export async function pretrainedBench(
  o: PretrainedOptions,
  log: (s: string) => void,
  torch: () => TorchInfo | undefined = () => ensureTorch(log),
): Promise<PretrainedReport> {
  const rows: PretrainedRow[] = [];
  for (const model of o.models) {
    for (const backend of o.backends) {
      for (const dtype of backend === 'torch' ? [null] : rowDtypes(backend, o)) {
        log(`… pretrained ${model} on ${backend === 'torch' ? 'PyTorch CPU' : `${backend}, base ${dtype}`}`);
        const t0 = performance.now();
        const row = dtype === null ? await torchRow(model, o, torch(), log) : await ours(backend, model, dtype, o, log);
        log(
          `  ${'error' in row ? `error: ${row.error.slice(0, 200)}` : `${Math.round(row.msPerStep)} ms/step`} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
        rows.push(dtype && 'error' in row && !row.baseDtype ? { ...row, baseDtype: dtype } : row);
      }
    }
  }
  const lora = benchLora(BENCH_MODELS[o.models[0] ?? 'gpt2-124m'].config);
  return {
    models: Object.fromEntries(o.models.map((m) => [m, BENCH_MODELS[m]])),
    settings: {
      ...o,
      batch: { rows: o.shape.questions * 2, time: o.shape.time },
      lora: `r ${lora.rank}, alpha ${lora.alpha}, attention projections`,
      lr: BENCH_LR,
    },
    rows,
  };
}

/** The readable table. */
export function pretrainedTable(r: PretrainedReport): string[] {
  const f = (x: number, d = 0): string => x.toLocaleString('en', { maximumFractionDigits: d });
  const mb = (x: number | null): string => (x == null ? '-' : f(x / 2 ** 20));
  const out = [
    `\npretrained shapes, LoRA ${r.settings.lora}, batch ${r.settings.batch.rows} x ${r.settings.batch.time}${r.settings.recompute ? ' (ours with --recompute)' : ''}, median of up to ${r.settings.steps} timed steps (n: how many fit in ${r.settings.budgetS} s) after ${r.settings.warmup} warm-up`,
    'model         backend         base  ms/step   cpu-ms n   tok/s  first(ms) kernels programs residentMB peakMB  heapMB bufMB planMB plan/buf baseMB basePlanMB loss first/last  adapter',
  ];
  const mb2 = (x: number | undefined): string => (x == null ? '-' : f(x / 2 ** 20, 2));
  for (const x of r.rows) {
    const dtype = x.baseDtype ?? (x.backend.startsWith('pytorch') ? '-' : 'f32'); // rows of older reports: f32
    const head = `${x.model.padEnd(13)} ${x.backend.padEnd(15)} ${dtype.padEnd(4)}`;
    if ('error' in x) {
      out.push(`${head}  error: ${x.error}${x.note ? ` (${x.note})` : ''}`);
      continue;
    }
    const loss = x.losses?.length ? `${x.losses[0].toFixed(3)}/${x.losses[x.losses.length - 1].toFixed(3)}` : '-';
    out.push(
      `${head} ${f(x.msPerStep).padStart(8)} ${(x.cpuMsPerStep == null ? '-' : f(x.cpuMsPerStep)).padStart(8)} ${x.msPerStepAll.length} ${f(x.tokensPerSecond, 1).padStart(7)} ${f(x.firstStepMs).padStart(10)} ${String(x.kernelsPerStep ?? '-').padStart(7)} ${String(x.gpuProgramsPerStep ?? '-').padStart(8)} ${mb(x.residentBytes).padStart(10)} ${mb(x.peakBytes).padStart(6)}${x.torch ? '*' : ' '} ${mb(x.wasmHeapBytes ?? null).padStart(6)} ${mb(x.bufferPeakBytes ?? null).padStart(5)} ${mb(x.plannedBytes ?? null).padStart(6)} ${(x.plannedBytes && x.bufferPeakBytes ? (x.plannedBytes / x.bufferPeakBytes).toFixed(2) : '-').padStart(8)} ${mb2(x.baseBytes).padStart(6)} ${mb2(x.plannedBaseBytes).padStart(10)} ${loss.padEnd(15)}  ${[x.adapter, !x.torch && x.threads != null ? `${x.threads} thread${x.threads === 1 ? '' : 's'}` : ''].filter((a) => a).join(', ')}${x.vulkan === 'swiftshader' ? ' [SwiftShader]' : ''}`,
    );
  }
  out.push(
    "peakMB: tf.profile's peak tensor bytes over one step, the weights included (a clone tfjs saves for a gradient counts again); * PyTorch: the process's peak RSS (another measure); heapMB: the wasm heap after the steps (at most 4,096); bufMB: the peak of distinct tensor buffers over the same step (support/buffer-peak.ts), what planMB (src/core/plan.ts) plans, both with the resident weights and AdamW state; base: how the frozen base is held (webgpu: f32, or f16 / int8 packed projections and token tables); baseMB: its device bytes as built (the frozen variables), basePlanMB: the planner's",
  );
  return out;
}

// alone: npx tsx bench/pretrained.ts [flags]
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const args = process.argv.slice(2);
  const o = pretrainedOptions([...args, '--pretrained'])!;
  const started = new Date();
  const report = {
    date: started.toISOString(),
    machine: machineInfo(),
    ...(await pretrainedBench(o, log)),
  };
  for (const l of pretrainedTable(report)) log(l);
  const dir = path.join(HERE, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${started.toISOString().slice(0, 16).replace(/[:T]/g, '-')}-${os.hostname()}-pretrained.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 1)}\n`);
  log(`\nreport: ${path.relative(process.cwd(), file)}`);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
