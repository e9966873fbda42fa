// WGSL programs for a frozen projection whose weight W [out, in] is packed
// (pack.ts): the forward y = x W^T + b and the input gradient dX = dY W (and,
// at the end, the row gather of a packed token table). No weight gradient:
// the base is frozen. The two products are tiled products: a workgroup
// of 64 threads computes a tile of TR rows x 64 columns, one column per
// thread (TR accumulators each), stepping through the shared dimension TK at
// a time with the x (or dY) tile and the unpacked W tile in workgroup memory.
// W is read by words (unpack2x16float is core WGSL, no shader-f16 needed;
// int8 via extractBits, which sign-extends an i32) and dequantized into
// float32 once per tile, so the inner loop is the same for both dtypes.

import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { PER_WORD, type PackedDtype } from './pack';
import { Program } from './programs';

const TR = 16; // rows of x (dY) per tile: each thread's accumulators
const TC = 64; // output columns per tile: one per thread (the workgroup size)
const TK = 32; // the shared dimension, a step at a time (a multiple of 4: whole words)

/** Workgroups for an [n, cols] output. */
const packedTiles = (n: number, cols: number): number => Math.ceil(n / TR) * Math.ceil(cols / TC);

/** WGSL reading W's words: wWord(o, j) is word j of row o (0 past the end),
 * and unpackInto(o, j, word, store) dequantizes its PER_WORD elements. */
function weightReader(dtype: PackedDtype): string {
  const per = PER_WORD[dtype];
  const unpack =
    dtype === 'f16'
      ? `  let h = unpack2x16float(word);
  return array<f32, 4>(h.x, h.y, 0.0, 0.0);`
      : `  let s = select(0.0, scale[o], o < uniforms.wShape[0]);
  let v = bitcast<i32>(word);
  return array<f32, 4>(f32(extractBits(v, 0u, 8u)) * s, f32(extractBits(v, 8u, 8u)) * s,
                       f32(extractBits(v, 16u, 8u)) * s, f32(extractBits(v, 24u, 8u)) * s);`;
  return `
const PER = ${per};
fn wWord(o : i32, j : i32) -> u32 {
  if (o < uniforms.wShape[0] && j < uniforms.wShape[1]) { return bitcast<u32>(w[o * uniforms.wShape[1] + j]); }
  return 0u;
}
fn unpackWord(o : i32, word : u32) -> array<f32, 4> {
${unpack}
}
`;
}

const TILE_MEMORY = `
const TR = ${TR};
const TC = ${TC};
const TK = ${TK};
var<workgroup> xa : array<array<f32, TK>, TR>; // the x (dY) tile
var<workgroup> ws : array<array<f32, TC>, TK>; // the W tile, [k][column]
fn tileIndex() -> i32 {
  // tfjs folds a dispatch wider than one dimension into y (and z)
  return i32(workgroupId.z * numWorkgroups.x * numWorkgroups.y + workgroupId.y * numWorkgroups.x + workgroupId.x);
}
`;

class PackedProgram implements WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [TC, 1, 1];
  private readonly code: string;

  constructor(key: string, inputs: string[], outputShape: [number, number], code: string) {
    this.variableNames = inputs;
    this.outputShape = outputShape;
    this.shaderKey = `mcckd_${key}`;
    this.dispatchLayout = { x: [0, 1] };
    this.dispatch = [packedTiles(outputShape[0], outputShape[1]), 1, 1];
    this.code = code;
  }

  getUserCode(): string {
    return this.code;
  }
}

/** main() of the tiled product out [N, cols] = a [N, k] @ B, where B's
 * tile ws[k][column] is filled by `loadW` (the two programs differ only in
 * how W's words map onto B) and `bias` is added to each output (or ''). */
function tiledProduct(a: string, loadW: string, bias: string): string {
  return `${TILE_MEMORY}
fn main(index : i32) {
  let n = uniforms.${a}Shape[0];
  let k = uniforms.${a}Shape[1];
  let cols = uniforms.outShape[1];
  let tiles = (cols + TC - 1) / TC;
  let tile = tileIndex();
  let r0 = (tile / tiles) * TR;
  let c0 = (tile % tiles) * TC;
  let t = i32(localId.x);
  var acc : array<f32, TR>;
  for (var k0 = 0; k0 < k; k0 += TK) {
    for (var e = t; e < TR * TK; e += TC) {
      let r = r0 + e / TK;
      let c = k0 + e % TK;
      var v = 0.0;
      if (r < n && c < k) { v = ${a}[r * k + c]; }
      xa[e / TK][e % TK] = v;
    }
${loadW}
    workgroupBarrier();
    for (var c = 0; c < TK; c++) {
      let wv = ws[c][t];
      for (var r = 0; r < TR; r++) { acc[r] += xa[r][c] * wv; }
    }
    workgroupBarrier();
  }
  let o = c0 + t;
  if (o < cols) {
    for (var r = 0; r < TR; r++) {
      if (r0 + r < n) { setOutputAtIndex((r0 + r) * cols + o, acc[r]${bias}); }
    }
  }
}`;
}

/** y [N, out] = x [N, in] @ W^T (+ b), W packed [out, wordsPerRow]. */
export function packedMatMulProgram(dtype: PackedDtype, n: number, out: number, bias: boolean): WebGPUProgram {
  const inputs = ['x', 'w', ...(dtype === 'int8' ? ['scale'] : []), ...(bias ? ['b'] : [])];
  // W rows c0.. (output channels), words k0 / PER ..: ws[k][o] (transposed)
  const loadW = `    for (var e = t; e < TC * (TK / PER); e += TC) {
      let o = c0 + e / (TK / PER);
      let j = e % (TK / PER);
      var vals = unpackWord(o, wWord(o, k0 / PER + j));
      for (var q = 0; q < PER; q++) { ws[j * PER + q][e / (TK / PER)] = vals[q]; }
    }`;
  return new PackedProgram(
    `packed_mm_${dtype}_${bias ? 'b' : 'nb'}`,
    inputs,
    [n, out],
    `${weightReader(dtype)}${tiledProduct('x', loadW, bias ? ' + b[o]' : '')}`,
  );
}

/** dX [N, in] = dY [N, out] @ W, W packed [out, wordsPerRow]; `cols` is in. */
export function packedMatMulGradProgram(dtype: PackedDtype, n: number, cols: number): WebGPUProgram {
  const inputs = ['dy', 'w', ...(dtype === 'int8' ? ['scale'] : [])];
  // W rows k0.. (output channels, the shared dimension), the words of columns c0..: ws[o][i]
  const loadW = `    for (var e = t; e < TK * (TC / PER); e += TC) {
      let o = k0 + e / (TC / PER);
      let j = e % (TC / PER);
      var vals = unpackWord(o, wWord(o, c0 / PER + j));
      for (var q = 0; q < PER; q++) { ws[e / (TC / PER)][j * PER + q] = vals[q]; }
    }`;
  return new PackedProgram(`packed_mm_dx_${dtype}`, inputs, [n, cols], `${weightReader(dtype)}${tiledProduct('dy', loadW, '')}`);
}

/** Rows of a packed table (the token embedding, f16 or int8 with a scale a
 * row): out [N, cols] = rows ids - off of W [rows, wordsPerRow], zeros for
 * an id outside [off, off + rows) (a table held in row blocks: each block
 * serves its own ids, base-dtype.ts). One thread an output element, reading
 * its word and unpacking it as the products do, so a row comes out exactly
 * as unpackMatrix (pack.ts) gives it. `off` is a uniform: one shader for
 * every block. */
export function packedGatherProgram(dtype: PackedDtype, n: number, cols: number): WebGPUProgram {
  const inputs = ['ids', 'w', ...(dtype === 'int8' ? ['scale'] : [])];
  return new Program({
    key: `packed_gather_${dtype}`,
    inputs,
    outputShape: [n, cols],
    uniforms: 'off : i32,', // the block's first row: one shader for every block
    body: `${weightReader(dtype)}
fn main(index : i32) {
  if (index < uniforms.size) {
    let cols = uniforms.outShape[1];
    let r = ids[index / cols] - uniforms.off;
    let i = index % cols;
    var v = 0.0;
    if (r >= 0 && r < uniforms.wShape[0]) {
      var vals = unpackWord(r, wWord(r, i / PER));
      v = vals[i % PER];
    }
    setOutputAtIndex(index, v);
  }
}`,
  });
}
