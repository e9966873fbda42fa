// The chunked output head + cross-entropy (src/core/headLoss.ts) against the
// plain path (logits = h @ w^T, then sparseCrossEntropy): the same values and
// gradients, no tensors left behind, and a lower peak than the full logits.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headCrossEntropy, headLogitsRows } from '../../src/core/headLoss';
import { sparseCrossEntropy } from '../../src/core/ops';

async function use(b: 'cpu' | 'wasm'): Promise<void> {
  await tf.setBackend(b);
  await tf.ready();
}

beforeAll(async () => {
  await use('cpu');
});

afterAll(async () => {
  await use('cpu');
});

/** Deterministic data (an LCG), so that every backend gets the same numbers. */
function data(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

interface Case {
  n: number;
  v: number;
  d: number;
}

interface Result {
  ce: number[];
  dh: number[];
  dw: number[];
}

/** CE and the gradients of sum(ce * weights) w.r.t. h and w. */
function run(c: Case, loss: (h: tf.Tensor2D, w: tf.Tensor2D, t: tf.Tensor1D) => tf.Tensor1D): Result {
  return tf.tidy(() => {
    const h = tf.tensor2d(data(c.n * c.d, 11 + c.n, 2), [c.n, c.d]);
    const w = tf.tensor2d(data(c.v * c.d, 7 + c.v, 1.5), [c.v, c.d]);
    const t = tf.tensor1d(
      Array.from({ length: c.n }, (_, i) => (i * 7 + 3) % c.v),
      'int32',
    );
    const k = tf.tensor1d(Array.from({ length: c.n }, (_, i) => 0.5 + ((i * 3) % 5) / 4)); // dy that is not all ones
    const ce = loss(h, w, t);
    const [dh, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(loss(a as tf.Tensor2D, b as tf.Tensor2D, t), k)))([h, w]);
    return { ce: Array.from(ce.dataSync()), dh: Array.from(dh.dataSync()), dw: Array.from(dw.dataSync()) };
  });
}

const plain = (h: tf.Tensor2D, w: tf.Tensor2D, t: tf.Tensor1D): tf.Tensor1D => sparseCrossEntropy(tf.matMul(h, w, false, true), t);
const chunked =
  (c: number) =>
  (h: tf.Tensor2D, w: tf.Tensor2D, t: tf.Tensor1D): tf.Tensor1D =>
    headCrossEntropy(h, w, t, c);

function expectClose(a: Result, b: Result, tol: number): void {
  for (const k of ['ce', 'dh', 'dw'] as const) {
    expect(a[k].length).toBe(b[k].length);
    let worst = 0;
    a[k].forEach((x, i) => (worst = Math.max(worst, Math.abs(x - b[k][i]))));
    expect(worst, k).toBeLessThan(tol);
  }
}

// (n, v, d) with chunk sizes that divide n, do not, equal 1, equal n, exceed n
const CASES: [Case, number[]][] = [
  [{ n: 7, v: 11, d: 5 }, [1, 2, 3, 7, 20]],
  [{ n: 12, v: 37, d: 8 }, [1, 4, 5, 12, 13]],
  [{ n: 30, v: 97, d: 16 }, [1, 7, 8, 29, 64]],
  [{ n: 1, v: 5, d: 3 }, [1, 4]],
];

describe('headCrossEntropy (cpu)', () => {
  it('equals logits = h @ w^T + sparseCrossEntropy, value and both gradients, for any chunk size', () => {
    for (const [c, chunks] of CASES) {
      const ref = run(c, plain);
      expect(ref.dw.some((x) => Math.abs(x) > 0.05)).toBe(true);
      for (const ch of chunks) expectClose(run(c, chunked(ch)), ref, 1e-5);
    }
  });

  it('a frozen head (trainHead false) has the same value and gradient of h, and gives w none', () => {
    const c = { n: 9, v: 23, d: 6 };
    const ref = run(c, plain);
    const out = tf.tidy(() => {
      const h = tf.tensor2d(data(c.n * c.d, 11 + c.n, 2), [c.n, c.d]);
      const w = tf.tensor2d(data(c.v * c.d, 7 + c.v, 1.5), [c.v, c.d]);
      const t = tf.tensor1d(
        Array.from({ length: c.n }, (_, i) => (i * 7 + 3) % c.v),
        'int32',
      );
      const k = tf.tensor1d(Array.from({ length: c.n }, (_, i) => 0.5 + ((i * 3) % 5) / 4));
      const ce = headCrossEntropy(h, w, t, 4, { trainHead: false });
      const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(headCrossEntropy(a as tf.Tensor2D, b as tf.Tensor2D, t, 4, { trainHead: false }), k));
      const dh = tf.grad((a: tf.Tensor) => f(a, w))(h);
      // w is not on the tape: tfjs refuses to differentiate with respect to it
      expect(() => tf.grads(f)([h, w])).toThrow(/Cannot compute gradient/);
      return { ce: Array.from(ce.dataSync()), dh: Array.from(dh.dataSync()) };
    });
    out.ce.forEach((x, i) => expect(Math.abs(x - ref.ce[i])).toBeLessThan(1e-5));
    out.dh.forEach((x, i) => expect(Math.abs(x - ref.dh[i])).toBeLessThan(1e-5));
  });

  it('refuses a bad chunk size or mismatched shapes', () => {
    tf.tidy(() => {
      const h = tf.zeros([4, 3]) as tf.Tensor2D;
      const w = tf.zeros([5, 3]) as tf.Tensor2D;
      const t = tf.zeros([4], 'int32') as tf.Tensor1D;
      expect(() => headCrossEntropy(h, w, t, 0)).toThrow(/chunk/);
      expect(() => headCrossEntropy(h, w, t, 1.5)).toThrow(/chunk/);
      expect(() => headCrossEntropy(h, tf.zeros([5, 2]) as tf.Tensor2D, t, 2)).toThrow(/do not match/);
      expect(() => headCrossEntropy(h, w, tf.zeros([3], 'int32') as tf.Tensor1D, 2)).toThrow(/targets/);
      expect(() => headCrossEntropy(h, w, tf.zeros([4]) as tf.Tensor1D, 2)).toThrow(/int32/);
    });
  });

  it('leaves no tensors behind across repeated steps (tf.tidy + variableGrads)', () => {
    const h = tf.variable(tf.tensor2d(data(10 * 6, 3, 2), [10, 6]), true, 'headloss-h');
    const w = tf.variable(tf.tensor2d(data(17 * 6, 4), [17, 6]), true, 'headloss-w');
    const t = tf.tensor1d(
      Array.from({ length: 10 }, (_, i) => (i * 5) % 17),
      'int32',
    );
    const counts: number[] = [];
    for (let step = 0; step < 4; step++) {
      for (const trainHead of [true, false]) {
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => tf.mean(headCrossEntropy(h, w, t, 3, { trainHead })), trainHead ? [h, w] : [h]);
          expect(Number.isFinite(value.dataSync()[0])).toBe(true);
          // a plain SGD step, as the optimizer would do, so the next call sees new weights
          h.assign(tf.sub(h, tf.mul(grads[h.name], 0.1)));
          if (trainHead) w.assign(tf.sub(w, tf.mul(grads[w.name], 0.1)));
          else expect(grads[w.name]).toBeUndefined();
        });
      }
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts).size).toBe(1);
    tf.dispose([h, w, t]);
  });

  it('peaks far below the full logits (tf.profile peakBytes)', async () => {
    const c = { n: 128, v: 2000, d: 8 };
    const peak = async (loss: (h: tf.Tensor2D, w: tf.Tensor2D, t: tf.Tensor1D) => tf.Tensor1D): Promise<number> => {
      const h = tf.tensor2d(data(c.n * c.d, 1), [c.n, c.d]);
      const w = tf.tensor2d(data(c.v * c.d, 2), [c.v, c.d]);
      const t = tf.tensor1d(
        Array.from({ length: c.n }, (_, i) => (i * 31) % c.v),
        'int32',
      );
      const base = tf.memory().numBytes;
      const info = await tf.profile(() => {
        tf.tidy(() => {
          tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(loss(a as tf.Tensor2D, b as tf.Tensor2D, t)))([h, w]);
        });
      });
      tf.dispose([h, w, t]);
      return info.peakBytes - base;
    };
    const full = await peak(plain);
    const ours = await peak(chunked(8));
    const logitsBytes = c.n * c.v * 4;
    expect(full).toBeGreaterThan(2 * logitsBytes);
    // one [8, V] chunk is 1/8 of the logits; a few of them plus dw [V, d] sums
    expect(ours).toBeLessThan(logitsBytes);
  });
});

describe('headLogitsRows', () => {
  it('equals rows of h @ w^T, with the same gradients', () => {
    const h = tf.tensor2d(data(8 * 5, 21), [8, 5]);
    const w = tf.tensor2d(data(13 * 5, 22), [13, 5]);
    const rows = tf.tensor1d([6, 0, 6, 3], 'int32');
    const k = tf.tensor2d(data(4 * 13, 23), [4, 13]);
    const ref = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.gather(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true), rows);
    const ours = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => headLogitsRows(a as tf.Tensor2D, b as tf.Tensor2D, rows);
    const r = ref(h, w).dataSync();
    ours(h, w)
      .dataSync()
      .forEach((x, i) => expect(Math.abs(x - r[i])).toBeLessThan(1e-5));
    const gr = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(ref(a, b), k)))([h, w]);
    const go = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(ours(a, b), k)))([h, w]);
    go.forEach((g, j) => {
      const want = gr[j].dataSync();
      g.dataSync().forEach((x, i) => expect(Math.abs(x - want[i])).toBeLessThan(1e-5));
    });
    expect(headLogitsRows(h, w, rows).shape).toEqual([4, 13]);
  });
});

describe('headCrossEntropy (wasm)', () => {
  it('equals the plain path on wasm, and the cpu backend', async () => {
    for (const [c, chunks] of CASES) {
      await use('cpu');
      const cpu = run(c, plain);
      await use('wasm');
      const ref = run(c, plain);
      for (const ch of chunks) {
        const ours = run(c, chunked(ch));
        expectClose(ours, ref, 1e-5);
        expectClose(ours, cpu, 1e-4);
      }
    }
    await use('cpu');
  });

  it('leaves no tensors behind on wasm', async () => {
    await use('wasm');
    const h = tf.variable(tf.tensor2d(data(10 * 6, 3, 2), [10, 6]), true, 'headloss-wasm-h');
    const w = tf.variable(tf.tensor2d(data(17 * 6, 4), [17, 6]), true, 'headloss-wasm-w');
    const t = tf.tensor1d(
      Array.from({ length: 10 }, (_, i) => (i * 5) % 17),
      'int32',
    );
    const counts: number[] = [];
    for (let step = 0; step < 3; step++) {
      tf.tidy(() => {
        tf.variableGrads(() => tf.mean(headCrossEntropy(h, w, t, 4)), [h, w]);
      });
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts).size).toBe(1);
    tf.dispose([h, w, t]);
    await use('cpu');
  });
});
