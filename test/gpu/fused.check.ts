// Fused WebGPU kernels against the unfused tfjs ops, on WebGPU itself (Dawn
// in Node). Run in its own process (Dawn needs LD_LIBRARY_PATH from process
// start) by test/unit/fused-webgpu.test.ts; prints one JSON Report.
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '../../src/cli/setup';
import { setBackend } from '../../src/core/backend';
import { fusedCausalSoftmax, fusedAdamW, fusedSumSquareParts, setFusedKernels } from '../../src/core/fused/ops';
import { gelu, layerNorm, sparseCrossEntropy } from '../../src/core/ops';
import { Rng } from '../../src/shared/rng';
import { Trainer } from '../../src/core/trainer';
import { toyGroups, tinyConfig } from '../unit/core-helpers';
import { watchGpuErrors } from './gpu-errors';

const rng = new Rng(11);
const rand = (shape: number[], s = 1): tf.Tensor =>
  tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * s),
    shape,
  );

export interface Diff {
  value: number;
  grads: number[];
  scale: number;
}
interface Train {
  losses: number[];
  growth: number;
  dispatches: number;
}
export interface Report {
  backend: string;
  /** WebGPU errors no one caught (validation, out of memory), first lines. */
  gpuErrors: string[];
  layerNorm: Diff;
  /** LayerNorm on a dispatch tfjs folds into 2 and into 3 dimensions. */
  layerNormFolded: Diff[];
  causalSoftmax: Diff[];
  crossEntropy: Diff;
  gelu: Diff;
  adamW: { p: number; m: number; v: number; update: number };
  /** A skipped step (scale 0, NaN gradient): how far each output moved. */
  adamWSkip: { p: number; m: number; v: number; nonFinite: number };
  sumSquares: { fused: number; unfused: number };
  train: { fused: Train; unfused: Train; cpu: Train };
  resume: { straight: number[]; resumed: number[] };
}

/** The small model of the training comparisons. */
const MODEL = { nLayer: 2, nEmbd: 32, nHead: 2, blockSize: 96 };

const maxAbs = async (x: tf.Tensor): Promise<number> => (await tf.max(tf.abs(x)).data())[0];

/** max |fused - unfused| of the value and of each input's gradient of
 * sum(out * w), w fixed, and the largest magnitude seen (for a relative
 * read). `fnFor(fused)` gives the op; ops that choose by fusedActive() get
 * the switch set to match. */
async function compare(
  fnFor: (fused: boolean) => (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  gradArgs: number[],
): Promise<Diff> {
  const runOnce = (fused: boolean): { value: tf.Tensor; grads: tf.Tensor[] } => {
    setFusedKernels(fused);
    const fn = fnFor(fused);
    return tf.tidy(() => {
      const value = fn(...inputs);
      const w = tf.tensor(
        Float32Array.from({ length: value.size }, (_, i) => Math.sin(i * 0.37) + 0.5),
        value.shape,
      );
      const grads = tf.grads((...xs: tf.Tensor[]) =>
        tf.sum(tf.mul(fn(...inputs.map((x, i) => (gradArgs.includes(i) ? xs[gradArgs.indexOf(i)] : x))), w)),
      )(gradArgs.map((i) => inputs[i]));
      return { value, grads };
    });
  };
  const a = runOnce(true);
  const b = runOnce(false);
  setFusedKernels(true);
  const d = { value: await maxAbs(tf.sub(a.value, b.value)), grads: [] as number[], scale: await maxAbs(b.value) };
  for (let i = 0; i < a.grads.length; i++) {
    d.grads.push(await maxAbs(tf.sub(a.grads[i], b.grads[i])));
    d.scale = Math.max(d.scale, await maxAbs(b.grads[i]));
  }
  return d;
}

/** Runs `fn` while tfjs's WebGPU backend, dispatching one of our programs
 * (shader keys mcckd_*), reads `limit` as the device's
 * maxComputeWorkgroupsPerDimension: the only limit its dispatch folding
 * reads. tfjs's own programs (the sums of the gradient) see the device as it
 * is: their 2-D grids may not fold. */
async function withDispatchLimit<T>(limit: number, fn: () => Promise<T>): Promise<T> {
  type Program = { shaderKey?: string; dispatch?: number[] };
  const backend = tf.backend() as unknown as {
    device: { limits: GPUSupportedLimits };
    runWebGPUProgram: (program: Program, ...rest: unknown[]) => unknown;
  };
  const { device } = backend;
  const real = device.limits;
  const lowered = new Proxy(real, {
    get: (t, k) => (k === 'maxComputeWorkgroupsPerDimension' ? limit : (Reflect.get(t, k) as unknown)),
  });
  const run = backend.runWebGPUProgram;
  let folded = 0;
  backend.runWebGPUProgram = function (this: unknown, program: Program, ...rest: unknown[]) {
    if (!program.shaderKey?.startsWith('mcckd_')) return run.call(this, program, ...rest);
    Object.defineProperty(device, 'limits', { value: lowered, configurable: true });
    try {
      return run.call(this, program, ...rest);
    } finally {
      Object.defineProperty(device, 'limits', { value: real, configurable: true });
      if ((program.dispatch ?? []).filter((d) => d > 1).length > 1) folded++;
    }
  };
  try {
    const r = await fn();
    // the fused forward and backward both ran on a folded grid
    if (folded < 2) throw new Error(`only ${folded} of our dispatches were folded under the limit ${limit}`);
    return r;
  } finally {
    backend.runWebGPUProgram = run;
  }
}

/** Fused LayerNorm of [rows, cols] on the GPU, value and the gradients of
 * sum(out * w) for x, gamma and beta, against the same computed on the host. */
async function manyRowsLayerNorm(rows: number, cols: number): Promise<Diff> {
  const eps = 1e-5;
  const [x, g, b] = [rand([rows, cols], 2), tf.add(1, rand([cols], 0.1)), rand([cols], 0.1)];
  const w = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) + 0.5);
  setFusedKernels(true);
  const { value, grads } = tf.valueAndGrads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
    tf.sum(tf.mul(layerNorm(xx, gg, bb, eps), tf.tensor2d(w, [rows, cols]))),
  )([x, g, b]);
  const out = tf.tidy(() => layerNorm(x, g, b, eps));
  const [xs, gs, bs] = await Promise.all([x.data(), g.data(), b.data()]);
  const [ys, dx, dg, db] = await Promise.all([out.data(), ...grads.map((t) => t.data())]);
  value.dispose();
  // the reference, row by row: y = xhat g + b; dxhat = dy g;
  // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)); dg = sum dy xhat; db = sum dy
  const d: Diff = { value: 0, grads: [0, 0, 0], scale: 0 };
  const refDg = new Float64Array(cols);
  const refDb = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += xs[o + c] / cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (xs[o + c] - mean) ** 2 / cols;
    const rstd = 1 / Math.sqrt(v + eps);
    let ma = 0;
    let mb = 0;
    for (let c = 0; c < cols; c++) {
      const xh = (xs[o + c] - mean) * rstd;
      const dxh = w[o + c] * gs[c];
      ma += dxh / cols;
      mb += (dxh * xh) / cols;
      refDg[c] += w[o + c] * xh;
      refDb[c] += w[o + c];
      const y = xh * gs[c] + bs[c];
      d.value = Math.max(d.value, Math.abs(ys[o + c] - y));
      d.scale = Math.max(d.scale, Math.abs(y));
    }
    for (let c = 0; c < cols; c++) {
      const xh = (xs[o + c] - mean) * rstd;
      const ref = rstd * (w[o + c] * gs[c] - ma - xh * mb);
      d.grads[0] = Math.max(d.grads[0], Math.abs(dx[o + c] - ref));
      d.scale = Math.max(d.scale, Math.abs(ref));
    }
  }
  // gamma's and beta's gradients sum thousands of rows (each ~1e4): their float32
  // sums are compared relative to their size, on the same scale as dx
  for (let c = 0; c < cols; c++) {
    d.grads[1] = Math.max(d.grads[1], Math.abs(dg[c] - refDg[c]) / Math.max(1, Math.abs(refDg[c])));
    d.grads[2] = Math.max(d.grads[2], Math.abs(db[c] - refDb[c]) / Math.max(1, Math.abs(refDb[c])));
  }
  tf.dispose([x, g, b, out, ...grads]);
  return d;
}

async function main(): Promise<void> {
  const info = await setupBackend('webgpu');
  const out = { backend: info.backend, gpuErrors: watchGpuErrors() } as Report;

  // LayerNorm on [3, 5, 96] rows (more columns than a workgroup has threads)
  out.layerNorm = await compare(
    () => (x, g, b) => layerNorm(x, g, b, 1e-5),
    [rand([3, 5, 96], 2), tf.add(1, rand([96], 0.1)), rand([96], 0.1)],
    [0, 1, 2],
  );
  // more rows than one dispatch dimension holds: tfjs folds the grid into
  // x*y (rows > limit) or x*y*z (rows > limit^2) and rowIndex() unfolds it.
  // At the real limit (65,535) that is 66,000 workgroups a dispatch, which
  // SwiftShader runs on the CPU for tens of seconds; the limit tfjs reads is
  // lowered instead (64, then 32), so 3,000 rows fold the same two ways. The
  // fused kernels run once (value and gradients) against LayerNorm in plain JS.
  out.layerNormFolded = [
    await withDispatchLimit(64, () => manyRowsLayerNorm(3000, 4)), // [55, 55, 1]
    await withDispatchLimit(32, () => manyRowsLayerNorm(3000, 4)), // [15, 15, 15]
  ];
  // causal softmax, training shape (t = K) and a decoding step with a cache (t = 1, past = 6)
  const unfusedSoftmax = (att: tf.Tensor, scale: number, past: number): tf.Tensor => {
    const t = att.shape[2]!;
    const keep = tf.linalg.bandPart(tf.ones([t, past + t]), -1, past);
    return tf.softmax(tf.add(tf.mul(att, scale), tf.mul(tf.sub(1, keep), -1e9)));
  };
  out.causalSoftmax = await (async () => {
    const results: Diff[] = [];
    for (const [shape, past] of [
      [[2, 2, 7, 7], 0],
      [[2, 2, 1, 7], 6],
      [[1, 1, 70, 70], 0],
    ] as [number[], number][]) {
      const att = rand(shape, 3);
      const f =
        (fused: boolean) =>
        (a: tf.Tensor): tf.Tensor =>
          fused ? fusedCausalSoftmax(a as tf.Tensor4D, 0.3, past) : unfusedSoftmax(a, 0.3, past);
      results.push(await compare(f, [att], [0]));
    }
    return results;
  })();
  out.crossEntropy = await compare(
    () => (z, t) => sparseCrossEntropy(z as tf.Tensor2D, t as tf.Tensor1D),
    [rand([9, 300], 4), tf.tensor1d([0, 5, 299, 17, 17, 3, 100, 250, 1], 'int32')],
    [0],
  );
  out.gelu = await compare(() => (x) => gelu(x), [rand([4, 130], 3)], [0]);

  // AdamW and the squared norm: fused vs the optimizer's unfused arithmetic
  {
    const p = rand([40, 33]),
      m = rand([40, 33], 0.01),
      v = tf.abs(rand([40, 33], 0.001)),
      g = rand([40, 33], 0.5),
      scale = tf.tensor1d([0.7]); // [1], as the optimizer passes it
    const s = { lr: 3e-3, b1: 0.9, b2: 0.95, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.95 ** 3, eps: 1e-8, decay: 1 - 3e-3 * 0.1 };
    const [p2, m2, v2] = fusedAdamW(p, m, v, g, scale, s);
    const gs = tf.mul(g, scale);
    const mr = tf.add(tf.mul(m, s.b1), tf.mul(gs, 1 - s.b1));
    const vr = tf.add(tf.mul(v, s.b2), tf.mul(tf.square(gs), 1 - s.b2));
    const pr = tf.sub(tf.mul(p, s.decay), tf.mul(tf.div(tf.div(mr, s.bc1), tf.add(tf.sqrt(tf.div(vr, s.bc2)), s.eps)), s.lr));
    out.adamW = {
      p: await maxAbs(tf.sub(p2, pr)),
      m: await maxAbs(tf.sub(m2, mr)),
      v: await maxAbs(tf.sub(v2, vr)),
      update: await maxAbs(tf.sub(p, pr)),
    };
    const nanG = tf.where(tf.less(g, 0), tf.fill(g.shape, NaN), g);
    const [p3, m3, v3] = fusedAdamW(p, m, v, nanG, tf.tensor1d([0]), s);
    // a GPU max may pass over NaN: count the non-finite outputs as well
    const nonFinite = async (x: tf.Tensor): Promise<number> => (await tf.sum(tf.cast(tf.logicalNot(tf.isFinite(x)), 'float32')).data())[0];
    out.adamWSkip = {
      p: await maxAbs(tf.sub(p3, p)),
      m: await maxAbs(tf.sub(m3, m)),
      v: await maxAbs(tf.sub(v3, v)),
      nonFinite: (await nonFinite(p3)) + (await nonFinite(m3)) + (await nonFinite(v3)),
    };
    // 9 tensors (two dispatches: 7 + 2), one larger than a workgroup's stride many times over
    const many = [rand([70000]), ...Array.from({ length: 8 }, (_, i) => rand([3 + i, 5]))];
    const ss = (await tf.addN(fusedSumSquareParts(many)).data())[0];
    // added one by one: tf.addN of 9 inputs binds 10 storage buffers, over
    // WebGPU's default 8 a stage, and the invalid pipeline writes nothing
    const ref = (
      await many
        .map((x) => tf.sum(tf.square(x)))
        .reduce((a, b) => tf.add(a, b))
        .data()
    )[0];
    out.sumSquares = { fused: ss, unfused: ref };
  }

  // Training: the same tiny run with and without the fused kernels, and on
  // cpu; the last step runs under tf.profile to count dispatches. SwiftShader
  // takes seconds a step, so the runs are short: the unfused one (checked
  // against the fused one) is the shortest.
  const STEPS = 3;
  const make = (backend: 'webgpu' | 'cpu'): Promise<Trainer> =>
    Trainer.create({
      groups: toyGroups(6),
      trainConfig: tinyConfig({ steps: STEPS, logEvery: 1, backend }),
      datasetFingerprint: 'x',
      modelOverrides: MODEL,
    });
  const train = async (backend: 'webgpu' | 'cpu', fused: boolean, steps = STEPS): Promise<Train> => {
    await setBackend(backend);
    setFusedKernels(fused);
    const t = await make(backend);
    const losses: number[] = [];
    let before = 0;
    let dispatches = 0;
    for (let i = 0; i < steps; i++) {
      if (i === 1) before = tf.memory().numTensors; // after the first step's one-time tensors
      if (i < steps - 1) losses.push((await t.trainStep())!.loss);
      else {
        const prof = await tf.profile(async () => void losses.push((await t.trainStep())!.loss));
        dispatches = prof.kernels.length;
      }
    }
    const growth = tf.memory().numTensors - before;
    t.dispose();
    return { losses, growth, dispatches };
  };
  out.train = { fused: await train('webgpu', true), unfused: await train('webgpu', false, 2), cpu: await train('cpu', false) };

  // Resume on WebGPU: one step, snapshot, a new trainer from it, one more,
  // against the uninterrupted fused run above (the same settings).
  {
    await setBackend('webgpu');
    setFusedKernels(true);
    const first = await make('webgpu');
    const resumed: number[] = [];
    resumed.push((await first.trainStep())!.loss);
    const snap = await first.snapshot();
    first.dispose();
    const second = await Trainer.restore(snap, toyGroups(6));
    resumed.push((await second.trainStep())!.loss);
    second.dispose();
    out.resume = { straight: out.train.fused.losses.slice(0, resumed.length), resumed };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
