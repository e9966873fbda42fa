// One pretrained-shaped LoRA row on one backend, in its own process (WebGPU
// in Node needs Dawn's environment from process start; a model that exhausts
// the backend's memory takes only its own row down). Used by
// bench/pretrained.ts; prints one JSON object (PretrainedRow) on stdout.
//
//   tsx bench/pretrained-measure.ts --backend wasm|webgpu|cpu --model gpt2-124m|smollm2-135m|gpt2-tiny [--steps 3] [--warmup 1] [--budget-s 900]
//     [--batch 2x128 (rows x tokens)] [--recompute] [--base-dtype f32|f16|int8 (f16 / int8: webgpu only; default f32)]
// The row says how the built model holds its base (baseDtype), the base's
// device bytes measured (baseBytes) beside the planner's (plannedBaseBytes),
// and the step's peak, measured (bufferPeakBytes) and planned (plannedBytes)
// for the same base dtype.
import * as tf from '@tensorflow/tfjs-core';
import { parseBackend, setupBackend } from '../src/cli/setup';
import { backendErrors } from '../src/core/backend';
import { heldBaseDtype } from '../src/core/base-dtype';
import { countParams, countTrainable, DEFAULT_TRAIN, type TrainConfig } from '../src/core/config';
import { initParams } from '../src/core/model';
import { Trainer } from '../src/core/trainer';
import { median, syntheticBatches } from '../support/synthetic';
import { applyVariant, backendThreads, countPrograms, cpuMs } from './training';
import { bufferPeak } from '../support/buffer-peak';
import {
  BENCH_LR,
  BENCH_MODELS,
  BENCH_SHAPE,
  benchBaseDtype,
  benchLora,
  idTokenizer,
  plannedMemory,
  type PretrainedRow,
} from './pretrained-models';

const args = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : d;
};
const backendName = opt('backend', 'wasm'); // wasm, wasm-plain, webgpu, webgpu-unfused, cpu (bench/training.ts applyVariant)
const backend = parseBackend(applyVariant(backendName), 'wasm');
const modelName = opt('model', 'gpt2-124m');
const steps = Number(opt('steps', '3'));
const warmup = Number(opt('warmup', '1'));
// the timed steps stop early (after at least one) when one more would take
// their total past this: SwiftShader runs one step of these models in ten minutes
const budgetMs = Number(opt('budget-s', '900')) * 1000;
const spec = BENCH_MODELS[modelName];
const [rows, time] = opt('batch', `${BENCH_SHAPE.questions * 2}x${BENCH_SHAPE.time}`)
  .split('x')
  .map(Number);
const shape = { questions: rows / 2, time };
const recompute = args.includes('--recompute');
/** A progress line on stderr (bench/pretrained.ts passes it on). */
const progress = (s: string): void => void process.stderr.write(`[pretrained] ${modelName} ${backendName}: ${s}\n`);
const out = (row: PretrainedRow): void => void process.stdout.write(`${JSON.stringify(row)}\n`);
const base = { model: modelName, backend: backendName };
if (!spec) {
  out({ ...base, error: `unknown model ${modelName} (${Object.keys(BENCH_MODELS).join(', ')})` });
  process.exit(2);
}
let baseDtype: ReturnType<typeof benchBaseDtype>;
try {
  // the bench's backend name: a packed base is refused on webgpu-unfused too
  baseDtype = benchBaseDtype(opt('base-dtype', 'f32'), backendName);
} catch (e) {
  out({ ...base, error: (e as Error).message });
  process.exit(2);
}

let adapter: string | null = null;
try {
  adapter = (await setupBackend(backend)).adapter ?? null;
} catch (e) {
  const error = (e as Error).message
    .split('; without a usable GPU driver')[0]
    .replace(/^backend \S+ is not available here \((.*)\)$/, '$1');
  out({ ...base, error, unavailable: true });
  process.exit(3);
}

/** The first uncaptured GPU error since the backend started (WebGPU reports
 * validation and out-of-memory errors asynchronously, not as exceptions). */
const gpuError = (): string | undefined => {
  const e = backendErrors();
  return e ? `${e.first}${e.count > 1 ? ` (and ${e.count - 1} more GPU errors)` : ''}` : undefined;
};

// XNNPACK (wasm) reports a failed allocation on stderr only ("XNN status
// for xnn_create_... is not successful. Got status 6"): kept for the row
let xnnStatus: string | undefined;
const write = process.stderr.write.bind(process.stderr) as (...a: unknown[]) => boolean;
process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
  const m = /XNN status for (\w+) is not successful\. Got status (\d+)/.exec(String(chunk));
  if (m && !xnnStatus) xnnStatus = `XNNPACK ${m[1]}: status ${m[2]}${m[2] === '6' ? ' (xnn_status_out_of_memory)' : ''}`;
  return write(chunk, ...rest);
}) as typeof process.stderr.write;

/** The wasm backend's heap (it grows, never shrinks: the high-water mark of
 * tensors, XNNPACK's packed weights and fragmentation; at most 4 GiB). */
function wasmHeap(): number | undefined {
  return (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.length;
}

/** What the device held when a step failed. */
function memoryAtFailure(): string {
  const parts: string[] = [];
  try {
    parts.push(`tensors ${Math.round(tf.memory().numBytes / 2 ** 20)} MiB`);
    const heap = wasmHeap();
    if (heap) parts.push(`wasm heap ${Math.round(heap / 2 ** 20)} MiB of at most 4096`);
  } catch {
    // a dead backend
  }
  return parts.join(', ');
}

const mc = spec.config;
const lora = benchLora(mc);
const stage = { at: 'initialising the weights' };
const losses: number[] = [];
const t00 = performance.now();
try {
  const weights = initParams(mc, 1234); // random, real shapes
  const initMs = performance.now() - t00;
  progress(`random weights in ${Math.round(initMs)} ms`);
  stage.at = 'creating the trainer (weights to the device)';
  const trainConfig: TrainConfig = {
    ...DEFAULT_TRAIN,
    vocabSize: mc.vocabSize,
    backend,
    steps: 1_000_000,
    warmupSteps: 0,
    logEvery: 1,
    batchSize: shape.questions,
    recompute,
  };
  const bytesBefore = tf.memory().numBytes;
  const t = await Trainer.create({
    groups: [],
    trainConfig,
    datasetFingerprint: 'bench',
    student: {
      modelConfig: mc,
      weights,
      tokenizer: idTokenizer(mc.vocabSize),
      base: { arch: mc.arch ?? 'gpt2', name: `${modelName} (random weights)`, fingerprint: 'bench' },
    },
    lora,
    baseDtype,
  });
  // the frozen base as held: every variable the forward reads that does not
  // train (packed int32 words, int8 scales, and what stays float32), as tfjs
  // allocates them; builtBytes: all that creating the trainer put on the
  // device (the base, the adapter, AdamW's moments and its scalar)
  const builtBytes = tf.memory().numBytes - bytesBefore;
  const trains = new Set(t.trainableVariables.values());
  let baseBytes = 0;
  for (const v of t.variables.values()) if (!trains.has(v)) baseBytes += v.size * tf.util.bytesPerElement(v.dtype);
  const held = heldBaseDtype(t.variables);
  progress(`base ${held}: ${Math.round(baseBytes / 2 ** 20)} MiB on the device`);
  for (const k of Object.keys(weights)) delete weights[k]; // the host copy can go
  const residentBytes = tf.memory().numBytes;
  const batches = syntheticBatches(Math.max(2, steps), shape, mc.vocabSize, mc.blockSize);
  const tokens = shape.questions * 2 * shape.time;
  const step = async (i: number): Promise<number> => {
    const m = await t.stepOn(batches[i % batches.length], { lr: BENCH_LR, forceLog: true }); // forceLog: a read-back ends each step
    const err = gpuError();
    if (err) throw new Error(err);
    losses.push(m!.loss);
    return m!.loss;
  };
  // the warm-up step (shader compiles, first allocations) runs under
  // tf.profile: peak bytes and kernel counts are the same for every step of
  // one shape, and a separate profiled step would cost one more step
  stage.at = 'the first (warm-up, profiled) step';
  const f0 = performance.now();
  const {
    value: { value: prof, programs },
    peakBytes: bufferPeakBytes,
  } = await bufferPeak(() => countPrograms(() => tf.profile(async () => void (await step(0)))));
  for (let i = 1; i < warmup; i++) await step(i);
  const firstStepMs = (performance.now() - f0) / Math.max(1, warmup);
  progress(`warm-up ${Math.round(firstStepMs)} ms, peak ${Math.round(prof.peakBytes / 2 ** 20)} MiB`);
  stage.at = 'the timed steps';
  const before = tf.memory().numTensors;
  const ms: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const s0 = performance.now();
    const c0 = cpuMs()!;
    await step(warmup + i);
    ms.push(performance.now() - s0);
    cpu.push(cpuMs()! - c0);
    progress(`step ${i + 1}/${steps} ${Math.round(ms[i])} ms`);
    if (ms.reduce((a, b) => a + b, 0) + ms[i] > budgetMs) break;
  }
  const growth = tf.memory().numTensors - before;
  t.dispose();
  const plan = plannedMemory(mc, lora, batches[0], { recompute, backend: backendName, baseDtype });
  out({
    ...base,
    adapter,
    arch: mc.arch ?? 'gpt2',
    params: countParams(mc),
    trainable: countTrainable({ ...mc, lora }),
    lora,
    batch: { rows: shape.questions * 2, time: shape.time, tokens },
    ...(recompute ? { recompute } : {}),
    wasmHeapBytes: wasmHeap() ?? null,
    initMs,
    firstStepMs,
    msPerStep: median(ms),
    msPerStepAll: ms,
    cpuMsPerStep: median(cpu),
    tokensPerSecond: tokens / (median(ms) / 1000),
    kernelsPerStep: prof.kernels.length,
    gpuProgramsPerStep: programs,
    residentBytes,
    peakBytes: prof.peakBytes,
    bufferPeakBytes,
    baseDtype: held,
    baseBytes,
    builtBytes,
    plannedBaseBytes: plan.weights,
    plannedBytes: plan.total,
    tensorGrowth: growth,
    threads: backendThreads(),
    losses,
  });
} catch (e) {
  const err = gpuError();
  const msg = (e as Error).message ?? String(e);
  const notes = [err && !msg.includes(err) ? `GPU: ${err}` : '', xnnStatus ?? '', memoryAtFailure()].filter((x) => x);
  out({ ...base, baseDtype, adapter, error: `${stage.at}: ${msg}${notes.length ? ` [${notes.join('; ')}]` : ''}`.slice(0, 800), losses });
  process.exit(1);
}
process.exit(0);
