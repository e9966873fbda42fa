import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { symmetricKL, mcckdLoss } from '../../src/core/losses';
import { gatherRows, gatherRowsOneHot, gatherRowsScatter, sparseCrossEntropy } from '../../src/core/ops';
import { Trainer, lossInputs } from '../../src/core/trainer';
import { buildBatch } from '../../src/core/batch';
import { toyGroups, tinyConfig } from './core-helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

describe('symmetric KL', () => {
  it('is symmetric, non-negative and zero for identical inputs', () => {
    const a = rand([5, 11], 1) as tf.Tensor2D;
    const b = rand([5, 11], 2) as tf.Tensor2D;
    const ab = symmetricKL(a, b, 1.3).arraySync();
    const ba = symmetricKL(b, a, 1.3).arraySync();
    ab.forEach((x, i) => expect(x).toBeCloseTo(ba[i], 6));
    ab.forEach((x) => expect(x).toBeGreaterThan(0));
    symmetricKL(a, a, 1.3)
      .arraySync()
      .forEach((x) => expect(Math.abs(x)).toBeLessThan(1e-6));
  });

  it('matches a direct computation', () => {
    const za = [[1, 2, 0.5]];
    const zb = [[0.2, -1, 3]];
    const T = 1.3;
    const sm = (z: number[]): number[] => {
      const e = z.map((x) => Math.exp(x / T));
      const s = e.reduce((x, y) => x + y);
      return e.map((x) => x / s);
    };
    const p = sm(za[0]);
    const q = sm(zb[0]);
    const kl = (x: number[], y: number[]): number => x.reduce((s, xi, i) => s + xi * Math.log(xi / y[i]), 0);
    const want = 0.5 * (kl(p, q) + kl(q, p));
    expect(symmetricKL(tf.tensor2d(za), tf.tensor2d(zb), T).arraySync()[0]).toBeCloseTo(want, 5);
  });
});

describe('sparse cross-entropy and gathers', () => {
  it('equals -log softmax at the target, with the same gradient as the dense form', () => {
    const z = rand([6, 9], 3) as tf.Tensor2D;
    const t = tf.tensor1d([0, 8, 3, 3, 1, 5], 'int32');
    const dense = (x: tf.Tensor): tf.Tensor => tf.neg(tf.sum(tf.mul(tf.logSoftmax(x), tf.oneHot(t, 9)), 1));
    expect(sparseCrossEntropy(z, t).arraySync()).toEqual((dense(z).arraySync() as number[]).map((x) => expect.closeTo(x, 5)));
    const w = tf.tensor1d([1, 2, 3, 4, 5, 6]);
    const g1 = tf
      .grad((x: tf.Tensor) => tf.sum(tf.mul(sparseCrossEntropy(x as tf.Tensor2D, t), w)))(z)
      .arraySync() as number[][];
    const g2 = tf
      .grad((x: tf.Tensor) => tf.sum(tf.mul(dense(x), w)))(z)
      .arraySync() as number[][];
    g1.flat().forEach((x, i) => expect(x).toBeCloseTo(g2.flat()[i], 5));
  });

  it('one-hot and scatter gather gradients equal the native gather gradient', () => {
    const table = rand([7, 4], 4) as tf.Tensor2D;
    const idx = tf.tensor1d([1, 1, 6, 0, 3], 'int32');
    const w = rand([5, 4], 5);
    const f = (g: typeof gatherRows) =>
      tf
        .grad((x: tf.Tensor) => tf.sum(tf.mul(g(x as tf.Tensor2D, idx), w)))(table)
        .arraySync() as number[][];
    const native = f((t, i) => tf.gather(t, i));
    const onehot = f(gatherRowsOneHot);
    onehot.flat().forEach((x, i) => expect(x).toBeCloseTo(native.flat()[i], 6));
    const scatter = f(gatherRowsScatter);
    scatter.flat().forEach((x, i) => expect(x).toBeCloseTo(native.flat()[i], 6));
    expect(native.flat().some((x) => Math.abs(x) > 0.5)).toBe(true);
  });
});

describe('MCC-KD loss on a tiny model', () => {
  const groups = toyGroups(8);
  const small = { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 };

  it('starts near ln(vocab), and alpha = 0 gives exactly the CE', async () => {
    const t = await Trainer.create({ groups, trainConfig: tinyConfig({ alpha: 0 }), datasetFingerprint: 'x', modelOverrides: small });
    const b = buildBatch(
      groups.slice(0, 4).map((_, i) => ({ a: encoded(t, i, 0), b: encoded(t, i, 1) })),
      { blockSize: 96, padId: 0 },
    );
    const l = tf.tidy(() => t.lossTensors(b));
    const [loss, ce, kl] = [l.loss.dataSync()[0], l.ce.dataSync()[0], l.kl.dataSync()[0]];
    expect(Math.abs(ce - Math.log(t.modelConfig.vocabSize))).toBeLessThan(0.15);
    expect(loss).toBe(ce);
    expect(kl).toBeGreaterThan(0);
    tf.dispose([l.loss, l.ce, l.kl]);
    t.dispose();
  });

  it('KL is zero when both branches see the same rationale', async () => {
    const t = await Trainer.create({ groups, trainConfig: tinyConfig({ alpha: 1 }), datasetFingerprint: 'x', modelOverrides: small });
    const b = buildBatch([{ a: encoded(t, 0, 1), b: encoded(t, 0, 1) }], { blockSize: 96, padId: 0 });
    const kl = tf.tidy(() => t.lossTensors(b).kl.dataSync()[0]);
    expect(Math.abs(kl)).toBeLessThan(1e-6);
    t.dispose();
  });

  it('the KL gradient matches central finite differences', () => {
    // logits = x @ W: a one-layer "model" small enough for float32 differences
    const x = rand([6, 5], 7) as tf.Tensor2D;
    const W = tf.variable(tf.mul(rand([5, 8], 8), 0.5));
    const inputs = {
      targets: tf.tensor1d([1, 2, 3, 4, 5, 6], 'int32'),
      ceWeight: tf.tensor1d([0, 0, 0, 0, 0, 0]),
      klA: tf.tensor1d([0, 1], 'int32'),
      klB: tf.tensor1d([3, 4], 'int32'),
      klMask: tf.tensor2d([[1, 1]]),
    };
    const f = (): tf.Scalar => mcckdLoss(tf.matMul(x, W), inputs, 1, 1.3).kl;
    const g = tf.variableGrads(f, [W]).grads[W.name].arraySync() as number[][];
    const base = W.arraySync() as number[][];
    const eps = 1e-2;
    let checked = 0;
    for (const [i, j] of [
      [0, 0],
      [1, 3],
      [4, 7],
      [2, 5],
      [3, 1],
    ]) {
      const at = (d: number): number => {
        const m = base.map((r) => r.slice());
        m[i][j] += d;
        W.assign(tf.tensor2d(m));
        return f().dataSync()[0];
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      expect(Math.abs(fd - g[i][j])).toBeLessThan(2e-3 + 2e-2 * Math.abs(g[i][j]));
      checked++;
    }
    W.assign(tf.tensor2d(base));
    expect(checked).toBe(5);
    W.dispose();
  });

  it('on the tiny GPT, the KL gradient matches central finite differences', async () => {
    const t = await Trainer.create({ groups, trainConfig: tinyConfig({ alpha: 1 }), datasetFingerprint: 'x', modelOverrides: small });
    const b = buildBatch(
      [
        { a: encoded(t, 0, 0), b: encoded(t, 0, 2) },
        { a: encoded(t, 1, 1), b: encoded(t, 1, 0) },
      ],
      { blockSize: 96, padId: 0 },
    );
    const klOf = (): number => tf.tidy(() => t.lossTensors(b).kl.dataSync()[0]);
    const names = ['transformer.ln_f.weight', 'transformer.h.0.mlp.c_proj.weight', 'transformer.wte.weight'];
    const vars = names.map((n) => t.variables.get(n)!);
    const grads = tf.tidy(() => {
      const { grads: g } = tf.variableGrads(() => t.lossTensors(b).kl, vars);
      return vars.map((v) => Array.from(g[v.name].dataSync()));
    });
    const eps = 1e-2;
    let compared = 0;
    vars.forEach((v, k) => {
      const base = v.dataSync().slice();
      // the entries with the largest analytic gradient: differences well above float32 noise
      const order = grads[k]
        .map((g, i) => [Math.abs(g), i])
        .sort((x, y) => y[0] - x[0])
        .slice(0, 2);
      for (const [, i] of order) {
        const at = (d: number): number => {
          const w = base.slice();
          w[i] += d;
          v.assign(tf.tensor(w, v.shape));
          return klOf();
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        expect(Math.abs(fd - grads[k][i])).toBeLessThan(1e-5 + 0.02 * Math.abs(grads[k][i]));
        compared++;
      }
      v.assign(tf.tensor(base, v.shape));
    });
    expect(compared).toBe(6);
    t.dispose();
  });

  it('loss gradients reach both branches (no stop-gradient)', () => {
    const za = tf.variable(rand([2, 6], 9));
    const zb = tf.variable(rand([2, 6], 10));
    const { grads } = tf.variableGrads(
      () => tf.sum(symmetricKL(za as unknown as tf.Tensor2D, zb as unknown as tf.Tensor2D, 1.3)) as tf.Scalar,
      [za, zb],
    );
    expect(tf.sum(tf.abs(grads[za.name])).dataSync()[0]).toBeGreaterThan(1e-4);
    expect(tf.sum(tf.abs(grads[zb.name])).dataSync()[0]).toBeGreaterThan(1e-4);
  });

  it('lossInputs copies the host batch faithfully', () => {
    const b = buildBatch([], { blockSize: 16, padId: 0 });
    const li = tf.tidy(() => lossInputs(b).klMask.shape);
    expect(li).toEqual([0, 0]);
  });
});

function encoded(t: Trainer, g: number, r: number) {
  return (t as unknown as { data: { rationales: import('../../src/core/batch').EncodedRationale[] }[] }).data[g].rationales[r];
}
