// One backend, in its own process (WebGPU in Node needs Dawn's environment
// from process start): training throughput, dispatches, memory, decoding.
// Prints one JSON object on stdout. Used by bench/run.ts.
import * as tf from '@tensorflow/tfjs-core';
import { parseBackend, setupBackend } from '../src/cli/setup';
import { DEFAULT_TRAIN, PRESETS, countParams, type PresetName } from '../src/core/config';
import { Trainer } from '../src/core/trainer';
import { greedyDecode } from '../src/core/generate';
import { SHAPES, byteTokenizer, median, syntheticBatches } from './synthetic';
import type { Params } from '../src/core/model';

const args = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : d;
};
const backend = parseBackend(opt('backend', 'cpu'), 'cpu');
const presets = opt('presets', 'tiny').split(',') as PresetName[];
const steps = Number(opt('steps', '5'));
const decodeTokens = Number(opt('decode-tokens', '32'));

const info = await setupBackend(backend);
const results: unknown[] = [];
for (const preset of presets) {
  const vocab = PRESETS[preset].vocabSize;
  const shape = SHAPES[preset];
  const trainConfig = { ...DEFAULT_TRAIN, preset, vocabSize: vocab, backend, steps: 1000, warmupSteps: 0, logEvery: 1 };
  const t = await Trainer.create({ groups: [], trainConfig, datasetFingerprint: 'bench', tokenizer: byteTokenizer(vocab) });
  const batches = syntheticBatches(3, shape, vocab, t.modelConfig.blockSize);
  const tokens = shape.questions * 2 * shape.time;
  const t0 = performance.now();
  await t.stepOn(batches[0], { forceLog: true });
  const firstStepMs = performance.now() - t0;
  await t.stepOn(batches[1], { forceLog: true }); // second warm-up
  const before = tf.memory().numTensors;
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const s0 = performance.now();
    await t.stepOn(batches[i % batches.length], { forceLog: true }); // forceLog: a read-back ends each timed step
    ms.push(performance.now() - s0);
  }
  const growth = tf.memory().numTensors - before;
  const prof = await tf.profile(async () => {
    await t.stepOn(batches[0], { forceLog: true });
  });
  const params = t.variables as unknown as Params;
  const prompt = batches[0].ids.slice(0, 16);
  const dec = async (useCache: boolean): Promise<number> => {
    await greedyDecode(params, t.modelConfig, Array.from(prompt), { maxNewTokens: 4, eosId: -1, useCache }); // warm-up
    const d0 = performance.now();
    const out = await greedyDecode(params, t.modelConfig, Array.from(prompt), { maxNewTokens: decodeTokens, eosId: -1, useCache });
    return out.length / ((performance.now() - d0) / 1000);
  };
  const decodeCached = await dec(true);
  const decodeFull = await dec(false);
  results.push({
    preset,
    params: countParams(t.modelConfig),
    batch: { rows: shape.questions * 2, time: shape.time, tokens },
    firstStepMs,
    msPerStep: median(ms),
    msPerStepAll: ms,
    tokensPerSecond: tokens / (median(ms) / 1000),
    dispatchesPerStep: prof.kernels.length,
    peakBytes: prof.peakBytes,
    tensorGrowth: growth,
    decodeTokensPerSecond: { kvCache: decodeCached, fullRecompute: decodeFull },
  });
  t.dispose();
}
process.stdout.write(`${JSON.stringify({ backend: info.backend, adapter: info.adapter ?? null, results })}\n`);
