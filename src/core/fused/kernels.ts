// Registers the fused programs as tfjs kernels of the webgpu backend, so that
// they run through tf.engine().runKernel like built-in kernels: tidy and
// tf.memory() track their outputs and tf.profile counts them. Imported
// lazily by backend.ts once tfjs-backend-webgpu is loaded.

import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import {
  adamWProgram,
  causalSoftmaxGradProgram,
  causalSoftmaxProgram,
  columnDotProgram,
  crossEntropyGradProgram,
  crossEntropyProgram,
  geluGradProgram,
  geluProgram,
  layerNormGradXProgram,
  layerNormProgram,
  layerNormXhatProgram,
  sumSquaresProgram,
} from './programs';
import { FUSED, MAX_PROGRAM_INPUTS } from './ops';

type Info = tf.TensorInfo;
type Attrs = Record<string, number>;
type Uniform = { type: string; data: number[] };

const f32 = (...data: number[]): Uniform[] => data.map((d) => ({ type: 'float32', data: [d] }));

function run(b: WebGPUBackend, p: WebGPUProgram, inputs: Info[], uniforms?: Uniform[]): Info {
  // tfjs declares the uniform list with a narrower dtype type than it accepts
  return b.runWebGPUProgram(p, inputs, 'float32', uniforms as Parameters<WebGPUBackend['runWebGPUProgram']>[3]);
}

/** Kernel name -> its input names (in program order) and how to run it. */
const KERNELS: Record<string, { inputs: string[]; run: (b: WebGPUBackend, x: Info[], a: Attrs) => Info | Info[] }> = {
  [FUSED.layerNorm]: {
    inputs: ['x', 'gamma', 'beta'],
    run: (b, [x, g, be], a) => run(b, layerNormProgram(x.shape[0], x.shape[1]), [x, g, be], f32(a.eps)),
  },
  [FUSED.layerNormGrad]: {
    inputs: ['x', 'gamma', 'dy'],
    run: (b, [x, g, dy], a) => {
      const [n, c] = x.shape;
      const dx = run(b, layerNormGradXProgram(n, c), [x, g, dy], f32(a.eps));
      const xhat = run(b, layerNormXhatProgram(n, c), [x], f32(a.eps));
      const dg = run(b, columnDotProgram(c), [xhat, dy]);
      b.disposeData(xhat.dataId);
      return [dx, dg];
    },
  },
  [FUSED.causalSoftmax]: {
    inputs: ['att'],
    run: (b, [att], a) =>
      run(
        b,
        causalSoftmaxProgram(att.shape[0], att.shape[1]),
        [att],
        [...f32(a.scale), { type: 'int32', data: [a.tq] }, { type: 'int32', data: [a.past] }],
      ),
  },
  [FUSED.causalSoftmaxGrad]: {
    inputs: ['y', 'dy'],
    run: (b, [y, dy], a) => run(b, causalSoftmaxGradProgram(y.shape[0], y.shape[1]), [y, dy], f32(a.scale)),
  },
  [FUSED.crossEntropy]: { inputs: ['z', 'tgt'], run: (b, [z, t]) => run(b, crossEntropyProgram(z.shape[0]), [z, t]) },
  [FUSED.crossEntropyGrad]: {
    inputs: ['z', 'tgt', 'dy'],
    run: (b, [z, t, dy]) => run(b, crossEntropyGradProgram(z.shape[0], z.shape[1]), [z, t, dy]),
  },
  [FUSED.gelu]: { inputs: ['x'], run: (b, [x]) => run(b, geluProgram(x.shape), [x]) },
  [FUSED.geluGrad]: { inputs: ['x', 'dy'], run: (b, [x, dy]) => run(b, geluGradProgram(x.shape), [x, dy]) },
  [FUSED.sumSquares]: {
    inputs: Array.from({ length: MAX_PROGRAM_INPUTS }, (_, i) => `x${i}`),
    run: (b, xs) => {
      const given = xs.filter((x) => x !== undefined);
      return run(b, sumSquaresProgram(given.length), given);
    },
  },
  [FUSED.adamW]: {
    inputs: ['p', 'm', 'v', 'g', 'scale'],
    run: (b, xs, a) => {
      const u = f32(a.lr, a.b1, 1 - a.b1, a.b2, 1 - a.b2, a.bc1, a.bc2, a.eps, a.decay);
      const [p, m, v, g, scale] = xs;
      return [
        run(b, adamWProgram(p.shape, 'p'), xs, u),
        run(b, adamWProgram(p.shape, 'm'), [m, g, scale], u),
        run(b, adamWProgram(p.shape, 'v'), [v, g, scale], u),
      ];
    },
  },
};

export function registerFusedKernels(): void {
  for (const [name, k] of Object.entries(KERNELS)) {
    if (tf.getKernel(name, 'webgpu')) continue;
    tf.registerKernel({
      kernelName: name,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) =>
        k.run(
          backend as WebGPUBackend,
          k.inputs.map((n) => inputs[n] as Info),
          (attrs ?? {}) as Attrs,
        ),
    });
  }
}
