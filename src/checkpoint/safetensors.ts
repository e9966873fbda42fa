// The safetensors container (https://github.com/huggingface/safetensors):
// 8-byte little-endian header length N, N bytes of JSON header, then the
// tensor bytes. We write F32, or F16/BF16 rounded to nearest even (an
// export in its base's dtype); we read F32 (as views when aligned) and
// convert F16/BF16 to F32. decode() trusts nothing: every refusal is a
// SafetensorsError that names the tensor and the problem (no other exception
// kind escapes: nesting depth is checked before parsing, names land in
// null-prototype maps).

import type { NamedTensor, TensorMap } from '../core/state';
import { LITTLE_ENDIAN } from './hash';
import { floatToHalfBits, halfToFloat } from '../shared/half';

export { floatToHalfBits } from '../shared/half';

export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  constructor(
    message: string,
    readonly tensor?: string,
  ) {
    super(message);
  }
}

export interface DecodeLimits {
  /** Largest accepted JSON header; guards against a hostile length field. */
  maxHeaderBytes?: number;
}

const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024;

/** Deepest JSON nesting accepted in a header (ours nest 3 levels: header,
 * entry, shape) and in the JSON strings of our metadata. JSON.parse copes
 * with any depth, but everything that walks the value recursively
 * (JSON.stringify in a message, structured clone) overflows the stack. */
export const MAX_JSON_DEPTH = 64;

/** The deepest nesting of arrays and objects in JSON text, counted in one
 * pass (brackets inside strings do not count); stops counting once past
 * `limit` and returns limit + 1. Linear in the text. */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return limit + 1;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** A short printable preview of any value: never throws (a value too deep
 * or too large to print gets a placeholder), never longer than 60 chars. */
export function describeValue(v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    return Array.isArray(v) ? '(an array too deep to print)' : '(a value too deep to print)';
  }
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Bytes per element of the dtypes decode() accepts. */
const DTYPE_SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Sorted the way every part of the format sorts names (UTF-16 code units;
 * our names are ASCII, so this equals Python's sorted()). */
export function sortedNames(tensors: TensorMap): string[] {
  return Object.keys(tensors).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The little-endian bytes of a Float32Array: a view on little-endian hosts. */
export function f32Bytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
  return out;
}

const fmtShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** What encode() may store: float32 as it is, or rounded to a 16-bit float. */
type EncodeDtype = 'F32' | 'F16' | 'BF16';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> bfloat16 bits (the top half), round to nearest even; NaN stays NaN. */
export function floatToBf16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0];
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return (u >>> 16) | 0x40;
  return Math.floor((u + 0x7fff + ((u >>> 16) & 1)) / 0x10000) & 0xffff;
}

/** The little-endian bytes of `data` stored as `dtype`. */
function tensorBytes(data: Float32Array, dtype: EncodeDtype): Uint8Array {
  if (dtype === 'F32') return f32Bytes(data);
  const out = new Uint8Array(data.length * 2);
  const dv = new DataView(out.buffer);
  const conv = dtype === 'F16' ? floatToHalfBits : floatToBf16Bits;
  for (let i = 0; i < data.length; i++) dv.setUint16(i * 2, conv(data[i]), true);
  return out;
}

interface EncodeOptions {
  /** Storage dtype of every tensor (default F32). */
  dtype?: EncodeDtype;
}

export function encode(tensors: TensorMap, metadata: Record<string, string> = {}, opts: EncodeOptions = {}): Uint8Array {
  const dtype = opts.dtype ?? 'F32';
  if (!(dtype in DTYPE_SIZE)) throw new SafetensorsError(`dtype "${String(dtype)}" cannot be written (F32, F16 or BF16)`);
  const size = DTYPE_SIZE[dtype];
  const names = sortedNames(tensors);
  const header: Record<string, unknown> = { __metadata__: { ...metadata } };
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new SafetensorsError(`metadata "${k}" must be a string, got ${typeof v}`);
    if (k === '__proto__') throw new SafetensorsError('metadata key "__proto__" is not allowed');
  }
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__' || name === '__proto__') throw new SafetensorsError(`"${name}" cannot be a tensor name`, name);
    const t = tensors[name];
    if (!t.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
      throw new SafetensorsError(`tensor "${name}": shape ${fmtShape(t.shape)} is not a list of non-negative integers`, name);
    }
    if (numel(t.shape) !== t.data.length) {
      throw new SafetensorsError(
        `tensor "${name}": shape ${fmtShape(t.shape)} needs ${numel(t.shape)} values, data has ${t.data.length}`,
        name,
      );
    }
    const n = t.data.length * size;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data section starts 8-byte aligned (the spec's
  // recommendation, and what lets readers make Float32Array views).
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headerLen % 0x100000000, true);
  dv.setUint32(4, Math.floor(headerLen / 0x100000000), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const name of names) {
    const bytes = tensorBytes(tensors[name].data, dtype);
    out.set(bytes, pos);
    pos += bytes.length;
  }
  return out;
}

/** One tensor of a file's header: its bytes are [begin, end) of the data section. */
export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}
type Entry = TensorEntry;

const describe = describeValue;

function parseEntry(name: string, info: unknown): Entry {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`tensor "${name}": ${msg}`, name);
  };
  if (name === '__proto__') fail('this name is not allowed');
  if (typeof info !== 'object' || info === null || Array.isArray(info)) return fail(`entry must be an object, got ${describe(info)}`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (typeof dtype !== 'string') return fail(`dtype missing or not a string (${describe(dtype)})`);
  if (!(dtype in DTYPE_SIZE)) fail(`unsupported dtype "${dtype}" (supported: F32; F16 and BF16 are converted to F32)`);
  if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
    fail(`shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  const dims = shape as number[];
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    fail(`data_offsets must be [begin, end] with integers 0 <= begin <= end, got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const need = numel(dims) * DTYPE_SIZE[dtype];
  if (!Number.isSafeInteger(need) || need !== end - begin) {
    fail(`holds ${end - begin} bytes but shape ${fmtShape(dims)} of ${dtype} needs ${need} bytes`);
  }
  return { name, dtype, shape: dims, begin, end };
}

function parseMetadata(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new SafetensorsError(`__metadata__ must be an object of strings, got ${describe(v)}`);
  }
  // Null prototype: a key such as "constructor" is data, and a lookup of an
  // absent key never finds Object.prototype's members.
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, val] of Object.entries(v)) {
    if (k === '__proto__') throw new SafetensorsError('__metadata__ key "__proto__" is not allowed');
    if (typeof val !== 'string') throw new SafetensorsError(`__metadata__ "${k}" must be a string, got ${describe(val)}`);
    out[k] = val;
  }
  return out;
}

/** The tensor `e` as float32 from `bytes`, where its first byte is at
 * `at`. F32 is a view on `bytes` where aligned. */
function readTensor(bytes: Uint8Array, at: number, e: Entry): Float32Array {
  const n = numel(e.shape);
  const abs = bytes.byteOffset + at;
  if (e.dtype === 'F32') {
    // A view shares the caller's buffer: no copy for aligned data (ours always is).
    if (LITTLE_ENDIAN && abs % 4 === 0) return new Float32Array(bytes.buffer, abs, n);
    if (LITTLE_ENDIAN) return new Float32Array(bytes.slice(at, at + e.end - e.begin).buffer);
  }
  const dv = new DataView(bytes.buffer, abs, e.end - e.begin);
  const out = new Float32Array(n);
  if (e.dtype === 'F32') for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  else if (e.dtype === 'F16') for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
  else {
    // BF16 is the top half of an F32.
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = dv.getUint16(i * 2, true) << 16;
  }
  return out;
}

interface Decoded {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

/** What a file's header says, checked against the file's size: its tensors
 * (each inside the data section, together tiling it exactly), its metadata,
 * and where the data section starts. */
export interface SafetensorsLayout {
  entries: TensorEntry[];
  metadata: Record<string, string>;
  /** 8 + the header length: the file offset of data_offsets' 0. */
  dataStart: number;
}

/** The header length from a file's first 8 bytes, checked against the limit
 * and against the size of the file (`fileSize` bytes). */
export function headerLength(first: Uint8Array, fileSize: number, limits: DecodeLimits = {}): number {
  const maxHeader = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (first.length < 8 || fileSize < 8) {
    throw new SafetensorsError(
      `file is ${Math.min(first.length, fileSize)} bytes long: too short for the 8-byte header length (truncated or not a safetensors file)`,
    );
  }
  const dv = new DataView(first.buffer, first.byteOffset, 8);
  const headerLen = dv.getUint32(0, true) + dv.getUint32(4, true) * 0x100000000;
  if (headerLen > maxHeader) {
    throw new SafetensorsError(`header length ${headerLen} exceeds the limit of ${maxHeader} bytes (damaged or not a safetensors file)`);
  }
  if (8 + headerLen > fileSize) {
    throw new SafetensorsError(`header length ${headerLen} goes beyond the end of the file (${fileSize} bytes): file truncated?`);
  }
  return headerLen;
}

/** Parses and checks the header of a file of `fileSize` bytes from its first
 * 8 + headerLength bytes (`head`; more are ignored), without a byte of
 * tensor data: a file of any size is checked before it is read. */
export function readLayout(head: Uint8Array, fileSize: number, limits: DecodeLimits = {}): SafetensorsLayout {
  const headerLen = headerLength(head, fileSize, limits);
  if (head.length < 8 + headerLen)
    throw new SafetensorsError(`header cut short: ${head.length} of its ${8 + headerLen} bytes given (file truncated?)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + headerLen));
  } catch {
    throw new SafetensorsError('header is not valid UTF-8');
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw new SafetensorsError(
      `header nests JSON more than ${MAX_JSON_DEPTH} levels deep (a safetensors header needs 3): damaged or hostile file`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(`header is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(`header must be a JSON object, got ${describe(header)}`);
  }
  const start = 8 + headerLen;
  const dataLen = fileSize - start;
  let metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') metadata = parseMetadata(info);
    else entries.push(parseEntry(name, info));
  }
  for (const e of entries) {
    if (e.end > dataLen) {
      throw new SafetensorsError(
        `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] go beyond the data section (${dataLen} bytes): file truncated?`,
        e.name,
      );
    }
  }
  // As the reference implementation: the tensors must tile the data section
  // exactly, no overlaps, no holes, no trailing bytes.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of byOffset) {
    if (e.begin < pos && prev) {
      throw new SafetensorsError(
        `tensors "${prev.name}" and "${e.name}" overlap (bytes [${prev.begin}, ${prev.end}) and [${e.begin}, ${e.end}))`,
        e.name,
      );
    }
    if (e.begin > pos) {
      throw new SafetensorsError(`bytes [${pos}, ${e.begin}) before tensor "${e.name}" belong to no tensor`, e.name);
    }
    pos = e.end;
    if (e.end > e.begin) prev = e;
  }
  if (pos !== dataLen) throw new SafetensorsError(`${dataLen - pos} trailing bytes after the last tensor belong to no tensor`);
  return { entries, metadata, dataStart: start };
}

/** One tensor as float32 from its own bytes (its data_offsets range, read
 * alone); F32 is a view on `bytes` where aligned. */
export function tensorFromBytes(e: TensorEntry, bytes: Uint8Array): Float32Array {
  if (bytes.length !== e.end - e.begin)
    throw new SafetensorsError(`tensor "${e.name}": ${bytes.length} bytes given, it holds ${e.end - e.begin}`, e.name);
  return readTensor(bytes, 0, e);
}

/** Parses and validates a whole file. F32 tensors are views into `bytes`
 * where alignment allows: don't reuse the buffer while they are alive. */
export function decode(bytes: Uint8Array, limits: DecodeLimits = {}): Decoded {
  const { entries, metadata, dataStart: start } = readLayout(bytes, bytes.length, limits);
  // Null prototype, as the metadata: tensor names are data.
  const tensors: TensorMap = Object.create(null) as TensorMap;
  for (const e of entries) {
    const t: NamedTensor = { shape: e.shape, data: readTensor(bytes, start + e.begin, e) };
    tensors[e.name] = t;
  }
  return { tensors, metadata };
}
