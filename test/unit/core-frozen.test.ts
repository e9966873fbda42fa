// A frozen weight (a LoRA run's base) gets no gradient and no transposed
// copy, on wasm and cpu (test/gpu has no such check: on WebGPU the frozen op
// is the same customGrad over tf.matMul as on cpu): the shapes of every tensor a LoRA step's kernels
// output (tf.profile) never include a frozen matrix's [in, out] or its
// transpose, for a GPT-2-style and a LLaMA-style student, with the whole
// logits, the chunked head and recomputed blocks. The frozen op's input
// gradient equals tf.matMul's.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN, type ModelConfig, type TrainConfig } from '../../src/core/config';
import { initParams } from '../../src/core/model';
import { frozenMatMul } from '../../src/core/ops';
import { Trainer } from '../../src/core/trainer';
import { Tokenizer } from '../../src/core/tokenizer';
import { shareWasmIdentity } from '../../src/core/wasm-kernels';
import { syntheticBatches } from '../../support/synthetic';

/** The backend as the app sets it up (src/core/backend.ts): on wasm, a clone
 * shares its buffer. */
async function use(backend: string): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
  if (backend === 'wasm') shareWasmIdentity();
}

afterAll(async () => {
  await tf.setBackend('cpu');
});

// Dimensions chosen so that no activation shares a frozen matrix's 2-D shape:
// 18 tokens (2 rows x 9), width 24, MLP 96 (GPT-2) / 40 (LLaMA), kv 12, vocab 300.
const V = 300;
const MODELS: Record<string, ModelConfig> = {
  gpt2: { arch: 'gpt2', vocabSize: V, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 24, layerNormEps: 1e-5, tieWordEmbeddings: true },
  llama: {
    arch: 'llama',
    vocabSize: V,
    blockSize: 32,
    nLayer: 2,
    nHead: 4,
    nKvHead: 2,
    nEmbd: 24,
    intermediateSize: 40,
    ropeTheta: 10000,
    layerNormEps: 1e-6,
    tieWordEmbeddings: false,
  },
};
const TARGETS: Record<string, string[]> = {
  gpt2: ['c_attn', 'c_proj', 'c_fc'],
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
};

async function loraTrainer(arch: 'gpt2' | 'llama', recompute: boolean): Promise<Trainer> {
  const mc = MODELS[arch];
  const trainConfig: TrainConfig = { ...DEFAULT_TRAIN, vocabSize: V, steps: 10, warmupSteps: 0, logEvery: 1, batchSize: 1, recompute };
  return Trainer.create({
    groups: [],
    trainConfig,
    datasetFingerprint: 'frozen-test',
    student: {
      modelConfig: mc,
      weights: initParams(mc, 3),
      tokenizer: Tokenizer.fromJSON({ type: 'byte-bpe/1', vocabSize: V, merges: [] }),
      base: { arch: mc.arch!, name: `rand-${arch}`, fingerprint: 'frozen-test' },
    },
    lora: { rank: 4, alpha: 8, targets: TARGETS[arch] },
  });
}

/** "a,b" for a 2-D shape. */
const key = (s: number[]): string => s.join(',');

/** The 2-D output shapes of every kernel one step runs (nested ones, those
 * inside custom ops, included). */
async function stepShapes(run: () => Promise<unknown>): Promise<Set<string>> {
  const prof = await tf.profile(async () => void (await run()));
  const out = new Set<string>();
  for (const k of prof.kernels) {
    // a clone (tfjs saves a kernel's inputs for its gradient so, the slice of
    // GPT-2's wpe among them): the same buffer (see the last test), no copy
    if (k.name === 'Identity') continue;
    for (const s of k.outputShapes) if (s && s.length === 2) out.add(key(s));
  }
  return out;
}

/** Frozen matrices' shapes and their transposes, each with a name. */
function frozenShapes(t: Trainer): Map<string, string> {
  const m = new Map<string, string>();
  for (const [name, v] of t.variables)
    if (!v.trainable && v.rank === 2) {
      const [r, c] = v.shape as [number, number];
      m.set(key([r, c]), name);
      m.set(key([c, r]), `${name} (transposed)`);
    }
  return m;
}

describe('a LoRA step allocates no gradient and no transposed copy of a frozen weight', () => {
  for (const backend of ['wasm', 'cpu'])
    for (const arch of ['gpt2', 'llama'] as const)
      it(`${backend}, ${arch}: the whole logits, the chunked head, recomputed blocks`, async () => {
        await use(backend);
        for (const recompute of [false, true]) {
          const start = tf.memory().numTensors;
          const t = await loraTrainer(arch, recompute);
          const frozen = frozenShapes(t);
          expect([...t.variables.values()].filter((v) => !v.trainable && v.rank === 2).length).toBe(arch === 'gpt2' ? 10 : 16);
          const [b] = syntheticBatches(1, { questions: 1, time: 9 }, V, MODELS[arch].blockSize);
          expect(b.rows * b.time).toBe(18);
          const vars = [...t.trainableVariables.values()];
          // the trainer's step (a small vocabulary: the whole [18, V] logits)
          const whole = await stepShapes(() => t.stepOn(b, { forceLog: true }));
          // the chunked head (a budget of 5 rows of logits), as a large vocabulary takes it
          const chunked = await stepShapes(async () =>
            tf.tidy(() => {
              tf.variableGrads(() => t.lossTensors(b, { headBudget: 5 * V * 4 }).loss, vars);
            }),
          );
          const hits = [...whole, ...chunked].filter((s) => frozen.has(s)).map((s) => `[${s}] ${frozen.get(s)}`);
          expect(hits, `recompute ${recompute}`).toEqual([]);
          // the same step differentiates something: the adapter's own shapes are there
          expect(whole.has(key(t.trainableVariables.values().next().value!.shape))).toBe(true);
          t.dispose();
          expect(tf.memory().numTensors).toBe(start);
        }
      });
});

describe('frozenMatMul', () => {
  for (const backend of ['wasm', 'cpu'])
    it(`${backend}: the value and the input gradient of tf.matMul, with and without transposeB`, async () => {
      await tf.setBackend(backend);
      await tf.ready();
      for (const tb of [false, true]) {
        const [ours, ref] = tf.tidy(() => {
          const x = tf.tensor2d(
            Array.from({ length: 15 }, (_, i) => Math.sin(i + 1)),
            [5, 3],
          );
          const w = tf.variable(
            tf.tensor2d(
              Array.from({ length: 12 }, (_, i) => Math.cos(i)),
              tb ? [4, 3] : [3, 4],
            ),
            false,
          );
          const r = tf.tensor2d(
            Array.from({ length: 20 }, (_, i) => i / 7 - 1),
            [5, 4],
          );
          const run = (mm: (a: tf.Tensor2D) => tf.Tensor2D): number[] => {
            const { value, grad } = tf.valueAndGrad((a: tf.Tensor) => tf.sum(tf.mul(mm(a as tf.Tensor2D), r)))(x);
            return [...value.dataSync(), ...grad.dataSync(), ...mm(x).dataSync()];
          };
          const out = [run((a) => frozenMatMul(a, w, tb)), run((a) => tf.matMul(a, w, false, tb))];
          w.dispose();
          return out;
        });
        expect(ours.length).toBe(1 + 15 + 20);
        for (const [i, v] of ours.entries()) expect(v).toBeCloseTo(ref[i], 5);
      }
    });
});

describe('wasm clones', () => {
  it("share their buffer once shareWasmIdentity ran (tfjs-backend-wasm's own Identity copies)", async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    shareWasmIdentity();
    const before = tf.memory().numDataBuffers;
    const c = tf.clone(x);
    expect(tf.memory().numDataBuffers - before).toBe(0);
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    x.dispose(); // the buffer lives on with the clone
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    c.dispose();
    // a gradient through saved inputs is unchanged
    const g = tf.tidy(() =>
      Array.from(
        tf
          .grad((a: tf.Tensor) => tf.sum(tf.mul(tf.square(a), a)))(tf.tensor1d([1, 2, 3]))
          .dataSync(),
      ),
    );
    expect(g).toEqual([3, 12, 27]);
  });
});
