// One preset's training and decoding measurements on the active backend.
// Browser-safe (no node:*): bench/measure.ts runs it in Node, the browser
// bench (bench/browser/worker.ts) in a Chromium worker.
import * as tf from '@tensorflow/tfjs-core';
import { countParams, type BackendName, type PresetName } from '../src/core/config';
import { greedyDecode } from '../src/core/generate';
import type { Params } from '../src/core/model';
import { setFusedKernels } from '../src/core/fused/ops';
import { setExplicitTransposes } from '../src/core/ops';
import type { WasmThreads } from '../src/core/backend';
import { SHAPES, benchTrainer, median, syntheticBatches } from '../support/synthetic';

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

/** One backend's rows in a report: its results, or why it could not run.
 * `threads`: wasm's in Chromium (a `wasm-1t` row asks for one). */
export type BackendRows =
  | { backend: string; adapter: string | null; threads?: WasmThreads; results: TrainingResult[] }
  | { backend: string; error: string };

export interface TrainingResult {
  preset: PresetName;
  params: number;
  batch: { rows: number; time: number; tokens: number };
  firstStepMs: number;
  msPerStep: number;
  msPerStepAll: number[];
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

export async function measureTraining(
  preset: PresetName,
  backend: BackendName,
  o: { steps: number; decodeTokens: number },
): Promise<TrainingResult> {
  const shape = SHAPES[preset];
  const t = await benchTrainer(preset, { backend, steps: 1000, warmupSteps: 0, logEvery: 1 });
  const batches = syntheticBatches(3, shape, t.modelConfig.vocabSize, t.modelConfig.blockSize);
  const tokens = shape.questions * 2 * shape.time;
  const t0 = performance.now();
  await t.stepOn(batches[0], { forceLog: true });
  const firstStepMs = performance.now() - t0;
  await t.stepOn(batches[1], { forceLog: true }); // second warm-up
  const before = tf.memory().numTensors;
  const ms: number[] = [];
  for (let i = 0; i < o.steps; i++) {
    const s0 = performance.now();
    await t.stepOn(batches[i % batches.length], { forceLog: true }); // forceLog: a read-back ends each timed step
    ms.push(performance.now() - s0);
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
    tokensPerSecond: tokens / (median(ms) / 1000),
    dispatchesPerStep: prof.kernels.length,
    gpuProgramsPerStep: gpuPrograms,
    peakBytes: prof.peakBytes,
    tensorGrowth: growth,
    decodeTokensPerSecond: { kvCache: decodeCached, fullRecompute: decodeFull },
  };
}
