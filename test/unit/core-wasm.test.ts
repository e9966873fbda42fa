// tfjs-backend-wasm has no UnsortedSegmentSum, which tf.gather's gradient
// needs: the embedding lookup and the KL row picks use a one-hot gradient
// there. Their gradients (and a whole training step) must equal the cpu
// backend's.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { gatherRows, matMul2d } from '../../src/core/ops';
import { Trainer } from '../../src/core/trainer';
import { toyGroups, tinyConfig } from './core-helpers';

async function use(b: 'cpu' | 'wasm'): Promise<void> {
  await tf.setBackend(b);
  await tf.ready();
}

afterAll(async () => {
  await use('cpu');
});

/** d/d table of sum(gather(table, idx) * w), repeated rows included. */
function embeddingGrad(gather: (t: tf.Tensor2D, i: tf.Tensor1D) => tf.Tensor): number[] {
  return tf.tidy(() => {
    const table = tf.tensor2d(
      Array.from({ length: 40 }, (_, i) => Math.sin(i)),
      [10, 4],
    );
    const idx = tf.tensor1d([3, 3, 9, 0, 7, 3], 'int32');
    const w = tf.tensor2d(
      Array.from({ length: 24 }, (_, i) => Math.cos(i)),
      [6, 4],
    );
    return Array.from(
      tf
        .grad((t: tf.Tensor) => tf.sum(tf.mul(gather(t as tf.Tensor2D, idx), w)))(table)
        .dataSync(),
    );
  });
}

describe('wasm backend', () => {
  it('has no native gather gradient kernel (why the custom gradient exists)', async () => {
    await use('wasm');
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeUndefined();
  });

  it('embedding gradients equal the cpu backend native ones', async () => {
    await use('cpu');
    const cpu = embeddingGrad((t, i) => tf.gather(t, i));
    await use('wasm');
    for (const path of [undefined, 'scatter', 'onehot'] as const) {
      const wasm = embeddingGrad((t, i) => gatherRows(t, i, path));
      expect(wasm.length).toBe(40);
      wasm.forEach((x, i) => expect(x).toBeCloseTo(cpu[i], 5));
    }
    expect(cpu.some((x) => Math.abs(x) > 0.1)).toBe(true);
  });

  it("the 2-D product with explicit transposes (XNNPACK path) has tf.matMul's value and gradients", async () => {
    const run = (mm: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D, transposedB: boolean): number[][] =>
      tf.tidy(() => {
        const a = tf.tensor2d(
          Array.from({ length: 5 * 7 }, (_, i) => Math.sin(i * 0.7)),
          [5, 7],
        );
        const b = transposedB
          ? tf.tensor2d(
              Array.from({ length: 3 * 7 }, (_, i) => Math.cos(i * 0.3)),
              [3, 7],
            )
          : tf.tensor2d(
              Array.from({ length: 7 * 3 }, (_, i) => Math.cos(i * 0.3)),
              [7, 3],
            );
        const w = tf.tensor2d(
          Array.from({ length: 15 }, (_, i) => i - 7),
          [5, 3],
        );
        const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(mm(x as tf.Tensor2D, y as tf.Tensor2D), w)))([a, b]);
        return [Array.from(mm(a, b).dataSync()), Array.from(ga.dataSync()), Array.from(gb.dataSync())];
      });
    for (const tb of [false, true]) {
      await use('cpu');
      const ref = run((a, b) => tf.matMul(a, b, false, tb), tb);
      await use('wasm');
      const ours = run((a, b) => matMul2d(a, b, tb), tb);
      ours.forEach((xs, k) => xs.forEach((x, i) => expect(x).toBeCloseTo(ref[k][i], 4)));
      expect(ref[2].some((x) => Math.abs(x) > 0.5)).toBe(true);
    }
  });

  it('trains with the same losses as the cpu backend', async () => {
    const losses = async (b: 'cpu' | 'wasm'): Promise<number[]> => {
      await use(b);
      const t = await Trainer.create({
        groups: toyGroups(6),
        trainConfig: tinyConfig({ steps: 4 }),
        datasetFingerprint: 'x',
        modelOverrides: { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 },
      });
      const out: number[] = [];
      while (t.step < t.totalSteps) out.push((await t.trainStep())!.loss);
      t.dispose();
      return out;
    };
    const cpu = await losses('cpu');
    const wasm = await losses('wasm');
    expect(wasm[3]).toBeLessThan(wasm[0]);
    wasm.forEach((x, i) => expect(Math.abs(x - cpu[i])).toBeLessThan(1e-3));
  });
});
