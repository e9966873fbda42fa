// The planner against a real LoRA step (issue 23, item 6): src/core/plan.ts
// planMemory's peak for a tiny GPT-2-like and LLaMA-like student, with and
// without activation recomputation, within 20% of the peak of distinct
// buffers a real step holds on wasm (support/buffer-peak.ts: tf.profile's
// peakBytes counts a buffer once per tensor that views it, so it is not the
// planner's quantity). Both sides count the resident weights, the adapter,
// its gradients and AdamW's moments. Small vocabulary: the whole-logits loss
// (the chunked head of a large vocabulary is compared in bench/pretrained.ts).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN, type ModelConfig } from '../../src/core/config';
import { initParams } from '../../src/core/model';
import { headChunk, planMemory } from '../../src/core/plan';
import { Trainer } from '../../src/core/trainer';
import { shareWasmIdentity } from '../../src/core/wasm-kernels';
import { syntheticBatches } from '../../support/synthetic';
import { bufferPeak } from '../../support/buffer-peak';
import { benchLora, idTokenizer } from '../../bench/pretrained-models';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  shareWasmIdentity(); // as the app and the bench run wasm (src/core/backend.ts)
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

const V = 512;
const STUDENTS: Record<string, ModelConfig> = {
  gpt2: { arch: 'gpt2', vocabSize: V, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 32, layerNormEps: 1e-5, tieWordEmbeddings: true },
  llama: {
    arch: 'llama',
    vocabSize: V,
    blockSize: 64,
    nLayer: 2,
    nHead: 4,
    nKvHead: 2,
    nEmbd: 32,
    intermediateSize: 48,
    ropeTheta: 10000,
    layerNormEps: 1e-6,
    tieWordEmbeddings: true,
  },
};

/** The planned and the measured peak of one LoRA step (the second: the first
 * makes AdamW's moments). */
async function planned(arch: string, recompute: boolean): Promise<{ plan: number; measured: number; numTensors: number[] }> {
  const mc = STUDENTS[arch];
  const lora = benchLora(mc); // the bench's: r 8 on the attention projections
  const t = await Trainer.create({
    groups: [],
    datasetFingerprint: 'plan',
    trainConfig: { ...DEFAULT_TRAIN, vocabSize: V, backend: 'wasm', steps: 10, warmupSteps: 0, logEvery: 1, batchSize: 2, recompute },
    student: {
      modelConfig: mc,
      weights: initParams(mc, 1),
      tokenizer: idTokenizer(V),
      base: { arch: mc.arch!, name: arch, fingerprint: 'plan' },
    },
    lora,
  });
  try {
    const [b0, b1] = syntheticBatches(2, { questions: 2, time: 32 }, V, mc.blockSize);
    await t.stepOn(b0, { forceLog: true });
    const n0 = tf.memory().numTensors;
    const { peakBytes, sharedAtStart } = await bufferPeak(() => t.stepOn(b1, { forceLog: true }));
    expect(sharedAtStart).toBe(0); // the start is exact
    const plan = planMemory({
      config: { ...mc, lora },
      batch: { rows: b1.rows, seqLen: b1.time },
      headChunk: headChunk(V, b1.rows * b1.time), // the trainer's
      klRows: b1.pairs * b1.span,
      recompute,
      fused: false, // wasm runs no fused kernel
    });
    return { plan: plan.total, measured: peakBytes, numTensors: [n0, tf.memory().numTensors] };
  } finally {
    t.dispose();
  }
}

describe('the planner against a real LoRA step on wasm', () => {
  for (const arch of Object.keys(STUDENTS))
    for (const recompute of [false, true])
      it(`${arch}${recompute ? ', recomputed blocks' : ''}: planned peak within 20% of the distinct buffers held`, async () => {
        const r = await planned(arch, recompute);
        expect(r.numTensors[1]).toBe(r.numTensors[0]);
        expect(r.plan / r.measured).toBeGreaterThan(0.8);
        expect(r.plan / r.measured).toBeLessThan(1.2);
      });
});
