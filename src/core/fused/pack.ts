// A frozen projection weight packed for the WebGPU kernels of packed.ts:
// half precision, two halves per 32-bit word, or int8, four per word with
// one float32 scale per output channel (a QLoRA-style base: symmetric,
// per-output-channel). Rows are always output channels ([out, in], as
// nn.Linear stores them); a GPT-2 Conv1D weight ([in, out]) is transposed
// while packing. A row is padded with zeros to whole words, so the kernels
// read any row from a word boundary. Pure functions: no tfjs here.

import { floatToHalfBits, halfToFloat } from '../../shared/half';

export type PackedDtype = 'f16' | 'int8';

/** Elements one 32-bit word holds. */
export const PER_WORD: Record<PackedDtype, number> = { f16: 2, int8: 4 };

/** Words a packed row of `cols` elements takes (padded to a whole word). */
export const rowWords = (cols: number, dtype: PackedDtype): number => Math.ceil(cols / PER_WORD[dtype]);

export interface PackedMatrix {
  dtype: PackedDtype;
  /** Output channels (the rows of the [out, in] view). */
  rows: number;
  /** Input features. */
  cols: number;
  /** ceil(cols / PER_WORD[dtype]). */
  wordsPerRow: number;
  /** [rows, wordsPerRow] words; element i of a row is in word i / PER_WORD,
   * in its (i % PER_WORD)-th lowest 16 (f16) or 8 (int8) bits, as WGSL's
   * unpack2x16float (.x = low half) and extractBits read them. Held as
   * int32 because that is a tfjs dtype; the kernels bitcast to u32. */
  words: Int32Array;
  /** int8 only: [rows] float32 scales; element = q * scale. */
  scales?: Float32Array;
}

/** How the source matrix is stored: 'out-in' [out, in] (nn.Linear) or
 * 'in-out' [in, out] (GPT-2's Conv1D). */
export type SourceLayout = 'out-in' | 'in-out';

/** [rows, cols] of the [out, in] view of a source of `shape`. */
function outIn(shape: readonly number[], layout: SourceLayout): [number, number] {
  if (shape.length !== 2) throw new Error(`a packed weight is a matrix, got shape [${shape.join(', ')}]`);
  return layout === 'out-in' ? [shape[0], shape[1]] : [shape[1], shape[0]];
}

/** Index into the source of element (o, i) of the [out, in] view. */
const at = (layout: SourceLayout, rows: number, cols: number) =>
  layout === 'out-in' ? (o: number, i: number) => o * cols + i : (o: number, i: number) => i * rows + o;

/** Packs 16-bit patterns given by `bits(o, i)` two to a word. */
function packHalves(rows: number, cols: number, bits: (o: number, i: number) => number): PackedMatrix {
  const wordsPerRow = rowWords(cols, 'f16');
  const words = new Int32Array(rows * wordsPerRow);
  for (let o = 0; o < rows; o++) {
    for (let j = 0; j < wordsPerRow; j++) {
      const lo = bits(o, 2 * j);
      const hi = 2 * j + 1 < cols ? bits(o, 2 * j + 1) : 0; // padding: +0
      words[o * wordsPerRow + j] = lo | (hi << 16);
    }
  }
  return { dtype: 'f16', rows, cols, wordsPerRow, words };
}

/** float32 -> f16, rounded to nearest even (floatToHalfBits). A finite
 * value past the half range (|x| >= 65520 rounds to infinity) is refused:
 * a base that large needs int8 (scaled) or f32. */
export function packF16(data: Float32Array, shape: readonly number[], layout: SourceLayout): PackedMatrix {
  const [rows, cols] = outIn(shape, layout);
  const idx = at(layout, rows, cols);
  return packHalves(rows, cols, (o, i) => {
    const x = data[idx(o, i)];
    const h = floatToHalfBits(x);
    if ((h & 0x7fff) === 0x7c00 && Number.isFinite(x))
      throw new RangeError(`value ${x} at [${o}, ${i}] is beyond half precision's range (65504)`);
    return h;
  });
}

/** Whether this host stores a 16-bit value's low byte first (as WGSL and
 * safetensors do): every host a browser or Node runs on. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** F16 as a safetensors file stores it (little-endian 16-bit patterns):
 * the bits are packed as they are, without a float32 detour. */
export function packF16Bits(bits: Uint16Array, shape: readonly number[], layout: SourceLayout): PackedMatrix {
  const [rows, cols] = outIn(shape, layout);
  if (layout === 'out-in' && cols % 2 === 0 && LITTLE_ENDIAN_HOST) {
    // rows need no padding and element 2j is already the low half of word j
    // (little-endian): the packed words are the file's bytes, copied once
    const words = new Int32Array(bits.length / 2);
    new Uint16Array(words.buffer).set(bits);
    return { dtype: 'f16', rows, cols, wordsPerRow: cols / 2, words };
  }
  const idx = at(layout, rows, cols);
  return packHalves(rows, cols, (o, i) => bits[idx(o, i)]);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 bits of every bfloat16 pattern (floatToHalfBits of its value),
 * -1 for a finite value past the half range: one look-up a value instead of
 * a rounding (a 0.5B base holds half a billion). Made on first use, 256 KB. */
let bf16Halves: Int32Array | undefined;
function bf16ToHalf(): Int32Array {
  if (!bf16Halves) {
    bf16Halves = new Int32Array(65536);
    for (let b = 0; b < 65536; b++) {
      u32[0] = b << 16; // a bfloat16 is the top half of a float32 (exact)
      const h = floatToHalfBits(f32[0]);
      bf16Halves[b] = (h & 0x7fff) === 0x7c00 && Number.isFinite(f32[0]) ? -1 : h;
    }
  }
  return bf16Halves;
}

/** BF16 patterns -> f16: a bfloat16 is the top half of a float32 (exact),
 * then rounded to nearest even. BF16's 8-bit mantissa fits a half's 10
 * bits, so only values outside the half range (or below its subnormals)
 * change: those past 65504 are refused as in packF16. */
export function packBf16Bits(bits: Uint16Array, shape: readonly number[], layout: SourceLayout): PackedMatrix {
  const [rows, cols] = outIn(shape, layout);
  const idx = at(layout, rows, cols);
  const table = bf16ToHalf();
  return packHalves(rows, cols, (o, i) => {
    const b = bits[idx(o, i)];
    const h = table[b];
    if (h < 0) {
      u32[0] = b << 16;
      throw new RangeError(`value ${f32[0]} at [${o}, ${i}] is beyond half precision's range (65504)`);
    }
    return h;
  });
}

/** Round half to even (as torch.round and numpy.rint). */
function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** float32 -> int8, symmetric per output channel: scale = max|row| / 127
 * (rounded to float32), q = round-half-even(w / scale) clamped to
 * [-127, 127] (-128 is never used, so the code is symmetric); an all-zero
 * row gets scale 0 and q = 0. Dequantized, an element is q * scale, within
 * scale / 2 of the original (the rounding) and exact at the row's largest
 * magnitude. A non-finite value is refused (it has no scale). */
export function packInt8(data: Float32Array, shape: readonly number[], layout: SourceLayout): PackedMatrix {
  return packInt8Of((k) => data[k], shape, layout);
}

/** packInt8 of the values `value(k)` (k: the index into the source): a
 * source held in 16-bit patterns (F16 / BF16 read one value at a time) is
 * quantized with no float32 copy, to the same words and scales. */
export function packInt8Of(value: (k: number) => number, shape: readonly number[], layout: SourceLayout): PackedMatrix {
  const [rows, cols] = outIn(shape, layout);
  const idx = at(layout, rows, cols);
  const wordsPerRow = rowWords(cols, 'int8');
  const words = new Int32Array(rows * wordsPerRow);
  const scales = new Float32Array(rows);
  const row = new Float64Array(cols); // one output channel's values, each read once
  for (let o = 0; o < rows; o++) {
    let m = 0;
    for (let i = 0; i < cols; i++) {
      const x = value(idx(o, i));
      if (!Number.isFinite(x)) throw new RangeError(`value ${x} at [${o}, ${i}] cannot be quantized`);
      row[i] = x;
      m = Math.max(m, Math.abs(x));
    }
    const s = Math.fround(m / 127);
    scales[o] = s;
    if (s === 0) continue; // zeros (a subnormal row maximum also lands here: its values are ~0)
    for (let i = 0; i < cols; i++) {
      const q = Math.max(-127, Math.min(127, roundEven(row[i] / s)));
      const w = o * wordsPerRow + (i >> 2);
      words[w] |= (q & 0xff) << (8 * (i & 3));
    }
  }
  return { dtype: 'int8', rows, cols, wordsPerRow, words, scales };
}

/** The [rows, cols] float32 values the kernels compute with (for references
 * and tests): each half exactly, or q * scale rounded to float32. */
export function unpackMatrix(p: PackedMatrix): Float32Array {
  const out = new Float32Array(p.rows * p.cols);
  for (let o = 0; o < p.rows; o++) {
    for (let i = 0; i < p.cols; i++) {
      const w = p.words[o * p.wordsPerRow + Math.floor(i / PER_WORD[p.dtype])];
      if (p.dtype === 'f16') out[o * p.cols + i] = halfToFloat((w >>> (16 * (i & 1))) & 0xffff);
      else out[o * p.cols + i] = Math.fround(((w << (24 - 8 * (i & 3))) >> 24) * p.scales![o]);
    }
  }
  return out;
}

/** Bytes the packed matrix takes on the device (words and scales). */
export const packedBytes = (p: Pick<PackedMatrix, 'rows' | 'wordsPerRow' | 'dtype'>): number =>
  p.rows * p.wordsPerRow * 4 + (p.dtype === 'int8' ? p.rows * 4 : 0);

/** Rows a block of a packed table holds when the whole table of `rows`
 * rows of `rowBytes` is over `most` bytes (one binding): all of them when
 * it fits, else as many as one binding holds (0: not even one row). */
export const blockRows = (rows: number, rowBytes: number, most: number): number =>
  rows * rowBytes <= most ? rows : Math.floor(most / rowBytes);
