// WGSL programs for tfjs-backend-webgpu that replace chains of small kernels
// in the training step with one dispatch each (see kernels.ts for how they
// are registered and ops.ts for where they are used). tfjs wraps
// getUserCode() with the buffer bindings (the output is `result`, each input
// a read-only array named after variableNames), a `uniforms` struct holding
// every input's shape plus the fields declared in `uniforms`, and helpers
// such as setOutputAtIndex.

import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

const WG = 64; // threads per workgroup; row kernels reduce over it in shared memory

export interface ProgramSpec {
  key: string; // distinct per shader text; tfjs appends the shapes
  inputs: string[];
  outputShape: number[];
  /** One workgroup per row of `rows`, or one thread per output element. */
  rows?: number;
  uniforms?: string; // e.g. 'eps : f32,'
  body: string; // WGSL defining fn main(index : i32)
}

/** A program of a spec: the fused kernels', and the packed table's gather
 * (packed-programs.ts). */
export class Program implements WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  size?: boolean;
  uniforms?: string;
  private readonly code: string;

  constructor(s: ProgramSpec) {
    this.variableNames = s.inputs;
    this.outputShape = s.outputShape;
    this.shaderKey = `mcckd_${s.key}`;
    this.dispatchLayout = { x: s.outputShape.map((_, i) => i) };
    const n = s.outputShape.reduce((a, b) => a * b, 1);
    // tfjs reshapes an oversized x into x*y(*z); rowIndex() below undoes it
    this.dispatch = [s.rows !== undefined ? s.rows : Math.ceil(n / WG), 1, 1];
    if (s.rows === undefined) this.size = true;
    if (s.uniforms) this.uniforms = s.uniforms;
    this.code = (s.rows !== undefined ? ROW_HELPERS : '') + s.body;
  }

  getUserCode(): string {
    return this.code;
  }
}

/** Shared-memory reductions over one workgroup; call from uniform control
 * flow (every thread of the workgroup, no early return). */
const ROW_HELPERS = `
var<workgroup> red : array<f32, ${WG}>;
fn rowIndex() -> i32 {
  return i32(workgroupId.z * numWorkgroups.x * numWorkgroups.y + workgroupId.y * numWorkgroups.x + workgroupId.x);
}
fn wgSum(v : f32) -> f32 {
  red[localIndex] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (localIndex < s) { red[localIndex] = red[localIndex] + red[localIndex + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn wgMax(v : f32) -> f32 {
  red[localIndex] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (localIndex < s) { red[localIndex] = max(red[localIndex], red[localIndex + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

/** main() of a row kernel over input `v` [N, C]. It defines rows, cols, r
 * (this workgroup's row, possibly past the end: write only when r < rows),
 * row (clamped, safe to read) and tid (this thread's first column). */
function rowMain(v: string, body: string): string {
  return `
fn main(index : i32) {
  let rows = uniforms.${v}Shape[0];
  let cols = uniforms.${v}Shape[1];
  let r = rowIndex();
  let row = min(r, rows - 1);
  let tid = i32(localId.x);
${body}
}`;
}

/** logsumexp of row `row` of z [N, V]. */
const ROW_LSE = `
fn rowLse(row : i32, cols : i32) -> f32 {
  let tid = i32(localId.x);
  var m = -3.402823e+38;
  for (var c = tid; c < cols; c += ${WG}) { m = max(m, z[row * cols + c]); }
  let mx = wgMax(m);
  var s = 0.0;
  for (var c = tid; c < cols; c += ${WG}) { s += exp(z[row * cols + c] - mx); }
  return mx + log(wgSum(s));
}
`;

/** Mean and 1/sqrt(var + eps) of row `row` of x [N, C] (biased variance,
 * two passes, as tf.moments and torch compute it). */
const ROW_STATS = `
fn rowStats(row : i32, cols : i32, eps : f32) -> vec2<f32> {
  let tid = i32(localId.x);
  var s = 0.0;
  for (var c = tid; c < cols; c += ${WG}) { s += x[row * cols + c]; }
  let mean = wgSum(s) / f32(cols);
  var q = 0.0;
  for (var c = tid; c < cols; c += ${WG}) { let d = x[row * cols + c] - mean; q += d * d; }
  return vec2<f32>(mean, inverseSqrt(wgSum(q) / f32(cols) + eps));
}
`;

/** y = (x - mean) / sqrt(var + eps) * gamma + beta over rows of x [N, C]. */
export function layerNormProgram(n: number, c: number): WebGPUProgram {
  return new Program({
    key: 'ln',
    inputs: ['x', 'gamma', 'beta'],
    outputShape: [n, c],
    rows: n,
    uniforms: 'eps : f32,',
    body: `${ROW_STATS}
${rowMain(
  'x',
  `  let st = rowStats(row, cols, uniforms.eps);
  if (r < rows) {
    for (var c = i32(localId.x); c < cols; c += ${WG}) {
      setOutputAtIndex(row * cols + c, (x[row * cols + c] - st.x) * st.y * gamma[c] + beta[c]);
    }
  }`,
)}`,
  });
}

/** dx of layerNorm: rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
 * dxhat = dy * gamma. */
export function layerNormGradXProgram(n: number, c: number): WebGPUProgram {
  return new Program({
    key: 'ln_dx',
    inputs: ['x', 'gamma', 'dy'],
    outputShape: [n, c],
    rows: n,
    uniforms: 'eps : f32,',
    body: `${ROW_STATS}
${rowMain(
  'x',
  `  let st = rowStats(row, cols, uniforms.eps);
  var a = 0.0;
  var b = 0.0;
  for (var c = i32(localId.x); c < cols; c += ${WG}) {
    let i = row * cols + c;
    let dxh = dy[i] * gamma[c];
    a += dxh;
    b += dxh * (x[i] - st.x) * st.y;
  }
  let ma = wgSum(a) / f32(cols);
  let mb = wgSum(b) / f32(cols);
  if (r < rows) {
    for (var c = i32(localId.x); c < cols; c += ${WG}) {
      let i = row * cols + c;
      let xh = (x[i] - st.x) * st.y;
      setOutputAtIndex(i, st.y * (dy[i] * gamma[c] - ma - xh * mb));
    }
  }`,
)}`,
  });
}

/** xhat = (x - mean) * rstd, the normalized rows (for d gamma = sum dy * xhat). */
export function layerNormXhatProgram(n: number, c: number): WebGPUProgram {
  return new Program({
    key: 'ln_xhat',
    inputs: ['x'],
    outputShape: [n, c],
    rows: n,
    uniforms: 'eps : f32,',
    body: `${ROW_STATS}
${rowMain(
  'x',
  `  let st = rowStats(row, cols, uniforms.eps);
  if (r < rows) {
    for (var c = i32(localId.x); c < cols; c += ${WG}) {
      setOutputAtIndex(row * cols + c, (x[row * cols + c] - st.x) * st.y);
    }
  }`,
)}`,
  });
}

/** Column sums of a * b for a, b [N, C] -> [C], one workgroup per column. */
export function columnDotProgram(c: number): WebGPUProgram {
  return new Program({
    key: 'coldot',
    inputs: ['a', 'b'],
    outputShape: [c],
    rows: c,
    body: `
fn main(index : i32) {
  let rows = uniforms.aShape[0];
  let cols = uniforms.aShape[1];
  let k = rowIndex();
  let col = min(k, cols - 1);
  var s = 0.0;
  for (var r = i32(localId.x); r < rows; r += ${WG}) { s += a[r * cols + col] * b[r * cols + col]; }
  let t = wgSum(s);
  if (k < cols && localIndex == 0u) { setOutputAtIndex(col, t); }
}`,
  });
}

/** Causal softmax of attention scores [N, K] (N = R*H*t rows; row r is query
 * r mod t at absolute position past + r mod t and sees keys 0..that). The
 * scores are scaled by `scale` first; masked entries get exactly 0. */
export function causalSoftmaxProgram(n: number, k: number): WebGPUProgram {
  return new Program({
    key: 'csm',
    inputs: ['att'],
    outputShape: [n, k],
    rows: n,
    uniforms: 'scale : f32, tq : i32, past : i32,',
    body: `
${rowMain(
  'att',
  `  let last = min(uniforms.past + row % uniforms.tq, cols - 1);
  var m = -3.402823e+38;
  for (var c = tid; c <= last; c += ${WG}) { m = max(m, att[row * cols + c] * uniforms.scale); }
  let mx = wgMax(m);
  var s = 0.0;
  for (var c = tid; c <= last; c += ${WG}) { s += exp(att[row * cols + c] * uniforms.scale - mx); }
  let sum = wgSum(s);
  if (r < rows) {
    for (var c = tid; c < cols; c += ${WG}) {
      var y = 0.0;
      if (c <= last) { y = exp(att[row * cols + c] * uniforms.scale - mx) / sum; }
      setOutputAtIndex(row * cols + c, y);
    }
  }`,
)}`,
  });
}

/** d scores = scale * y * (dy - sum(dy * y)) for the causal softmax. */
export function causalSoftmaxGradProgram(n: number, k: number): WebGPUProgram {
  return new Program({
    key: 'csm_grad',
    inputs: ['y', 'dy'],
    outputShape: [n, k],
    rows: n,
    uniforms: 'scale : f32,',
    body: `
${rowMain(
  'y',
  `  var s = 0.0;
  for (var c = tid; c < cols; c += ${WG}) { s += dy[row * cols + c] * y[row * cols + c]; }
  let dot = wgSum(s);
  if (r < rows) {
    for (var c = tid; c < cols; c += ${WG}) {
      let i = row * cols + c;
      setOutputAtIndex(i, uniforms.scale * y[i] * (dy[i] - dot));
    }
  }`,
)}`,
  });
}

/** Per-row cross-entropy logsumexp(z) - z[target] for logits [N, V]. */
export function crossEntropyProgram(n: number): WebGPUProgram {
  return new Program({
    key: 'xent',
    inputs: ['z', 'tgt'],
    outputShape: [n],
    rows: n,
    body: `${ROW_LSE}
${rowMain(
  'z',
  `  let lse = rowLse(row, cols);
  if (r < rows && localIndex == 0u) { setOutputAtIndex(row, lse - z[row * cols + tgt[row]]); }`,
)}`,
  });
}

/** d logits = (softmax(z) - onehot(target)) * dy[row]. */
export function crossEntropyGradProgram(n: number, v: number): WebGPUProgram {
  return new Program({
    key: 'xent_grad',
    inputs: ['z', 'tgt', 'dy'],
    outputShape: [n, v],
    rows: n,
    body: `${ROW_LSE}
${rowMain(
  'z',
  `  let lse = rowLse(row, cols);
  if (r < rows) {
    let t = tgt[row];
    let g = dy[row];
    for (var c = tid; c < cols; c += ${WG}) {
      var p = exp(z[row * cols + c] - lse);
      if (c == t) { p = p - 1.0; }
      setOutputAtIndex(row * cols + c, p * g);
    }
  }`,
)}`,
  });
}

/** tanh without the overflow of (e^2u - 1) / (e^2u + 1) at large |u|. */
const TANH = `
fn tanhSafe(u : f32) -> f32 {
  let e = exp(-2.0 * abs(u));
  return sign(u) * (1.0 - e) / (1.0 + e);
}
const GELU_C = ${Math.sqrt(2 / Math.PI)};
`;

/** GPT-2's GELU, 0.5 x (1 + tanh(c (x + 0.044715 x^3))). */
export function geluProgram(shape: number[]): WebGPUProgram {
  return new Program({
    key: 'gelu',
    inputs: ['x'],
    outputShape: shape,
    body: `${TANH}
fn main(index : i32) {
  if (index < uniforms.size) {
    let v = x[index];
    setOutputAtIndex(index, 0.5 * v * (1.0 + tanhSafe(GELU_C * (v + 0.044715 * v * v * v))));
  }
}`,
  });
}

export function geluGradProgram(shape: number[]): WebGPUProgram {
  return new Program({
    key: 'gelu_grad',
    inputs: ['x', 'dy'],
    outputShape: shape,
    body: `${TANH}
fn main(index : i32) {
  if (index < uniforms.size) {
    let v = x[index];
    let t = tanhSafe(GELU_C * (v + 0.044715 * v * v * v));
    let du = GELU_C * (1.0 + 3.0 * 0.044715 * v * v);
    setOutputAtIndex(index, dy[index] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du));
  }
}`,
  });
}

/** Sum of squares of every element of x0..x{k-1} (each flat) -> [1], in one
 * workgroup: the squared gradient norm of up to 7 parameters per dispatch
 * (MAX_PROGRAM_INPUTS in ops.ts). */
export function sumSquaresProgram(k: number): WebGPUProgram {
  const names = Array.from({ length: k }, (_, i) => `x${i}`);
  const loops = names
    .map((x) => `  for (var i = i32(localId.x); i < uniforms.${x}Shape; i += ${WG}) { let v = ${x}[i]; s += v * v; }`)
    .join('\n');
  return new Program({
    key: `sumsq${k}`,
    inputs: names,
    outputShape: [1],
    rows: 1,
    body: `
fn main(index : i32) {
  var s = 0.0;
${loops}
  let t = wgSum(s);
  if (localIndex == 0u) { setOutputAtIndex(0, t); }
}`,
  });
}

type AdamWOutput = 'p' | 'm' | 'v';

/** One AdamW output for one parameter: m' = b1 m + (1-b1) g s,
 * v' = b2 v + (1-b2) (g s)^2, p' = p decay - (m'/bc1) / (sqrt(v'/bc2) + eps) lr,
 * s = the clipping scale [1], 0 for a skipped step (non-finite gradient:
 * the old value is kept); c1 = 1-b1 and c2 = 1-b2 come rounded from the
 * host as the unfused ops' scalars do. Three programs (p, m, v) because a tfjs program
 * writes one output; each recomputes the cheap moments. */
export function adamWProgram(shape: number[], which: AdamWOutput): WebGPUProgram {
  // layout 'auto' drops unused bindings, so each program lists only what it reads
  const inputs = which === 'p' ? ['p', 'm', 'v', 'g', 'scale'] : which === 'm' ? ['m', 'g', 'scale'] : ['v', 'g', 'scale'];
  const value = {
    m: 'uniforms.b1 * m[index] + uniforms.c1 * gs',
    v: 'uniforms.b2 * v[index] + uniforms.c2 * gs * gs',
    p: `p[index] * uniforms.decay - ((uniforms.b1 * m[index] + uniforms.c1 * gs) / uniforms.bc1) /
          (sqrt((uniforms.b2 * v[index] + uniforms.c2 * gs * gs) / uniforms.bc2) + uniforms.eps) * uniforms.lr`,
  }[which];
  return new Program({
    key: `adamw_${which}`,
    inputs,
    outputShape: shape,
    uniforms: 'lr : f32, b1 : f32, c1 : f32, b2 : f32, c2 : f32, bc1 : f32, bc2 : f32, eps : f32, decay : f32,',
    body: `
fn main(index : i32) {
  if (index < uniforms.size) {
    let gs = g[index] * scale[0];
    setOutputAtIndex(index, select(${value}, ${which}[index], scale[0] == 0.0));
  }
}`,
  });
}
