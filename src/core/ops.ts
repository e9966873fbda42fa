// Small differentiable building blocks with gradients that every backend can
// run. tfjs-backend-wasm has no UnsortedSegmentSum kernel, which the gradient
// of tf.gather needs; where it is missing, row gathers get a custom gradient
// (a one-hot matMul), which equals the native one (test/unit/core-wasm.test.ts).

import * as tf from '@tensorflow/tfjs-core';
import { fusedActive, fusedCrossEntropy, fusedGelu, fusedLayerNorm } from './fused/ops';

/** Whether to differentiate tf.gather natively. GPU backends scatter-add
 * well; the cpu backend's UnsortedSegmentSum is slow (1.5 s of a 2.7 s tiny
 * step, measured with tf.profile) and wasm has none. A kernel-registry lookup
 * per call is cheap, and nothing goes stale when the backend changes. */
function hasNativeGatherGrad(): boolean {
  const b = tf.getBackend();
  return (b === 'webgpu' || b === 'webgl') && tf.getKernel('UnsortedSegmentSum', b) !== undefined;
}

/** table[idx] along axis 0 with a gradient that needs no UnsortedSegmentSum:
 * d table = oneHot(idx, N)^T @ dy. */
export function gatherRowsOneHot(table: tf.Tensor2D, idx: tf.Tensor1D): tf.Tensor2D {
  const n = table.shape[0];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, i, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([i]);
    return {
      value: tf.gather(t, i as tf.Tensor1D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const oh = tf.oneHot(saved[0] as tf.Tensor1D, n); // [M, N]
        return [tf.matMul(oh, dy as tf.Tensor2D, true, false), tf.zerosLike(saved[0])]; // [N, M] @ [M, D] -> [N, D]
      },
    };
  });
  return f(table, idx) as tf.Tensor2D;
}

/** table[idx] with d table = scatterND(idx, dy): O(M * D) work where the
 * one-hot matMul costs O(M * N * D). ScatterNd sums duplicate indices (the
 * tests compare it with the native gradient, repeated rows included). */
export function gatherRowsScatter(table: tf.Tensor2D, idx: tf.Tensor1D): tf.Tensor2D {
  const [n, d] = table.shape;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, i, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([i]);
    return {
      value: tf.gather(t, i as tf.Tensor1D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.scatterND(tf.expandDims(saved[0], 1), dy, [n, d]), tf.zerosLike(saved[0])],
    };
  });
  return f(table, idx) as tf.Tensor2D;
}

/** Rows of a 2-D table, differentiable on every backend: the native gradient
 * on GPU backends, a scatter-add where the backend has ScatterNd (wasm, cpu;
 * 8% of a tiny wasm step was the one-hot matMul it replaces), else one-hot. */
export function gatherRows(table: tf.Tensor2D, idx: tf.Tensor1D, path?: 'native' | 'scatter' | 'onehot'): tf.Tensor2D {
  const p = path ?? (hasNativeGatherGrad() ? 'native' : tf.getKernel('ScatterNd', tf.getBackend()) ? 'scatter' : 'onehot');
  if (p === 'native') return tf.gather(table, idx);
  return p === 'scatter' ? gatherRowsScatter(table, idx) : gatherRowsOneHot(table, idx);
}

/** Per-row cross-entropy -log softmax(z)[target], without a one-hot forward.
 * The backward is the softmax gradient (softmax - onehot) * dy, a [N, V]
 * tensor that the gradient of the logits needs in any case. */
export function sparseCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  if (fusedActive()) return fusedCrossEntropy(logits, targets);
  const [n, v] = logits.shape;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [z, t, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const lse = tf.logSumExp(z, 1); // [N]
    const flat = tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(v, 'int32')), t); // index of z[n, t_n] in z.flatten()
    const picked = tf.gather(tf.reshape(z, [n * v]), flat); // [N]
    save([z, t, lse]);
    return {
      value: tf.sub(lse, picked),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [zs, ts, l] = saved;
        const p = tf.exp(tf.sub(zs, tf.expandDims(l, 1))); // softmax [N, V]
        const g = tf.sub(p, tf.oneHot(ts as tf.Tensor1D, v));
        return [tf.mul(g, tf.expandDims(dy, 1)), tf.zerosLike(ts)];
      },
    };
  });
  return f(logits, targets) as tf.Tensor1D;
}

let explicitTransposes = true;

/** Turn matMul2d's wasm path off (or back on), for side-by-side timings. */
export function setExplicitTransposes(on: boolean): void {
  explicitTransposes = on;
}

/** a [M, K] @ b [K, N] (or b^T when b is [N, K] and transposeB), for the
 * model's 2-D products. tfjs-backend-wasm sends only an untransposed 2-D
 * product to XNNPACK and every other one (x @ W^T, and both products in
 * matMul's own gradient, which transpose) to a naive loop; on wasm the
 * transposes are done explicitly so that the forward and both gradient
 * products take the fast path. Other backends run tf.matMul as it is. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D, transposeB = false): tf.Tensor2D {
  if (!explicitTransposes || tf.getBackend() !== 'wasm') return tf.matMul(a, b, false, transposeB);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([x, w]);
    return {
      value: tf.matMul(x, w), // [M, K] @ [K, N]
      gradFunc: (dy: tf.Tensor, [xs, ws]: tf.Tensor[]) => [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(ws) as tf.Tensor2D), // [M, N] @ [N, K]
        tf.matMul(tf.transpose(xs) as tf.Tensor2D, dy as tf.Tensor2D), // [K, M] @ [M, N]
      ],
    };
  });
  return f(a, transposeB ? (tf.transpose(b) as tf.Tensor2D) : b) as tf.Tensor2D;
}

/** Whether w is a frozen weight: a variable that does not train (a LoRA
 * run's base). A recomputed block passes its trainable weights as plain
 * tensors (no `trainable` field), so they never count as frozen. */
export function isFrozen(w: tf.Tensor): boolean {
  return (w as Partial<tf.Variable>).trainable === false;
}

/** a @ w, or a @ w^T with transposeB, for a frozen w, without an op on the
 * tape of its own: on wasm, where XNNPACK takes only untransposed 2-D
 * products, the product that would need w transposed is computed from
 * activation-sized transposes instead, a @ w^T = (w @ a^T)^T. w is thus read
 * in the layout it is held in (Hugging Face's), never copied; the direct
 * product keeps XNNPACK's packed form of w cached for as long as w lives
 * (its operator cache is keyed on the weights' tensor), so it is packed once
 * per run, not once per step. */
function frozenProduct(a: tf.Tensor2D, w: tf.Tensor2D, transposeB: boolean): tf.Tensor2D {
  if (!transposeB) return tf.matMul(a, w); // [M, K] @ [K, N]
  if (!explicitTransposes || tf.getBackend() !== 'wasm') return tf.matMul(a, w, false, true); // [M, K] @ [N, K]^T
  return tf.tidy(() => tf.transpose(tf.matMul(w, tf.transpose(a))) as tf.Tensor2D); // ([N, K] @ [K, M])^T -> [M, N]
}

/** x [M, K] @ w [K, N] (or w [N, K] transposed, transposeB) for a frozen w:
 * the backward computes only dx = dy @ w^T (or dy @ w), on every backend;
 * w is captured rather than an input, so no [K, N] gradient is ever formed,
 * and on wasm no transposed copy of w is made (frozenProduct). */
export function frozenMatMul(x: tf.Tensor2D, w: tf.Tensor2D, transposeB = false): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args[0] as tf.Tensor2D; // nothing saved: the backward needs only dy and w
    return {
      value: frozenProduct(xs, w, transposeB),
      gradFunc: (dy: tf.Tensor) => [frozenProduct(dy as tf.Tensor2D, w, !transposeB)], // [M, N] @ [N, K] (or [K, N]^T) -> [M, K]
    };
  });
  return f(x) as tf.Tensor2D;
}

/** x @ w (or x @ w^T): the frozen op for a frozen weight, else matMul2d
 * (whose gradient reaches w as well). */
export function project(x: tf.Tensor2D, w: tf.Tensor2D, transposeB = false): tf.Tensor2D {
  return isFrozen(w) ? frozenMatMul(x, w, transposeB) : matMul2d(x, w, transposeB);
}

/** GELU, tanh approximation (GPT-2's). */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (fusedActive()) return fusedGelu(x);
  const c = Math.sqrt(2 / Math.PI);
  const inner = tf.mul(c, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  if (fusedActive()) return fusedLayerNorm(x, g, b, eps);
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
}

/** RMSNorm as LLaMA computes it: x * rsqrt(mean(x^2) + eps) * g. */
export function rmsNorm(x: tf.Tensor, g: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), g);
}

/** SiLU (swish): x * sigmoid(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** cos and sin of RoPE's angles for positions start..start+t-1, [t, hd] each,
 * in Hugging Face's layout: inv_freq_i = theta^(-2i / hd), the angles of the
 * hd/2 frequencies written twice (cat(freqs, freqs)). Computed in float64 on
 * the host, then rounded once. */
export function ropeTables(start: number, t: number, hd: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const half = hd / 2;
  const cos = new Float32Array(t * hd);
  const sin = new Float32Array(t * hd);
  for (let p = 0; p < t; p++) {
    for (let i = 0; i < half; i++) {
      const a = (start + p) * theta ** ((-2 * i) / hd);
      cos[p * hd + i] = cos[p * hd + i + half] = Math.cos(a);
      sin[p * hd + i] = sin[p * hd + i + half] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** x * cos + rotate_half(x) * sin over the last axis of x [..., t, hd], with
 * rotate_half(x) = cat(-x2, x1) (Hugging Face's convention, not the
 * interleaved pairs of the original RoPE). cos, sin: [t, hd]. */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const hd = x.shape[3];
  const [x1, x2] = tf.split(x, [hd / 2, hd / 2], 3);
  const rot = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rot, sin)) as tf.Tensor4D;
}
