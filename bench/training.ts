// One preset's training and decoding measurements on the active backend.
// Browser-safe (no node:*): bench/measure.ts runs it in Node, the browser
// bench (bench/browser/worker.ts) in a Chromium worker.
import * as tf from '@tensorflow/tfjs-core';
import { countParams, type BackendName, type PresetName } from '../src/core/config';
import { greedyDecode } from '../src/core/generate';
import type { Params } from '../src/core/model';
import { setFusedKernels } from '../src/core/fused/ops';
import { setExplicitTransposes } from '../src/core/ops';
import { SHAPES, benchTrainer, median, syntheticBatches, type Shape } from '../support/synthetic';

/** A bench backend name -> the tfjs backend it runs on, with our speedups
 * switched to match: `webgpu-unfused` runs without the fused kernels,
 * `wasm-plain` without matMul2d's explicit transposes (each measured side by
 * side with what it speeds up). */
export function applyVariant(name: string): BackendName {
  const [backend, variant] = name.split('-');
  setFusedKernels(variant !== 'unfused');
  setExplicitTransposes(variant !== 'plain');
  return backend as BackendName;
}

/** One backend's rows in a report: its results (and its CPU threads), or why it could not run. */
export type BackendRows =
  | { backend: string; adapter: string | null; threads?: number | null; threadsReason?: string; results: TrainingResult[] }
  | { backend: string; error: string };

/** CPU threads the active backend computes on, as the backend itself says:
 * wasm's own count (tfjs's single-threaded SIMD build in Node; in Chromium the
 * page's threaded build, src/worker/wasm-threads.ts), 1 for the plain-JavaScript
 * cpu backend, null for a GPU backend. Set beside each row so that a ratio to
 * PyTorch can say which thread counts it compares. `threadsReason` (Chromium
 * rows): why wasm runs on one thread where threads could not start. */
export function backendThreads(): number | null {
  const name = tf.getBackend();
  if (name === 'cpu') return 1;
  if (name !== 'wasm') return null;
  const w = (tf.backend() as unknown as { wasm?: { tfjs?: { getThreadsCount?: () => number } } }).wasm;
  return w?.tfjs?.getThreadsCount?.() ?? null;
}

export interface TrainingResult {
  preset: PresetName;
  params: number;
  batch: { rows: number; time: number; tokens: number };
  firstStepMs: number;
  msPerStep: number;
  msPerStepAll: number[];
  /** Median CPU time of the process per timed step (Node's process.cpuUsage;
   * null in a browser): on a shared machine a single-threaded step's CPU time
   * depends far less on the other load than its wall time. */
  cpuMsPerStep: number | null;
  tokensPerSecond: number;
  dispatchesPerStep: number; // tfjs kernels (tf.profile)
  gpuProgramsPerStep: number | null; // WebGPU programs dispatched (webgpu only)
  peakBytes: number;
  tensorGrowth: number;
  decodeTokensPerSecond: { kvCache: number; fullRecompute: number };
}

/** GPU programs actually dispatched while `f` runs (webgpu only; a tfjs
 * kernel may dispatch several programs or none, e.g. a reshape). */
export async function countPrograms<T>(f: () => Promise<T>): Promise<{ value: T; programs: number | null }> {
  if (tf.getBackend() !== 'webgpu') return { value: await f(), programs: null };
  const b = tf.backend() as unknown as { runWebGPUProgram: (...a: unknown[]) => unknown };
  const orig = b.runWebGPUProgram;
  let n = 0;
  b.runWebGPUProgram = function (this: unknown, ...a: unknown[]) {
    n++;
    return orig.apply(this, a);
  };
  try {
    return { value: await f(), programs: n };
  } finally {
    b.runWebGPUProgram = orig;
  }
}

/** The process's CPU time so far in ms (user + system, all its threads), or
 * null where there is no process.cpuUsage (a browser). */
export function cpuMs(): number | null {
  const u = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process?.cpuUsage?.();
  return u ? (u.user + u.system) / 1000 : null;
}

export async function measureTraining(
  preset: PresetName,
  backend: BackendName,
  o: { steps: number; decodeTokens: number; shape?: Shape },
): Promise<TrainingResult> {
  const shape = o.shape ?? SHAPES[preset];
  const t = await benchTrainer(preset, { backend, steps: 1000, warmupSteps: 0, logEvery: 1 });
  const batches = syntheticBatches(3, shape, t.modelConfig.vocabSize, t.modelConfig.blockSize);
  const tokens = shape.questions * 2 * shape.time;
  const t0 = performance.now();
  await t.stepOn(batches[0], { forceLog: true });
  const firstStepMs = performance.now() - t0;
  await t.stepOn(batches[1], { forceLog: true }); // second warm-up
  const before = tf.memory().numTensors;
  const ms: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < o.steps; i++) {
    const s0 = performance.now();
    const c0 = cpuMs();
    await t.stepOn(batches[i % batches.length], { forceLog: true }); // forceLog: a read-back ends each timed step
    ms.push(performance.now() - s0);
    const c1 = cpuMs();
    if (c0 !== null && c1 !== null) cpu.push(c1 - c0);
  }
  const growth = tf.memory().numTensors - before;
  const prof = await tf.profile(async () => {
    await t.stepOn(batches[0], { forceLog: true });
  });
  const { programs: gpuPrograms } = await countPrograms(async () => void (await t.stepOn(batches[0], { forceLog: true })));
  const params = t.variables as unknown as Params;
  const prompt = batches[0].ids.slice(0, 16);
  const dec = async (useCache: boolean): Promise<number> => {
    await greedyDecode(params, t.modelConfig, Array.from(prompt), { maxNewTokens: 4, eosId: -1, useCache }); // warm-up
    const d0 = performance.now();
    const out = await greedyDecode(params, t.modelConfig, Array.from(prompt), { maxNewTokens: o.decodeTokens, eosId: -1, useCache });
    return out.length / ((performance.now() - d0) / 1000);
  };
  const decodeCached = await dec(true);
  const decodeFull = await dec(false);
  t.dispose();
  return {
    preset,
    params: countParams(t.modelConfig),
    batch: { rows: shape.questions * 2, time: shape.time, tokens },
    firstStepMs,
    msPerStep: median(ms),
    msPerStepAll: ms,
    cpuMsPerStep: cpu.length ? median(cpu) : null,
    tokensPerSecond: tokens / (median(ms) / 1000),
    dispatchesPerStep: prof.kernels.length,
    gpuProgramsPerStep: gpuPrograms,
    peakBytes: prof.peakBytes,
    tensorGrowth: growth,
    decodeTokensPerSecond: { kvCache: decodeCached, fullRecompute: decodeFull },
  };
}
