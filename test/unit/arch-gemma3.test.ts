// Gemma3's pieces through whole models (src/core/arch/gemma3.ts), on random
// weights large enough that attention is far from uniform: the sliding window
// really cuts what the last position sees when the text is longer than the
// window (and a full layer does not); decoding with the KV cache equals the
// full forward; the final logit soft-cap bounds every logit and the chunked
// cross-entropy differentiates through it; a from-scratch Gemma's norms start
// at 0 (its RMSNorm multiplies by 1 + w). The Hugging Face parity of the same
// code is test/unit/hf-parity.test.ts.

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkModelRanges, paramShapes, type AttentionKind, type ModelConfig } from '../../src/core/config';
import { createVariables, forward, headParts, initParams, type Params } from '../../src/core/model';
import { greedyDecode } from '../../src/core/generate';
import { headCrossEntropy } from '../../src/core/headLoss';
import { sparseCrossEntropy } from '../../src/core/ops';
import { Rng } from '../../src/shared/rng';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const V = 50;
const WINDOW = 4;

function gemma(layerTypes: AttentionKind[], extra: Partial<ModelConfig> = {}): ModelConfig {
  const c: ModelConfig = {
    arch: 'gemma3',
    vocabSize: V,
    blockSize: 64,
    nLayer: layerTypes.length,
    nHead: 2,
    nKvHead: 1,
    nEmbd: 16,
    headDim: 8,
    intermediateSize: 24,
    layerNormEps: 1e-6,
    ropeTheta: 1e6,
    ropeLocalTheta: 1e4,
    layerTypes,
    slidingWindow: WINDOW,
    attnScale: 1 / Math.sqrt(6),
    tieWordEmbeddings: true,
    ...extra,
  };
  checkModelRanges(c);
  return c;
}

/** Random weights: matrices N(0, 0.3), norms N(0, 0.2) (gain 1 + w). */
function params(c: ModelConfig, seed = 1): Params {
  const r = new Rng(seed);
  const w: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of paramShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const std = shape.length === 1 ? 0.2 : 0.3;
    w[name] = { shape, data: Float32Array.from({ length: n }, () => r.normal() * std) };
  }
  return createVariables(w, paramShapes(c), false);
}

/** log-softmax of the last position's logits. */
async function lastLogprobs(p: Params, c: ModelConfig, ids: number[]): Promise<Float32Array> {
  const t = tf.tidy(() =>
    tf.logSoftmax(tf.slice(forward(p, c, tf.tensor2d([ids], [1, ids.length], 'int32')).logits, [ids.length - 1, 0], [1, V])),
  );
  const out = (await t.data()) as Float32Array;
  t.dispose();
  return out;
}

const maxAbs = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const IDS = Array.from({ length: 12 }, (_, i) => (i * 7 + 3) % V);
const changed = (at: number): number[] => IDS.map((x, i) => (i === at ? (x + 11) % V : x));

describe('Gemma3 sliding window through a whole model', () => {
  it('one sliding layer: a token more than window positions back does not reach the last position; one inside does', async () => {
    const c = gemma(['sliding']);
    const p = params(c);
    const last = IDS.length - 1;
    const base = await lastLogprobs(p, c, IDS);
    const outside = maxAbs(base, await lastLogprobs(p, c, changed(last - WINDOW))); // key last - 4: outside (sees last-3 .. last)
    const inside = maxAbs(base, await lastLogprobs(p, c, changed(last - WINDOW + 1)));
    console.log(
      `sliding layer, window ${WINDOW}: change ${WINDOW} back ${outside.toExponential(1)}, ${WINDOW - 1} back ${inside.toExponential(1)}`,
    );
    expect(outside).toBeLessThan(1e-6);
    expect(inside).toBeGreaterThan(1e-3);
    // the same model with a full layer sees the token outside the window
    const full = gemma(['full']);
    const pf = params(full);
    expect(maxAbs(await lastLogprobs(pf, full, IDS), await lastLogprobs(pf, full, changed(last - WINDOW)))).toBeGreaterThan(1e-3);
    tf.dispose([...p.values(), ...pf.values()]);
  });

  it('two sliding layers see 2 * (window - 1) back, no further; with a full layer everything', async () => {
    const c = gemma(['sliding', 'sliding']);
    const p = params(c);
    const last = IDS.length - 1;
    const reach = 2 * (WINDOW - 1);
    const base = await lastLogprobs(p, c, IDS);
    expect(maxAbs(base, await lastLogprobs(p, c, changed(last - reach - 1)))).toBeLessThan(1e-6);
    expect(maxAbs(base, await lastLogprobs(p, c, changed(last - reach)))).toBeGreaterThan(1e-4);
    const mixed = gemma(['sliding', 'full']);
    const pm = params(mixed);
    expect(maxAbs(await lastLogprobs(pm, mixed, IDS), await lastLogprobs(pm, mixed, changed(0)))).toBeGreaterThan(1e-4);
    tf.dispose([...p.values(), ...pm.values()]);
  });

  it('decoding with the KV cache equals the full forward (windows shorter than the sequence, local and global RoPE)', async () => {
    const c = gemma(['sliding', 'full', 'sliding']);
    const p = params(c, 5);
    const o = { maxNewTokens: 16, eosId: -1 };
    const cached = await greedyDecode(p, c, IDS.slice(0, 5), o);
    const full = await greedyDecode(p, c, IDS.slice(0, 5), { ...o, useCache: false });
    expect(cached.length).toBe(16);
    expect(cached).toEqual(full);
    tf.dispose([...p.values()]);
  });
});

describe('Gemma3 final logit soft-cap (applied in the head)', () => {
  it('every logit is tanh(z / cap) * cap of the uncapped model', async () => {
    const plain = gemma(['sliding', 'full']);
    const capped = { ...plain, finalSoftcap: 2 };
    const p = params(plain, 3);
    const ids = tf.tensor2d([IDS], [1, IDS.length], 'int32');
    const [z, zc] = tf.tidy(() => [forward(p, plain, ids).logits, forward(p, capped, ids).logits]);
    const a = (await z.data()) as Float32Array;
    const b = (await zc.data()) as Float32Array;
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(2.5); // the cap bites
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(b[i] - Math.tanh(a[i] / 2) * 2));
    expect(d).toBeLessThan(1e-5);
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(2);
    tf.dispose([z, zc, ids, ...p.values()]);
  });

  it('the chunked cross-entropy with a cap: value and gradients as sparse CE of the capped logits', () => {
    const r = new Rng(9);
    const h = tf.variable(
      tf.tensor2d(
        Float32Array.from({ length: 7 * 5 }, () => r.normal() * 2),
        [7, 5],
      ),
    );
    const w = tf.variable(
      tf.tensor2d(
        Float32Array.from({ length: 13 * 5 }, () => r.normal()),
        [13, 5],
      ),
    );
    const t = tf.tensor1d([0, 3, 12, 5, 5, 1, 7], 'int32');
    const k = tf.tensor1d([1, 2, 0.5, 1, 3, 1, 0.25]);
    const cap = 1.5;
    const ours = tf.variableGrads(() => tf.sum(tf.mul(headCrossEntropy(h, { parts: [w], softcap: cap }, t, 3), k)) as tf.Scalar, [h, w]);
    const plain = tf.variableGrads(() => {
      const z = tf.mul(tf.tanh(tf.div(tf.matMul(h, w, false, true), cap)), cap) as tf.Tensor2D;
      return tf.sum(tf.mul(sparseCrossEntropy(z, t), k)) as tf.Scalar;
    }, [h, w]);
    expect(Math.abs(ours.value.dataSync()[0] - plain.value.dataSync()[0])).toBeLessThan(1e-4);
    for (const v of [h, w]) {
      const d = tf.max(tf.abs(tf.sub(ours.grads[v.name], plain.grads[v.name]))).dataSync()[0];
      const s = tf.max(tf.abs(plain.grads[v.name])).dataSync()[0];
      expect(s).toBeGreaterThan(1e-2);
      expect(d / s).toBeLessThan(1e-5);
    }
    // without the cap's derivative the gradients would differ
    const uncapped = tf.variableGrads(() => tf.sum(tf.mul(headCrossEntropy(h, w, t, 3), k)) as tf.Scalar, [h, w]);
    expect(tf.max(tf.abs(tf.sub(uncapped.grads[h.name], plain.grads[h.name]))).dataSync()[0]).toBeGreaterThan(1e-2);
    tf.dispose([
      h,
      w,
      t,
      k,
      ours.value,
      plain.value,
      uncapped.value,
      ...Object.values(ours.grads),
      ...Object.values(plain.grads),
      ...Object.values(uncapped.grads),
    ]);
  });

  it("headParts carries the config's cap", () => {
    const c = { ...gemma(['full']), finalSoftcap: 30 };
    const p = params(c);
    expect(headParts(p, c).softcap).toBe(30);
    expect(headParts(p, gemma(['full'])).softcap).toBeUndefined();
    tf.dispose([...p.values()]);
  });
});

describe('Gemma3 from scratch', () => {
  it('norm weights start at 0 (gain 1 + w = 1), projections drawn', () => {
    const c = gemma(['sliding', 'full']);
    const w = initParams(c, 1);
    for (const [name, t] of Object.entries(w)) {
      if (/norm\.weight$/.test(name))
        expect(
          t.data.every((x) => x === 0),
          name,
        ).toBe(true);
      else
        expect(
          t.data.some((x) => x !== 0),
          name,
        ).toBe(true);
    }
    expect(Object.keys(w).filter((n) => /norm\.weight$/.test(n)).length).toBe(2 * 6 + 1); // 4 layer norms + q/k norms a layer, the final norm
  });
});
