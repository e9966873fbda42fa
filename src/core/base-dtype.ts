// How a pretrained student's frozen base is held on the device: float32 as
// loaded, or (WebGPU only) its projection matrices and its token tables (the
// embedding, which a tied head reads too, and an untied lm_head) packed in
// half precision or int8 (fused/pack.ts) and read by our WGSL kernels
// (fused/packed.ts). GPT-2's learned positions (wpe, at most 1024 x d: small
// next to the tables), the norms and the biases stay float32. The adapter and its optimizer are
// float32 whatever the base: only frozen weights are packed. A matrix read
// from an F16 / BF16 file is held on the host in its 16-bit patterns
// (half-tensor.ts) and packed from them without a float32 copy; the base
// fingerprint (src/hf/student.ts) hashes its float32 values whatever the
// file's dtype and whatever the base dtype.

import * as tf from '@tensorflow/tfjs-core';
import { FAMILIES } from './arch';
import type { GpuLimits } from './limits';
import { createVariables, type Params } from './model';
import { BaseDtypeError, type BaseDtype } from './base-dtype-choice';
import {
  blockRows,
  packBf16Bits,
  packF16,
  packF16Bits,
  packInt8,
  packInt8Of,
  packedBytes,
  rowWords,
  type PackedDtype,
  type PackedMatrix,
  type SourceLayout,
} from './fused/pack';
import { halfValue, isHalfTensor } from './half-tensor';
import { packedBlockKey, packedKey, scaleBlockKey, scaleKey } from './fused/packed';
import type { NamedTensor, TensorMap } from './state';

export {
  BASE_DTYPES,
  BaseDtypeError,
  checkBaseDtype,
  defaultBaseDtype,
  isBaseDtype,
  packsBase,
  type BaseDtype,
} from './base-dtype-choice';

/** The frozen projections a packed base packs: every 2-D weight a
 * projection (linear(), ../layers.ts) reads, i.e. all but the token tables
 * (embedding, head: packedTableName, packed in their own layout) and GPT-2's
 * learned positions (read by rows, kept float32). */
export function packableName(name: string, shape: readonly number[]): boolean {
  if (shape.length !== 2 || !name.endsWith('.weight')) return false;
  if (name === 'lm_head.weight' || name === 'transformer.wpe.weight') return false;
  return !FAMILIES.some((f) => f.embeddingName === name);
}

/** The token tables a packed base packs: the embedding [V, d] (read by rows
 * through fused/packed.ts packedGather and, when the head is tied, by the
 * chunked head as logits = h E^T, one storage for both) and an untied
 * lm_head [V, d] (frozen in a LoRA run). Both are stored [V, d] whatever the
 * family's projection layout (GPT-2's wte too), i.e. 'out-in' rows. */
export function packedTableName(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && (name === 'lm_head.weight' || FAMILIES.some((f) => f.embeddingName === name));
}

/** A weight packed in `dtype`: from its file's 16-bit patterns when it is
 * held so (half-tensor.ts: F16 words are the file's halves, BF16 is rounded
 * and int8 quantized one value at a time, never through a float32 copy of
 * the matrix), else from its float32 values; the same words and scales
 * either way. */
export function packWeight(w: NamedTensor, shape: readonly number[], layout: SourceLayout, dtype: PackedDtype): PackedMatrix {
  if (isHalfTensor(w)) {
    const { bits, half } = w;
    if (dtype === 'int8') return packInt8Of((k) => halfValue(half, bits[k]), shape, layout);
    return half === 'F16' ? packF16Bits(bits, shape, layout) : packBf16Bits(bits, shape, layout);
  }
  return dtype === 'f16' ? packF16(w.data, shape, layout) : packInt8(w.data, shape, layout);
}

/** One matrix packed, refusing one larger than a GPU binding (tfjs binds a
 * tensor whole and computes wrong numbers past the limit). */
function packOne(
  name: string,
  w: NamedTensor,
  shape: readonly number[],
  layout: SourceLayout,
  dtype: PackedDtype,
  limits?: GpuLimits,
): PackedMatrix {
  let p: PackedMatrix;
  try {
    p = packWeight(w, shape, layout, dtype);
  } catch (e) {
    throw new BaseDtypeError(`cannot hold ${name} in ${dtype}: ${(e as Error).message}`);
  }
  const bytes = p.rows * p.wordsPerRow * 4;
  const most = limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : Infinity;
  if (bytes > most) throw new BaseDtypeError(`${name} packed in ${dtype} takes ${bytes} bytes, more than this GPU binds (${most})`);
  return p;
}

/** Adds table `name`'s packed words (and int8 scales) to `p`: whole under
 * packedKey, or, when larger than one binding (`most`: the GPU's limits or
 * `partBytes`), in row blocks under packedBlockKey (as createVariables
 * splits a float32 table): the blocks together take the same bytes. */
function addPackedTable(p: Params, name: string, pm: PackedMatrix, most: number, tag: () => string): void {
  const pre = name.slice(0, -'.weight'.length);
  const rowBytes = pm.wordsPerRow * 4;
  const per = blockRows(pm.rows, rowBytes, most);
  if (per < 1) throw new BaseDtypeError(`${name} packed in ${pm.dtype} has rows of ${rowBytes} bytes, more than this GPU binds (${most})`);
  const whole = per === pm.rows;
  for (let k = 0, start = 0; start < pm.rows; k++, start += per) {
    const n = Math.min(per, pm.rows - start);
    const wk = whole ? packedKey(pre) : packedBlockKey(pre, k);
    const words = tf.tensor2d(pm.words.subarray(start * pm.wordsPerRow, (start + n) * pm.wordsPerRow), [n, pm.wordsPerRow], 'int32');
    p.set(wk, tf.variable(words, false, `${wk}#${tag()}`));
    words.dispose();
    if (pm.scales) {
      const sk = whole ? scaleKey(pre) : scaleBlockKey(pre, k);
      const s = tf.tensor1d(pm.scales.subarray(start, start + n), 'float32');
      p.set(sk, tf.variable(s, false, `${sk}#${tag()}`));
      s.dispose();
    }
  }
}

/** The frozen base's variables with its projections and token tables packed
 * in `dtype` (f32: createVariables as it is). Names and shapes are checked
 * against `table` as createVariables does; `partBytes` splits the tables as
 * there (packed tables by their packed bytes). */
export function createBaseVariables(
  weights: TensorMap,
  table: [string, number[]][],
  layout: SourceLayout,
  dtype: BaseDtype,
  o: { partBytes?: number; limits?: GpuLimits } = {},
): Params {
  const rest = dtype === 'f32' ? table : table.filter(([n, s]) => !packableName(n, s) && !packedTableName(n, s));
  const p = createVariables(weights, rest, false, o.partBytes !== undefined ? { partBytes: o.partBytes } : {});
  if (dtype === 'f32') return p;
  const tag = (): string => Math.random().toString(36).slice(2); // tfjs variable names are global
  try {
    for (const [name, shape] of table) {
      const isTable = packedTableName(name, shape);
      if (!packableName(name, shape) && !isTable) continue;
      const w = weights[name];
      if (!w) throw new Error(`missing parameter ${name}`);
      if (w.shape.length !== 2 || w.shape[0] !== shape[0] || w.shape[1] !== shape[1])
        throw new Error(`parameter ${name} has shape [${w.shape}], the config needs [${shape}]`);
      if (isTable) {
        const pm = packOne(name, w, shape, 'out-in', dtype); // [V, d]: rows are tokens
        const most = Math.min(
          o.partBytes ?? Infinity,
          o.limits?.maxStorageBufferBindingSize ?? Infinity,
          o.limits?.maxBufferSize ?? Infinity,
        );
        addPackedTable(p, name, pm, most, tag);
        continue;
      }
      const pm = packOne(name, w, shape, layout, dtype, o.limits);
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

/** Device bytes of a [rows, cols] matrix held in `dtype` (a scale a row in int8). */
const heldBytes = (rows: number, cols: number, dtype: BaseDtype): number =>
  dtype === 'f32' ? rows * cols * 4 : packedBytes({ rows, wordsPerRow: rowWords(cols, dtype), dtype });

/** Device bytes of the base's token tables (embedding, untied lm_head) held
 * in `dtype` (the planner's count; row blocks take the same bytes as the
 * whole table: words and a scale a row). */
export function tableBytes(table: [string, number[]][], dtype: BaseDtype): number {
  let n = 0;
  for (const [name, [rows, cols]] of table) if (packedTableName(name, [rows, cols])) n += heldBytes(rows, cols, dtype);
  return n;
}

/** Device bytes of the base's projections held in `dtype` (the planner's
 * count: words and scales, against 4 bytes a value in f32). */
export function projectionBytes(table: [string, number[]][], layout: SourceLayout, dtype: BaseDtype): number {
  let n = 0;
  for (const [name, shape] of table) {
    if (!packableName(name, shape)) continue;
    const [rows, cols] = layout === 'out-in' ? shape : [shape[1], shape[0]];
    n += heldBytes(rows, cols, dtype);
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

/** The matrices a packed base packs, each with the layout it is packed from
 * (where its output channels are: int8's scales are per output channel), as
 * createBaseVariables packs them. A reference that rounds the same weights
 * (support/hf_ref.py --round-names, test/unit/packed-webgpu.test.ts) takes
 * its list from here, so it follows whatever the packing covers. A token
 * table (the embedding, an untied lm_head) is [vocab, d] in every family,
 * GPT-2 included: its rows are its output channels, should it be packed. */
export function packedMatrices(table: [string, number[]][], layout: SourceLayout): [string, SourceLayout][] {
  return table
    .filter(([n, s]) => packableName(n, s) || packedTableName(n, s))
    .map(([n, s]) => [n, packedTableName(n, s) ? 'out-in' : layout]);
}
