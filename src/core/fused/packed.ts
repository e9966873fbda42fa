// A frozen projection over a packed weight (pack.ts) on WebGPU: the
// programs of packed-programs.ts registered as tfjs kernels of the webgpu
// backend (as kernels.ts does for the fused ones), and the differentiable
// op linear() (../layers.ts) takes when a base weight is packed. Its
// gradient reaches x only: the weight is frozen, so no [out, in] gradient
// and no transposed copy of W is ever made. A packed token table (the
// embedding, and the head that reads it) uses the same words: rows by
// packedGather, logits by packedLinear (../headLoss.ts).

import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { packedGatherProgram, packedMatMulGradProgram, packedMatMulProgram } from './packed-programs';
import { rowWords, type PackedDtype } from './pack';

export const PACKED = { matMul: 'McckdPackedMatMul', matMulGrad: 'McckdPackedMatMulGrad', gather: 'McckdPackedGather' } as const;

/** The Params keys of module `pre`'s packed weight: `${pre}.weight` is
 * absent, `${pre}.weight.packed` holds the words (int32 [out, wordsPerRow])
 * and, for int8, `${pre}.weight.scale` the scales (float32 [out]). */
export const packedKey = (pre: string): string => `${pre}.weight.packed`;
export const scaleKey = (pre: string): string => `${pre}.weight.scale`;

/** A packed weight as the op reads it. */
export interface PackedWeight {
  words: tf.Tensor2D; // int32 [out, wordsPerRow]
  scale?: tf.Tensor1D; // int8: float32 [out]
}

export const dtypeOf = (w: PackedWeight): PackedDtype => (w.scale ? 'int8' : 'f16');

type Info = tf.TensorInfo;

function run(
  b: WebGPUBackend,
  p: ReturnType<typeof packedMatMulProgram>,
  inputs: Info[],
  uniforms?: { type: string; data: number[] }[],
): Info {
  // tfjs declares the uniform list with a narrower dtype type than it accepts
  return b.runWebGPUProgram(p, inputs, 'float32', uniforms as Parameters<WebGPUBackend['runWebGPUProgram']>[3]);
}

export function registerPackedKernels(): void {
  if (!tf.getKernel(PACKED.matMul, 'webgpu'))
    tf.registerKernel({
      kernelName: PACKED.matMul,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend }) => {
        const { x, w, scale, b } = inputs as Record<string, Info | undefined>;
        const dtype = scale ? 'int8' : 'f16';
        const ins = [x!, w!, ...(scale ? [scale] : []), ...(b ? [b] : [])];
        return run(backend as WebGPUBackend, packedMatMulProgram(dtype, x!.shape[0], w!.shape[0], b !== undefined), ins);
      },
    });
  if (!tf.getKernel(PACKED.matMulGrad, 'webgpu'))
    tf.registerKernel({
      kernelName: PACKED.matMulGrad,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { dy, w, scale } = inputs as Record<string, Info | undefined>;
        const dtype = scale ? 'int8' : 'f16';
        const cols = (attrs as { cols: number }).cols;
        return run(backend as WebGPUBackend, packedMatMulGradProgram(dtype, dy!.shape[0], cols), [dy!, w!, ...(scale ? [scale] : [])]);
      },
    });
  if (!tf.getKernel(PACKED.gather, 'webgpu'))
    tf.registerKernel({
      kernelName: PACKED.gather,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { ids, w, scale } = inputs as Record<string, Info | undefined>;
        const { cols, offset } = attrs as { cols: number; offset: number };
        const p = packedGatherProgram(scale ? 'int8' : 'f16', ids!.shape[0], cols);
        return run(backend as WebGPUBackend, p, [ids!, w!, ...(scale ? [scale] : [])], [{ type: 'int32', data: [offset] }]);
      },
    });
}

/** x [N, in] @ W^T [in, out] (+ b [out]) -> [N, out] for a packed W; the
 * gradient is dX = dY W only. */
export function packedLinear(x: tf.Tensor2D, w: PackedWeight, bias?: tf.Tensor): tf.Tensor2D {
  const cols = x.shape[1];
  if (rowWords(cols, dtypeOf(w)) !== w.words.shape[1])
    throw new Error(`packed weight of ${w.words.shape[1]} words a row cannot multiply ${cols} input features`);
  const weight: tf.NamedTensorMap = w.scale ? { w: w.words, scale: w.scale } : { w: w.words };
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xi = args[0] as tf.Tensor2D;
    return {
      value: tf.engine().runKernel(PACKED.matMul, { x: xi, ...weight, ...(bias ? { b: bias } : {}) }) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor) => tf.engine().runKernel(PACKED.matMulGrad, { dy, ...weight }, { cols }) as tf.Tensor2D,
    };
  });
  return f(x) as tf.Tensor2D;
}

/** dY [N, out] @ W [out, in] -> dX [N, in] for a packed W (`cols` = in):
 * the product's input gradient on its own (the chunked head's backward,
 * ../headLoss.ts, forms dh from its own dz). */
export function packedInputGrad(dy: tf.Tensor2D, w: PackedWeight, cols: number): tf.Tensor2D {
  return tf.engine().runKernel(PACKED.matMulGrad, { dy, w: w.words, ...(w.scale ? { scale: w.scale } : {}) }, { cols }) as tf.Tensor2D;
}

/** Rows ids [N] (int32) of a packed table W [rows, cols] -> [N, cols]
 * float32, exactly the unpacked values; ids outside [offset, offset + rows)
 * give zero rows (a table in row blocks: the blocks' rows summed). No
 * gradient: the table is frozen (LoRA targets projections only, config.ts
 * checkLora refuses any other name), and ids are integers. */
export function packedGather(ids: tf.Tensor1D, w: PackedWeight, cols: number, offset = 0): tf.Tensor2D {
  if (ids.dtype !== 'int32') throw new Error(`packed gather: ids must be int32, got ${ids.dtype}`);
  if (rowWords(cols, dtypeOf(w)) !== w.words.shape[1])
    throw new Error(`packed table of ${w.words.shape[1]} words a row cannot hold ${cols} columns`);
  const weight: tf.NamedTensorMap = w.scale ? { w: w.words, scale: w.scale } : { w: w.words };
  return tf.engine().runKernel(PACKED.gather, { ids, ...weight }, { cols, offset }) as tf.Tensor2D;
}

/** Separates a packed table's key from the index of one of its row blocks
 * (as model.ts's PART does for a float32 table). */
const BLOCK = '@';

/** The Params keys of row block k of table `pre`'s packed weight (base-dtype.ts). */
export const packedBlockKey = (pre: string, k: number): string => `${packedKey(pre)}${BLOCK}${k}`;
export const scaleBlockKey = (pre: string, k: number): string => `${scaleKey(pre)}${BLOCK}${k}`;

/** Table `name` (`${pre}.weight`, an embedding or a head [V, d]) as packed
 * row blocks in `p` (one when whole), or undefined when it is not packed. */
export function packedTable(p: ReadonlyMap<string, tf.Tensor>, name: string): PackedWeight[] | undefined {
  const pre = name.slice(0, -'.weight'.length);
  const one = (words: tf.Tensor | undefined, scale: tf.Tensor | undefined): PackedWeight | undefined =>
    words ? { words: words as tf.Tensor2D, ...(scale ? { scale: scale as tf.Tensor1D } : {}) } : undefined;
  const whole = one(p.get(packedKey(pre)), p.get(scaleKey(pre)));
  if (whole) return [whole];
  const blocks: PackedWeight[] = [];
  for (let k = 0; p.has(packedBlockKey(pre, k)); k++) blocks.push(one(p.get(packedBlockKey(pre, k)), p.get(scaleBlockKey(pre, k)))!);
  return blocks.length ? blocks : undefined;
}

/** Module `pre`'s projection of x when its base weight is packed in `p`
 * (with its bias), else undefined. */
export function packedProjection(x: tf.Tensor2D, p: ReadonlyMap<string, tf.Tensor>, pre: string): tf.Tensor2D | undefined {
  const words = p.get(packedKey(pre));
  if (!words) return undefined;
  const scale = p.get(scaleKey(pre));
  return packedLinear(x, { words: words as tf.Tensor2D, ...(scale ? { scale: scale as tf.Tensor1D } : {}) }, p.get(`${pre}.bias`));
}
