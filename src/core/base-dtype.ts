// How a pretrained student's frozen base is held on the device: float32 as
// loaded, or (WebGPU only) its projection matrices packed in half precision
// or int8 (fused/pack.ts) and multiplied by our WGSL kernels
// (fused/packed.ts). The embedding table, the head, GPT-2's positions, the
// norms and the biases stay float32. The adapter and its optimizer are
// float32 whatever the base: only frozen weights are packed. The host copy
// (and so the base fingerprint, src/hf/student.ts) is the float32 one.

import * as tf from '@tensorflow/tfjs-core';
import { FAMILIES } from './arch';
import type { GpuLimits } from './limits';
import { createVariables, type Params } from './model';
import { BaseDtypeError, type BaseDtype } from './base-dtype-choice';
import { packF16, packInt8, packedBytes, type PackedDtype, type PackedMatrix, type SourceLayout } from './fused/pack';
import { packedKey, scaleKey } from './fused/packed';
import type { TensorMap } from './state';

export {
  BASE_DTYPES,
  BaseDtypeError,
  checkBaseDtype,
  defaultBaseDtype,
  isBaseDtype,
  packsBase,
  type BaseDtype,
} from './base-dtype-choice';

/** The frozen matrices a packed base packs: every 2-D weight a projection
 * (linear(), ../layers.ts) reads, i.e. all but the token tables (embedding,
 * head) and GPT-2's learned positions, which are read by rows. */
export function packableName(name: string, shape: readonly number[]): boolean {
  if (shape.length !== 2 || !name.endsWith('.weight')) return false;
  if (name === 'lm_head.weight' || name === 'transformer.wpe.weight') return false;
  return !FAMILIES.some((f) => f.embeddingName === name);
}

/** One matrix packed, refusing one larger than a GPU binding (tfjs binds a
 * tensor whole and computes wrong numbers past the limit). */
function packOne(
  name: string,
  data: Float32Array,
  shape: readonly number[],
  layout: SourceLayout,
  dtype: PackedDtype,
  limits?: GpuLimits,
): PackedMatrix {
  let p: PackedMatrix;
  try {
    p = dtype === 'f16' ? packF16(data, shape, layout) : packInt8(data, shape, layout);
  } catch (e) {
    throw new BaseDtypeError(`cannot hold ${name} in ${dtype}: ${(e as Error).message}`);
  }
  const bytes = p.rows * p.wordsPerRow * 4;
  const most = limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : Infinity;
  if (bytes > most) throw new BaseDtypeError(`${name} packed in ${dtype} takes ${bytes} bytes, more than this GPU binds (${most})`);
  return p;
}

/** The frozen base's variables with its projections packed in `dtype`
 * (f32: createVariables as it is). Names and shapes are checked against
 * `table` as createVariables does; `partBytes` splits the tables as there. */
export function createBaseVariables(
  weights: TensorMap,
  table: [string, number[]][],
  layout: SourceLayout,
  dtype: BaseDtype,
  o: { partBytes?: number; limits?: GpuLimits } = {},
): Params {
  const rest = dtype === 'f32' ? table : table.filter(([n, s]) => !packableName(n, s));
  const p = createVariables(weights, rest, false, o.partBytes !== undefined ? { partBytes: o.partBytes } : {});
  if (dtype === 'f32') return p;
  const tag = (): string => Math.random().toString(36).slice(2); // tfjs variable names are global
  try {
    for (const [name, shape] of table) {
      if (!packableName(name, shape)) continue;
      const w = weights[name];
      if (!w) throw new Error(`missing parameter ${name}`);
      if (w.shape.length !== 2 || w.shape[0] !== shape[0] || w.shape[1] !== shape[1])
        throw new Error(`parameter ${name} has shape [${w.shape}], the config needs [${shape}]`);
      const pm = packOne(name, w.data, shape, layout, dtype, o.limits);
      const pre = name.slice(0, -'.weight'.length);
      const words = tf.tensor2d(pm.words, [pm.rows, pm.wordsPerRow], 'int32');
      p.set(packedKey(pre), tf.variable(words, false, `${packedKey(pre)}#${tag()}`));
      words.dispose();
      if (pm.scales) {
        const s = tf.tensor1d(pm.scales, 'float32');
        p.set(scaleKey(pre), tf.variable(s, false, `${scaleKey(pre)}#${tag()}`));
        s.dispose();
      }
    }
  } catch (e) {
    for (const v of p.values()) v.dispose();
    throw e;
  }
  return p;
}

/** Device bytes of the base's projections held in `dtype` (the planner's
 * count: words and scales, against 4 bytes a value in f32). */
export function projectionBytes(table: [string, number[]][], layout: SourceLayout, dtype: BaseDtype): number {
  let n = 0;
  for (const [name, shape] of table) {
    if (!packableName(name, shape)) continue;
    const [rows, cols] = layout === 'out-in' ? shape : [shape[1], shape[0]];
    n += dtype === 'f32' ? rows * cols * 4 : packedBytes({ rows, wordsPerRow: Math.ceil(cols / (dtype === 'f16' ? 2 : 4)), dtype });
  }
  return n;
}

/** How a built model holds its frozen base (what a run's note reports): f16
 * or int8 where its projections are packed (int8 with scales), else f32. */
export function heldBaseDtype(params: ReadonlyMap<string, unknown>): BaseDtype {
  let packed = false;
  for (const name of params.keys()) {
    if (name.endsWith(scaleKey(''))) return 'int8';
    if (name.endsWith(packedKey(''))) packed = true;
  }
  return packed ? 'f16' : 'f32';
}
