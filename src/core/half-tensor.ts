// A base weight kept as its file's 16-bit patterns (F16 or BF16), for the
// matrices a packed base packs: the host holds 2 bytes a value instead of a
// float32 copy's 4, the f16 packing takes the bits as they are (F16) or
// rounds them one value at a time (BF16), and the int8 packing reads them
// one value at a time: no float32 copy of a packed matrix is ever made on
// the packed paths. Where float32 is wanted (an f32 base, a full fine-tune,
// an export) `data` decodes the whole tensor on each read: read it once per
// use. Pure functions: no tfjs here.

import { halfToFloat } from '../shared/half';
import type { NamedTensor } from './state';

type HalfDtype = 'F16' | 'BF16';

/** A NamedTensor whose values are `bits` (little-endian 16-bit patterns as a
 * safetensors file stores them), read in float32 through `data`. */
interface HalfTensor extends NamedTensor {
  readonly half: HalfDtype;
  readonly bits: Uint16Array;
}

export const isHalfTensor = (t: NamedTensor): t is HalfTensor => (t as Partial<HalfTensor>).bits instanceof Uint16Array;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 bits of every half (256 KB, made on first use): a half is
 * decoded by one look-up, not by halfToFloat's arithmetic (a 0.5B model
 * holds half a billion of them). */
let halfTable: { bits: Uint32Array; values: Float32Array } | undefined;
function halves(): { bits: Uint32Array; values: Float32Array } {
  if (!halfTable) {
    const bits = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) {
      f32[0] = halfToFloat(h);
      bits[h] = u32[0];
    }
    halfTable = { bits, values: new Float32Array(bits.buffer) };
  }
  return halfTable;
}

/** The float32 value of one 16-bit pattern of `dtype` (exact: both fit in a
 * float32). */
export function halfValue(dtype: HalfDtype, b: number): number {
  if (dtype === 'F16') return halves().values[b];
  u32[0] = b << 16; // a bfloat16 is the top half of a float32
  return f32[0];
}

/** Values [from, from + out.length) of `t` into `out` (float32), as a
 * safetensors reader decodes them: for streaming over a tensor in blocks. */
export function decodeHalf(t: Pick<HalfTensor, 'half' | 'bits'>, from: number, out: Float32Array): Float32Array {
  const { bits } = t;
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  if (t.half === 'BF16') for (let i = 0; i < out.length; i++) u[i] = bits[from + i] << 16;
  else {
    const table = halves().bits;
    for (let i = 0; i < out.length; i++) u[i] = table[bits[from + i]];
  }
  return out;
}

/** A HalfTensor of `shape` over `bits` (not copied). `data` is an own,
 * enumerable accessor, so that a spread, a structured clone or a deep
 * equality sees the values as it would a plain NamedTensor's. Each read
 * decodes a new array, which nothing here keeps: a cache, even a WeakRef
 * (which keeps its target alive to the end of the current job), would hold
 * every tensor a synchronous loop decodes, i.e. the float32 copy of the
 * base that this type exists to avoid. */
export function halfTensor(shape: number[], dtype: HalfDtype, bits: Uint16Array): HalfTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (bits.length !== n) throw new Error(`a ${dtype} tensor of shape [${shape.join(', ')}] needs ${n} values, got ${bits.length}`);
  return {
    shape,
    half: dtype,
    bits,
    get data(): Float32Array {
      return decodeHalf({ half: dtype, bits }, 0, new Float32Array(n));
    },
  };
}
