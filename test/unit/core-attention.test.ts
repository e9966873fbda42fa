// The attention core's per-layer options (src/core/layers.ts): a sliding
// window (query i sees key j only when i - window < j <= i), an attention
// logit soft-cap and the scale, checked against a float64 reference on the
// host, and through a whole model: decoding with the KV cache equals the full
// forward when the window is shorter than the sequence.

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { attend, attentionBias, type AttnOptions, type LayerCache } from '../../src/core/layers';
import { createVariables, forward, initParams } from '../../src/core/model';
import { checkModelRanges, paramShapes, type ModelConfig } from '../../src/core/config';
import { Rng } from '../../src/shared/rng';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const rand = (n: number, seed: number): Float32Array => {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal());
};

/** softmax attention of one head in float64: q, k, v [t, hd] row-major. */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, t: number, hd: number, o: AttnOptions): number[] {
  const out: number[] = [];
  for (let i = 0; i < t; i++) {
    const s: number[] = [];
    for (let j = 0; j < t; j++) {
      let dot = 0;
      for (let x = 0; x < hd; x++) dot += q[i * hd + x] * k[j * hd + x];
      let a = dot * o.scale;
      if (o.softcap !== undefined) a = Math.tanh(a / o.softcap) * o.softcap;
      const visible = j <= i && (o.window === undefined || j > i - o.window);
      s.push(visible ? a : -Infinity);
    }
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    for (let x = 0; x < hd; x++) out.push(e.reduce((acc, w, j) => acc + (w / z) * v[j * hd + x], 0));
  }
  return out;
}

describe('attention core options', () => {
  const t = 6;
  const hd = 4;
  const [q, k, v] = [rand(t * hd, 1), rand(t * hd, 2), rand(t * hd, 3)];
  const run = (o: AttnOptions): Float32Array =>
    tf.tidy(() => {
      const as4 = (x: Float32Array): tf.Tensor4D => tf.tensor4d(x, [1, 1, t, hd]);
      return attend(as4(q), as4(k), as4(v), o).y.dataSync() as Float32Array;
    });

  it('the window mask: a window of the sequence length is the causal mask, a window of 1 the diagonal', () => {
    const causal = tf.tidy(() => tf.linalg.bandPart(tf.ones([t, t]), -1, 0).arraySync() as number[][]);
    const full = tf.tidy(() => attentionBias(t, 0, t).arraySync());
    expect(full.map((row) => row.map((b) => (b === 0 ? 1 : 0)))).toEqual(causal);
    const one = tf.tidy(() => attentionBias(t, 0, 1).arraySync());
    expect(one.map((row, i) => row.map((b, j) => (b === 0) === (i === j)).every(Boolean)).every(Boolean)).toBe(true);
    // with 3 cached positions, query 0 is position 3: a window of 2 sees keys 2 and 3
    expect(tf.tidy(() => attentionBias(1, 3, 2).arraySync())[0].map((b) => b === 0)).toEqual([false, false, true, true]);
  });

  it('matches the float64 reference: plain, windowed, soft-capped, with another scale', () => {
    const plain = { scale: 1 / Math.sqrt(hd) };
    for (const o of [
      plain,
      { ...plain, window: 2 },
      { ...plain, window: 1 },
      { ...plain, softcap: 0.5 },
      { scale: 0.9, window: 3, softcap: 1.5 },
    ]) {
      const got = Array.from(run(o));
      const want = reference(q, k, v, t, hd, o);
      got.forEach((g, i) => expect(g, JSON.stringify(o)).toBeCloseTo(want[i], 5));
    }
    // the options really change the output (the test above could not pass by ignoring them)
    expect(Array.from(run({ ...plain, window: 2 }))).not.toEqual(Array.from(run(plain)));
    expect(Array.from(run({ ...plain, softcap: 0.5 }))).not.toEqual(Array.from(run(plain)));
    // a window as long as the sequence is the causal attention, to the last bit
    expect(Array.from(run({ ...plain, window: t }))).toEqual(Array.from(run(plain)));
    // a window of 1: every query sees only itself
    Array.from(run({ ...plain, window: 1 })).forEach((g, i) => expect(g).toBeCloseTo(v[i], 6));
  });
});

describe('sliding-window layers through a model', () => {
  const base: ModelConfig = {
    arch: 'llama',
    vocabSize: 40,
    blockSize: 16,
    nLayer: 2,
    nHead: 4,
    nKvHead: 2,
    nEmbd: 32,
    intermediateSize: 48,
    layerNormEps: 1e-6,
    ropeTheta: 10_000,
    tieWordEmbeddings: true,
  };
  const sliding: ModelConfig = { ...base, layerTypes: ['sliding', 'full'], slidingWindow: 3, ropeLocalTheta: 100 };
  const ids = [[3, 17, 5, 9, 30, 2, 11, 7]];
  const logits = (c: ModelConfig): number[] => {
    const p = createVariables(initParams(c, 7), paramShapes(c));
    try {
      return tf.tidy(() => Array.from(forward(p, c, tf.tensor2d(ids, [1, 8], 'int32')).logits.dataSync()));
    } finally {
      for (const x of p.values()) x.dispose();
    }
  };

  it('checks the per-layer fields', () => {
    checkModelRanges(sliding);
    expect(() => checkModelRanges({ ...sliding, layerTypes: ['sliding'] })).toThrow(/layerTypes/);
    expect(() => checkModelRanges({ ...sliding, slidingWindow: undefined })).toThrow(/slidingWindow/);
    expect(() => checkModelRanges({ ...sliding, slidingWindow: 0 })).toThrow(/slidingWindow/);
    // the head applies a final soft-cap for any family (headLoss.ts); only its range is checked
    checkModelRanges({ ...sliding, finalSoftcap: 30 });
    expect(() => checkModelRanges({ ...sliding, finalSoftcap: 0 })).toThrow(/finalSoftcap/);
    // refused where nothing would apply them, rather than silently ignored
    const gpt2: ModelConfig = { vocabSize: 40, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32, layerNormEps: 1e-5 };
    checkModelRanges(gpt2);
    expect(() => checkModelRanges({ ...gpt2, attnSoftcap: 50 })).toThrow(/gpt2 model has no attnSoftcap/);
    expect(() => checkModelRanges({ ...gpt2, layerTypes: ['sliding', 'full'], slidingWindow: 4 })).toThrow(/gpt2 model has no layerTypes/);
  });

  it('a window covering the sequence changes nothing; a shorter one does', () => {
    const plain = logits(base);
    expect(logits({ ...base, layerTypes: ['sliding', 'sliding'], slidingWindow: 8 })).toEqual(plain);
    expect(logits({ ...base, layerTypes: ['sliding', 'full'], slidingWindow: 3 })).not.toEqual(plain);
  });

  it('decoding with the KV cache equals the full forward, window shorter than the sequence', () => {
    const before = tf.memory().numTensors;
    const full = logits(sliding);
    const p = createVariables(initParams(sliding, 7), paramShapes(sliding));
    const V = sliding.vocabSize;
    const stepped: number[] = [];
    let past: LayerCache[] | undefined;
    for (let i = 0; i < ids[0].length; i++) {
      // tidy keeps what it returns: the logits and the new caches' tensors
      const kept = tf.tidy(() => {
        const f = forward(p, sliding, tf.tensor2d([[ids[0][i]]], [1, 1], 'int32'), { wantCache: true, ...(past ? { past } : {}) });
        return [f.logits, ...f.cache!.flatMap((c) => [c.k, c.v])];
      });
      stepped.push(...Array.from(kept[0].dataSync()));
      kept[0].dispose();
      for (const c of past ?? []) tf.dispose([c.k, c.v]);
      past = Array.from({ length: sliding.nLayer }, (_, l) => ({ k: kept[1 + 2 * l] as tf.Tensor4D, v: kept[2 + 2 * l] as tf.Tensor4D }));
    }
    for (const c of past ?? []) tf.dispose([c.k, c.v]);
    for (const x of p.values()) x.dispose();
    expect(stepped.length).toBe(ids[0].length * V);
    stepped.forEach((g, i) => expect(g).toBeCloseTo(full[i], 4));
    expect(tf.memory().numTensors).toBe(before);
  });
});
