// Differentiable wrappers around the fused WebGPU kernels (kernels.ts). Each
// one replaces a chain of tfjs ops that the unfused path in ../ops.ts and
// ../model.ts runs; test/gpu/fused.check.ts compares both on WebGPU.

import * as tf from '@tensorflow/tfjs-core';

export const FUSED = {
  layerNorm: 'McckdLayerNorm',
  layerNormGrad: 'McckdLayerNormGrad',
  causalSoftmax: 'McckdCausalSoftmax',
  causalSoftmaxGrad: 'McckdCausalSoftmaxGrad',
  crossEntropy: 'McckdCrossEntropy',
  crossEntropyGrad: 'McckdCrossEntropyGrad',
  gelu: 'McckdGelu',
  geluGrad: 'McckdGeluGrad',
  sumSquares: 'McckdSumSquares',
  adamW: 'McckdAdamW',
} as const;

let enabled = true;

/** Turn the fused kernels off (or back on) for comparisons and the bench. */
export function setFusedKernels(on: boolean): void {
  enabled = on;
}

/** Whether the active backend runs the fused kernels. */
export function fusedActive(): boolean {
  return enabled && tf.getBackend() === 'webgpu' && tf.getKernel(FUSED.layerNorm, 'webgpu') !== undefined;
}

type Args = (tf.Tensor | tf.GradSaveFunc)[];

function runFused(name: string, inputs: tf.NamedTensorMap, attrs: Record<string, number> = {}): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs) as tf.Tensor;
}

/** LayerNorm over the last axis: 1 dispatch forward, 4 backward. */
export function fusedLayerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const c = x.shape[x.shape.length - 1];
  const f = tf.customGrad((...args: Args) => {
    const [x2, g1, b1, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x2, g1]);
    return {
      value: runFused(FUSED.layerNorm, { x: x2, gamma: g1, beta: b1 }, { eps }),
      gradFunc: (dy: tf.Tensor, [xs, gs]: tf.Tensor[]) => {
        const [dx, dg] = tf.engine().runKernel(FUSED.layerNormGrad, { x: xs, gamma: gs, dy }, { eps }) as tf.Tensor[];
        return [dx, dg, tf.sum(dy, 0)];
      },
    };
  });
  return tf.reshape(f(tf.reshape(x, [-1, c]), g, b), x.shape); // [N, C] rows
}

/** softmax(scale * att) with the causal mask, att [R, H, t, K] where query i
 * sits at absolute position past + i: 1 dispatch each way. */
export function fusedCausalSoftmax(att: tf.Tensor4D, scale: number, past: number): tf.Tensor4D {
  const [r, h, t, k] = att.shape;
  const f = tf.customGrad((...args: Args) => {
    const [a, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const y = runFused(FUSED.causalSoftmax, { att: a }, { scale, tq: t, past });
    save([y]);
    return { value: y, gradFunc: (dy: tf.Tensor, [ys]: tf.Tensor[]) => runFused(FUSED.causalSoftmaxGrad, { y: ys, dy }, { scale }) };
  });
  return tf.reshape(f(tf.reshape(att, [r * h * t, k])), [r, h, t, k]); // rows [R*H*t, K]
}

/** Per-row -log softmax(z)[target]: 1 dispatch each way. */
export function fusedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const f = tf.customGrad((...args: Args) => {
    const [z, t, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([z, t]);
    return {
      value: runFused(FUSED.crossEntropy, { z, tgt: t }),
      gradFunc: (dy: tf.Tensor, [zs, ts]: tf.Tensor[]) => [runFused(FUSED.crossEntropyGrad, { z: zs, tgt: ts, dy }), tf.zerosLike(ts)],
    };
  });
  return f(logits, targets) as tf.Tensor1D;
}

export function fusedGelu(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((...args: Args) => {
    const [a, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([a]);
    return {
      value: runFused(FUSED.gelu, { x: a }),
      gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => runFused(FUSED.geluGrad, { x: xs, dy }),
    };
  });
  return f(x);
}

/** Inputs one WebGPU program may bind: 8 storage buffers per shader stage,
 * one of them the output. */
export const MAX_PROGRAM_INPUTS = 7;

/** Partial sums of x^2 over every element of the tensors, one scalar per
 * MAX_PROGRAM_INPUTS of them; the caller adds them up. */
export function fusedSumSquareParts(xs: tf.Tensor[]): tf.Scalar[] {
  const parts: tf.Scalar[] = [];
  for (let i = 0; i < xs.length; i += MAX_PROGRAM_INPUTS) {
    const inputs: tf.NamedTensorMap = {};
    xs.slice(i, i + MAX_PROGRAM_INPUTS).forEach((x, j) => {
      inputs[`x${j}`] = tf.reshape(x, [-1]);
    });
    parts.push(tf.reshape(runFused(FUSED.sumSquares, inputs), [])); // [1] -> scalar
  }
  return parts;
}

interface AdamWScalars {
  lr: number;
  b1: number;
  b2: number;
  bc1: number; // 1 - b1^step
  bc2: number;
  eps: number;
  decay: number; // 1 - lr * weightDecay, or 1
}

/** New parameter and moments for one tensor: 3 dispatches. `scale` is the
 * gradient clipping factor as a [1] tensor (one for every parameter). */
export function fusedAdamW(
  p: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  g: tf.Tensor,
  scale: tf.Tensor1D,
  s: AdamWScalars,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const out = tf.engine().runKernel(FUSED.adamW, { p, m, v, g, scale }, { ...s }) as tf.Tensor[];
  return [out[0], out[1], out[2]];
}
