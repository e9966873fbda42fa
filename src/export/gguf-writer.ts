// A small GGUF v3 writer: typed metadata, tensor infos and F32 / F16 data,
// laid out as ggml's gguf.cpp reads it (little-endian throughout; u64 string
// lengths and counts; every tensor's offset a multiple of general.alignment
// from the start of the data section, which itself starts aligned).
// Model-agnostic: gguf-model.ts decides the names, shapes and metadata.

import { floatToHalfBits as f32ToF16Bits, halfToFloat as f16BitsToF32 } from '../shared/half';

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const GGUF_VERSION = 3;
const GGUF_ALIGNMENT = 32; // ggml's default; we also write it as general.alignment

/** gguf_type, the value types of metadata. */
export enum GgufType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** ggml_type of tensor data; only the two unquantized ones we write. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
}

export type GgufValue =
  | {
      type:
        | GgufType.UINT32
        | GgufType.INT32
        | GgufType.FLOAT32
        | GgufType.UINT8
        | GgufType.INT8
        | GgufType.UINT16
        | GgufType.INT16
        | GgufType.FLOAT64;
      value: number;
    }
  | { type: GgufType.UINT64 | GgufType.INT64; value: bigint }
  | { type: GgufType.BOOL; value: boolean }
  | { type: GgufType.STRING; value: string }
  | { type: GgufType.ARRAY; of: GgufType.STRING; value: readonly string[] }
  | { type: GgufType.ARRAY; of: GgufType.INT32 | GgufType.UINT32 | GgufType.FLOAT32; value: ArrayLike<number> };

export const kv = {
  u32: (value: number): GgufValue => ({ type: GgufType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufType.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GgufType.STRING, value }),
  strs: (value: readonly string[]): GgufValue => ({ type: GgufType.ARRAY, of: GgufType.STRING, value }),
  i32s: (value: ArrayLike<number>): GgufValue => ({ type: GgufType.ARRAY, of: GgufType.INT32, value }),
  f32s: (value: ArrayLike<number>): GgufValue => ({ type: GgufType.ARRAY, of: GgufType.FLOAT32, value }),
};

export interface GgufTensor {
  name: string;
  /** Row-major shape as numpy / PyTorch give it ([rows, cols]); the file
   * stores ggml's ne, which is this reversed (ne[0] = the contiguous axis). */
  shape: readonly number[];
  type: GgmlType;
  data: Float32Array;
}

const enc = new TextEncoder();

/** Index of the first lone UTF-16 surrogate of `s`, or -1. UTF-8 cannot
 * carry one: TextEncoder would write U+FFFD instead, a silently different
 * string (and two tokens that differ only there would become one). */
export function loneSurrogateAt(s: string): number {
  const m = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(s);
  return m ? m.index : -1;
}

// float32 <-> IEEE half bits (round to nearest even, as numpy's astype(float16)):
// the one pair of converters, shared with safetensors and the packed base
export { f16BitsToF32, f32ToF16Bits };

class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(x: number): void {
    this.room(1);
    this.view.setUint8(this.length, x);
    this.length += 1;
  }
  i8(x: number): void {
    this.room(1);
    this.view.setInt8(this.length, x);
    this.length += 1;
  }
  u16(x: number): void {
    this.room(2);
    this.view.setUint16(this.length, x, true);
    this.length += 2;
  }
  i16(x: number): void {
    this.room(2);
    this.view.setInt16(this.length, x, true);
    this.length += 2;
  }
  u32(x: number): void {
    this.room(4);
    this.view.setUint32(this.length, x, true);
    this.length += 4;
  }
  i32(x: number): void {
    this.room(4);
    this.view.setInt32(this.length, x, true);
    this.length += 4;
  }
  f32(x: number): void {
    this.room(4);
    this.view.setFloat32(this.length, x, true);
    this.length += 4;
  }
  f64(x: number): void {
    this.room(8);
    this.view.setFloat64(this.length, x, true);
    this.length += 8;
  }
  u64(x: bigint | number): void {
    this.room(8);
    this.view.setBigUint64(this.length, BigInt(x), true);
    this.length += 8;
  }
  i64(x: bigint): void {
    this.room(8);
    this.view.setBigInt64(this.length, x, true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  str(s: string): void {
    const b = enc.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  pad(align: number): void {
    while (this.length % align) this.u8(0);
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function checkText(what: string, s: string): void {
  const at = loneSurrogateAt(s);
  if (at >= 0)
    throw new RangeError(`GGUF ${what}: ${JSON.stringify(s.slice(0, 40))} has a lone UTF-16 surrogate at ${at}, which UTF-8 cannot hold`);
}

function checkBig(key: string, x: bigint, lo: bigint, hi: bigint): void {
  if (x < lo || x > hi) throw new RangeError(`GGUF metadata ${key}: ${x} is not an integer in [${lo}, ${hi}]`);
}

function checkInt(key: string, x: number, lo: number, hi: number): void {
  if (!Number.isInteger(x) || x < lo || x > hi) throw new RangeError(`GGUF metadata ${key}: ${x} is not an integer in [${lo}, ${hi}]`);
}

function writeScalar(b: Bytes, key: string, t: GgufType, x: number): void {
  switch (t) {
    case GgufType.UINT8:
      checkInt(key, x, 0, 0xff);
      b.u8(x);
      break;
    case GgufType.INT8:
      checkInt(key, x, -0x80, 0x7f);
      b.i8(x);
      break;
    case GgufType.UINT16:
      checkInt(key, x, 0, 0xffff);
      b.u16(x);
      break;
    case GgufType.INT16:
      checkInt(key, x, -0x8000, 0x7fff);
      b.i16(x);
      break;
    case GgufType.UINT32:
      checkInt(key, x, 0, 0xffffffff);
      b.u32(x);
      break;
    case GgufType.INT32:
      checkInt(key, x, -0x80000000, 0x7fffffff);
      b.i32(x);
      break;
    case GgufType.FLOAT32:
      b.f32(x);
      break;
    case GgufType.FLOAT64:
      b.f64(x);
      break;
    default:
      throw new TypeError(`GGUF metadata ${key}: type ${t} is not a number type`);
  }
}

function writeValue(b: Bytes, key: string, v: GgufValue): void {
  b.u32(v.type);
  switch (v.type) {
    case GgufType.STRING:
      checkText(`metadata ${key}`, v.value);
      b.str(v.value);
      return;
    case GgufType.BOOL:
      b.u8(v.value ? 1 : 0);
      return;
    // setBigUint64 / setBigInt64 would wrap a value outside the type silently
    case GgufType.UINT64:
      checkBig(key, v.value, 0n, 2n ** 64n - 1n);
      b.u64(v.value);
      return;
    case GgufType.INT64:
      checkBig(key, v.value, -(2n ** 63n), 2n ** 63n - 1n);
      b.i64(v.value);
      return;
    case GgufType.ARRAY:
      b.u32(v.of);
      b.u64(v.value.length);
      if (v.of === GgufType.STRING)
        (v.value as readonly string[]).forEach((s, i) => {
          checkText(`metadata ${key}[${i}]`, s);
          b.str(s);
        });
      else for (let i = 0; i < v.value.length; i++) writeScalar(b, key, v.of, (v.value as ArrayLike<number>)[i]);
      return;
    default:
      writeScalar(b, key, v.type, v.value);
  }
}

const bytesOf = (t: GgufTensor): number => t.data.length * (t.type === GgmlType.F16 ? 2 : 4);
const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/** One GGUF file. Metadata in the order given (general.alignment added first
 * unless present); tensors in the order given. */
export function writeGguf(metadata: ReadonlyArray<readonly [string, GgufValue]>, tensors: readonly GgufTensor[]): Uint8Array {
  const meta = metadata.some(([k]) => k === 'general.alignment')
    ? metadata
    : [['general.alignment', kv.u32(GGUF_ALIGNMENT)] as const, ...metadata];
  const alignV = meta.find(([k]) => k === 'general.alignment')![1];
  // gguf.cpp reads the alignment as a u32 power of two, and so lays out the data
  if (alignV.type !== GgufType.UINT32 || !(alignV.value > 0 && alignV.value <= 2 ** 16 && (alignV.value & (alignV.value - 1)) === 0))
    throw new RangeError('GGUF metadata general.alignment: must be a UINT32 power of two, at most 65536');
  const alignment = alignV.value;
  const keys = new Set<string>();
  for (const [k] of meta) {
    if (keys.has(k)) throw new Error(`GGUF metadata ${k} is given twice`);
    checkText('metadata key', k);
    keys.add(k);
  }
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`GGUF tensor ${t.name} is given twice`);
    checkText('tensor name', t.name);
    names.add(t.name);
    if (!t.shape.every((x) => Number.isSafeInteger(x) && x >= 0))
      throw new RangeError(`GGUF tensor ${t.name}: shape [${t.shape.join(', ')}] must hold non-negative integers`);
    const n = t.shape.reduce((a, x) => a * x, 1);
    if (n !== t.data.length)
      throw new Error(`GGUF tensor ${t.name}: shape [${t.shape.join(', ')}] holds ${n} values, the data ${t.data.length}`);
    if (t.shape.length < 1 || t.shape.length > 4) throw new Error(`GGUF tensor ${t.name}: ${t.shape.length} dimensions (ggml has 1 to 4)`);
  }

  const b = new Bytes();
  b.u32(GGUF_MAGIC);
  b.u32(GGUF_VERSION);
  b.u64(tensors.length);
  b.u64(meta.length);
  for (const [k, v] of meta) {
    b.str(k);
    writeValue(b, k, v);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    b.str(t.name);
    b.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) b.u64(t.shape[i]); // ne[0] is the last (contiguous) numpy axis
    b.u32(t.type);
    b.u64(offset);
    offsets.push(offset);
    offset = align(offset + bytesOf(t), alignment);
  }
  b.pad(alignment);
  const head = b.done();
  const out = new Uint8Array(head.length + offset);
  out.set(head);
  const view = new DataView(out.buffer);
  tensors.forEach((t, i) => {
    let p = head.length + offsets[i];
    if (t.type === GgmlType.F32) {
      for (let j = 0; j < t.data.length; j++, p += 4) view.setFloat32(p, t.data[j], true);
    } else {
      for (let j = 0; j < t.data.length; j++, p += 2) {
        const h = f32ToF16Bits(t.data[j]);
        // a finite weight beyond the half range would load as infinity
        if ((h & 0x7fff) === 0x7c00 && Number.isFinite(t.data[j]))
          throw new RangeError(`GGUF tensor ${t.name}: ${t.data[j]} does not fit in F16 (largest 65504); export F32`);
        view.setUint16(p, h, true);
      }
    }
  });
  return out;
}
