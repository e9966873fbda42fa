// The packed frozen base (src/core/fused/pack.ts, packed.ts,
// src/core/base-dtype.ts) on WebGPU itself (Dawn in Node): the packed
// projection and its input gradient against tfjs's float32 matMul, a tiny
// pretrained-layout student's log-probs (scripts/hf/make_tiny.py folders) with an f16 and an int8 base against
// its f32 base, and a few LoRA steps on each. Run in its own process by
// test/unit/packed-webgpu.test.ts:
//   tsx test/gpu/packed.check.ts DIR STEPS_CASE CASE...
// prints one JSON Report.
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '../../src/cli/setup';
import { watchGpuErrors } from './gpu-errors';
import { createBaseVariables, packedMatrices, projectionBytes, tableBytes, type BaseDtype } from '../../src/core/base-dtype';
import { familyOf } from '../../src/core/arch';
import { paramShapes } from '../../src/core/config';
import { studentConfig } from '../../src/hf/config';
import { readHfFolder } from '../../src/hf/folder';
import { nodeFolder } from '../../src/node/folder';
import { packF16, packInt8, unpackMatrix, type PackedMatrix } from '../../src/core/fused/pack';
import { packedGather, packedLinear, packedTable } from '../../src/core/fused/packed';
import { headCrossEntropy, headLogits } from '../../src/core/headLoss';
import { planMemory } from '../../src/core/plan';
import { StudentModel, type PretrainedStudent } from '../../src/core/inference';
import { scoreIds } from '../../src/core/score';
import { Trainer } from '../../src/core/trainer';
import { buildBatch } from '../../src/core/batch';
import { Rng } from '../../src/shared/rng';
import { toyGroups, tinyConfig, toyTokenizer } from '../unit/core-helpers';

/** max |a - b| and max |b| of one comparison. */
export interface Diff {
  diff: number;
  scale: number;
}
export interface OpCase {
  dtype: 'f16' | 'int8';
  shape: [number, number, number]; // N, in, out
  bias: boolean;
  /** Against tfjs's matMul of the very values the kernel unpacks (unpackMatrix). */
  y: Diff;
  dx: Diff;
  /** Against the float32 weight before packing: the packing's own error. */
  yVsF32: Diff;
  /** Gradients tf.grads returned: x's only (the weight is frozen). */
  gradShapes: number[][];
}
export interface StudentCase {
  name: string; // the make_tiny case
  /** |logprob(base dtype) - logprob(f32)| over the positions: mean and max. */
  logprobs: Record<'f16' | 'int8', { mean: number; max: number }>;
  /** Losses of LoRA steps from the same seed, per base dtype. */
  losses: Record<BaseDtype, number[]>;
  /** Base bytes on the device (tf.memory().numBytes of the frozen model). */
  baseBytes: Record<BaseDtype, number>;
  /** The planner's bytes for the projections (base-dtype.ts projectionBytes). */
  projectionBytes: Record<BaseDtype, number>;
  /** What a snapshot after the steps holds: the base's fingerprint and the
   * tensors saved (the adapter's), per base dtype. */
  snapshots: Record<BaseDtype, { fingerprint: string; params: string[] }>;
  /** Tensors left after each dtype's steps, against before (0: nothing leaks). */
  growth: Record<BaseDtype, number>;
  /** For the PyTorch reference on the same rounded weights: see RefInputs. */
  ref: RefInputs;
}
/** What the test needs to score the same weights in support/hf_ref.py:
 * our per-token log-probs of Report.ids per base dtype, and the matrices our
 * packed base packs as hf_ref.py's --round-names takes them (NAME:LAYOUT). */
export interface RefInputs {
  logprobs: Record<BaseDtype, (number | null)[]>;
  roundNames: string[];
}
/** The packed token table (base-dtype.ts packedTableName): one [V, d] table
 * packed as createBaseVariables packs an embedding, whole and in row blocks. */
export interface TableCase {
  dtype: 'f16' | 'int8';
  shape: [number, number]; // V, d
  /** Row blocks the split table was held in. */
  blocks: number;
  /** Packed gather (whole, and summed over the blocks) against tf.gather of
   * the unpacked values: exact, so diff 0. */
  gather: Diff;
  gatherBlocks: Diff;
  /** The chunked CE (headCrossEntropy, frozen head, chunks of 4 rows) and its
   * dh through the packed storage (whole and in blocks), and headLogits,
   * against the float32 head of the unpacked values. */
  ce: Diff;
  dh: Diff;
  ceBlocks: Diff;
  dhBlocks: Diff;
  logits: Diff;
}
/** Per student, beside StudentCase: what the packed tables change. */
export interface StudentTables {
  name: string;
  /** Whether the f16 / int8 model holds a float32 token table or head (it
   * must not: one packed storage for the embedding and a tied head). */
  float32Tables: Record<'f16' | 'int8', string[]>;
  /** The planner's device bytes of the tables (base-dtype.ts tableBytes). */
  tableBytes: Record<BaseDtype, number>;
  /** The planner's frozen weights (plan.ts planMemory, LoRA r 4): the
   * measured base bytes must move by exactly its difference. */
  plannedWeights: Record<BaseDtype, number>;
}
export interface Report {
  /** WebGPU errors nobody caught (gpu-errors.ts): the figures count only when empty. */
  gpuErrors: string[];
  backend: string;
  /** The token ids every student scores. */
  ids: number[];
  ops: OpCase[];
  students: StudentCase[];
  tables: TableCase[];
  studentTables: StudentTables[];
}

const rng = new Rng(5);
const randArray = (n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * s);

const diff = async (a: tf.Tensor, b: tf.Tensor): Promise<Diff> => {
  const [d, s] = await Promise.all([tf.max(tf.abs(tf.sub(a, b))).data(), tf.max(tf.abs(b)).data()]);
  return { diff: d[0], scale: s[0] };
};

/** One op case: x [N, in], W [out, in] (nn.Linear's layout) packed. */
async function opCase(dtype: 'f16' | 'int8', [n, cin, cout]: [number, number, number], bias: boolean): Promise<OpCase> {
  const wData = randArray(cout * cin, 0.5);
  const pm: PackedMatrix = dtype === 'f16' ? packF16(wData, [cout, cin], 'out-in') : packInt8(wData, [cout, cin], 'out-in');
  const r = tf.tidy(() => {
    const x = tf.tensor2d(randArray(n * cin), [n, cin]);
    const b = bias ? tf.tensor1d(randArray(cout, 0.3)) : undefined;
    const words = tf.tensor2d(pm.words, [pm.rows, pm.wordsPerRow], 'int32');
    const scale = pm.scales ? tf.tensor1d(pm.scales) : undefined;
    const w = { words, ...(scale ? { scale } : {}) };
    const wUsed = tf.tensor2d(unpackMatrix(pm), [cout, cin]);
    const wF32 = tf.tensor2d(wData, [cout, cin]);
    const dyW = tf.tensor2d(randArray(n * cout), [n, cout]); // the upstream gradient
    const ref = (m: tf.Tensor2D) => (xx: tf.Tensor2D) => {
      const y = tf.matMul(xx, m, false, true); // [N, in] @ [out, in]^T
      return b ? tf.add(y, b) : y;
    };
    const y = packedLinear(x, w, b);
    const grads = tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(packedLinear(xx as tf.Tensor2D, w, b), dyW)))([x]);
    const gRef = tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(ref(wUsed)(xx as tf.Tensor2D), dyW)))([x]);
    return { y, yRef: ref(wUsed)(x), yF32: ref(wF32)(x), dx: grads[0], dxRef: gRef[0], gradShapes: grads.map((g) => g.shape) };
  });
  const out: OpCase = {
    dtype,
    shape: [n, cin, cout],
    bias,
    y: await diff(r.y, r.yRef),
    dx: await diff(r.dx, r.dxRef),
    yVsF32: await diff(r.y, r.yF32),
    gradShapes: r.gradShapes,
  };
  tf.dispose(Object.values(r).filter((v): v is tf.Tensor => v instanceof tf.Tensor));
  return out;
}

/** One packed table case: V x d random rows, ids over the whole vocabulary. */
async function tableCase(dtype: 'f16' | 'int8', [v, d]: [number, number]): Promise<TableCase> {
  const data = randArray(v * d, 0.5);
  const name = 'model.embed_tokens.weight';
  const table: [string, number[]][] = [[name, [v, d]]];
  const weights = { [name]: { shape: [v, d], data } };
  const whole = createBaseVariables(weights, table, 'out-in', dtype);
  // blocks of 13 rows (a binding this wide): the last one partial
  const per = dtype === 'f16' ? 2 : 4;
  const split = createBaseVariables(weights, table, 'out-in', dtype, { partBytes: 13 * Math.ceil(d / per) * 4 });
  const used = unpackMatrix(dtype === 'f16' ? packF16(data, [v, d], 'out-in') : packInt8(data, [v, d], 'out-in'));
  const n = 12; // 3 chunks of 4: one chunk shape, compiled once
  const r = tf.tidy(() => {
    const ids = tf.tensor1d(
      Array.from({ length: n }, (_, i) => (i * 17 + 3) % v),
      'int32',
    );
    const wUsed = tf.tensor2d(used, [v, d]);
    const pw = packedTable(whole, name)!;
    const pb = packedTable(split, name)!;
    const h = tf.tensor2d(randArray(n * d), [n, d]);
    const targets = tf.tensor1d(
      Array.from({ length: n }, (_, i) => (i * 7 + 1) % v),
      'int32',
    );
    const dy = tf.tensor1d(randArray(n));
    // the CE and its dh: value and gradient of sum(ce * dy)
    const ce = (head: Parameters<typeof headCrossEntropy>[1]) => {
      const f = (hh: tf.Tensor) => headCrossEntropy(hh as tf.Tensor2D, head, targets, 4, { trainHead: false });
      return { value: f(h), dh: tf.grads((hh: tf.Tensor) => tf.sum(tf.mul(f(hh), dy)))([h])[0] };
    };
    const blocked = pb.reduce((acc, b, k) => tf.add(acc, packedGather(ids, b, d, k * 13)), tf.zeros([n, d]));
    return {
      blocks: pb.length,
      gather: [packedGather(ids, pw[0], d), tf.gather(wUsed, ids)],
      gatherBlocks: [blocked, tf.gather(wUsed, ids)],
      ce: ce(pw),
      ceBlocks: ce(pb),
      ceRef: ce([wUsed]),
      logits: [headLogits(h, pw), tf.matMul(h, wUsed, false, true)], // [n, d] @ [V, d]^T
    };
  });
  const out: TableCase = {
    dtype,
    shape: [v, d],
    blocks: r.blocks,
    gather: await diff(r.gather[0], r.gather[1]),
    gatherBlocks: await diff(r.gatherBlocks[0], r.gatherBlocks[1]),
    ce: await diff(r.ce.value, r.ceRef.value),
    dh: await diff(r.ce.dh, r.ceRef.dh),
    ceBlocks: await diff(r.ceBlocks.value, r.ceRef.value),
    dhBlocks: await diff(r.ceBlocks.dh, r.ceRef.dh),
    logits: await diff(r.logits[0], r.logits[1]),
  };
  tf.dispose([r.gather, r.gatherBlocks, r.ce.value, r.ce.dh, r.ceBlocks.value, r.ceBlocks.dh, r.ceRef.value, r.ceRef.dh, r.logits]);
  for (const x of [...whole.values(), ...split.values()]) x.dispose();
  return out;
}

/** What the packed tables change for one student: no float32 table left,
 * and the planner's count of the frozen weights per base dtype. */
async function studentTables(dir: string, name: string): Promise<StudentTables> {
  const s = await student(dir, name);
  const float32Tables = {} as StudentTables['float32Tables'];
  for (const d of ['f16', 'int8'] as const) {
    const m = StudentModel.fromStudent(s, { baseDtype: d });
    const names = [...m.variables.keys()] as string[];
    float32Tables[d] = names.filter((k) => /(wte|embed_tokens|lm_head)\.weight(@\d+)?$/.test(k));
    m.dispose();
  }
  const table = paramShapes(s.modelConfig);
  const lora = { ...s.modelConfig, lora: { rank: 4, alpha: 8, targets: [s.modelConfig.arch === 'gpt2' ? 'c_attn' : 'q_proj'] } };
  const plannedWeights = Object.fromEntries(
    DTYPES.map((d) => [d, planMemory({ config: lora, batch: { rows: 2, seqLen: 8 }, baseDtype: d }).weights]),
  ) as Record<BaseDtype, number>;
  return {
    name,
    float32Tables,
    tableBytes: Object.fromEntries(DTYPES.map((d) => [d, tableBytes(table, d)])) as Record<BaseDtype, number>,
    plannedWeights,
  };
}

const groups = toyGroups(6);
const tok = toyTokenizer(groups);

/** A tiny model folder of scripts/hf/make_tiny.py (exact Hugging Face
 * layout, N(0, 0.2) weights) as a student with the toy data's tokenizer
 * (its vocabulary fits every case's). */
async function student(dir: string, name: string): Promise<PretrainedStudent> {
  const f = await readHfFolder(nodeFolder(`${dir}/${name}`));
  return {
    modelConfig: studentConfig(f.spec),
    weights: f.weights,
    tokenizer: tok,
    base: { arch: f.spec.arch, name, fingerprint: `${name}-fingerprint` },
  };
}

const IDS = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % tok.vocabSize);
const DTYPES: BaseDtype[] = ['f32', 'f16', 'int8'];
const STEPS = 2; // SwiftShader takes seconds a step; the second shows the update of the first
const t0 = Date.now();
/** Progress on stderr (SwiftShader is slow: where the time goes). */
const log = (what: string): void => void process.stderr.write(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}\n`);

async function studentCase(dir: string, name: string, steps: number): Promise<StudentCase> {
  const s = await student(dir, name);
  const lp: Partial<Record<BaseDtype, (number | null)[]>> = {};
  const baseBytes = {} as Record<BaseDtype, number>;
  for (const d of DTYPES) {
    const before = tf.memory().numBytes;
    const m = StudentModel.fromStudent(s, { baseDtype: d });
    baseBytes[d] = tf.memory().numBytes - before;
    lp[d] = await scoreIds(m.variables as Parameters<typeof scoreIds>[0], m.modelConfig, IDS);
    m.dispose();
  }
  const stat = (d: 'f16' | 'int8') => {
    const xs = IDS.slice(1).map((_, i) => Math.abs((lp[d]![i + 1] as number) - (lp.f32![i + 1] as number)));
    return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, max: Math.max(...xs) };
  };
  const losses = {} as Record<BaseDtype, number[]>;
  const growth = {} as Record<BaseDtype, number>;
  const snapshots = {} as StudentCase['snapshots'];
  const all =
    s.modelConfig.arch === 'gpt2'
      ? ['c_attn', 'c_proj', 'c_fc']
      : ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
  for (const d of steps > 0 ? DTYPES : []) {
    const t = await Trainer.create({
      groups,
      trainConfig: tinyConfig({ steps, batchSize: 2, lr: 1e-2, warmupSteps: 0, backend: 'webgpu' }),
      datasetFingerprint: 'x',
      student: s,
      lora: { rank: 4, alpha: 8, targets: all },
      baseDtype: d,
    });
    losses[d] = [];
    // one fixed batch (2 questions, two rationales each), as the bench feeds
    // them: the same shapes every step, so SwiftShader compiles each program once
    const enc = (t as unknown as { data: { rationales: Parameters<typeof buildBatch>[0][number]['a'][] }[] }).data;
    const batch = buildBatch(
      enc.slice(0, 2).map((g) => ({ a: g.rationales[0], b: g.rationales[1] })),
      { blockSize: t.modelConfig.blockSize, padId: tok.padId },
    );
    let before = 0;
    for (let i = 0; i < steps; i++) {
      if (i === 1) before = tf.memory().numTensors; // after the first step's one-time tensors
      const m = await t.stepOn(batch, { forceLog: true });
      if (m) losses[d].push(m.loss);
    }
    growth[d] = tf.memory().numTensors - before;
    const snap = await t.snapshot();
    snapshots[d] = { fingerprint: snap.base?.fingerprint ?? '', params: Object.keys(snap.params).sort() };
    t.dispose();
  }
  log(`${name}: ${steps} steps`);
  const table = paramShapes(s.modelConfig);
  const layout = familyOf(s.modelConfig).weightLayout;
  const projections = Object.fromEntries(DTYPES.map((d) => [d, projectionBytes(table, layout, d)])) as Record<BaseDtype, number>;
  const ref = refInputs(s, lp as Record<BaseDtype, (number | null)[]>);
  return {
    name,
    logprobs: { f16: stat('f16'), int8: stat('int8') },
    losses,
    baseBytes,
    projectionBytes: projections,
    growth,
    snapshots,
    ref,
  };
}

/** The matrices the packed base packs (base-dtype.ts packedMatrices: the
 * one list the packing uses) with our log-probs per base dtype. */
function refInputs(s: PretrainedStudent, logprobs: Record<BaseDtype, (number | null)[]>): RefInputs {
  const packed = packedMatrices(paramShapes(s.modelConfig), familyOf(s.modelConfig).weightLayout);
  return { logprobs, roundNames: packed.map(([n, layout]) => `${n}:${layout}`) };
}

async function main(): Promise<void> {
  const [dir, stepsCase, ...cases] = process.argv.slice(2);
  const info = await setupBackend('webgpu');
  const out: Report = {
    backend: info.backend,
    gpuErrors: watchGpuErrors(),
    ids: IDS,
    ops: [],
    students: [],
    tables: [],
    studentTables: [],
  };
  // odd and even widths, partial tiles, more rows than one tile, with and without bias
  const shapes: [[number, number, number], boolean][] = [
    [[5, 37, 70], true],
    [[33, 64, 130], false],
    [[1, 97, 8], true],
  ];
  for (const dtype of ['f16', 'int8'] as const) for (const [shape, bias] of shapes) out.ops.push(await opCase(dtype, shape, bias));
  log('ops');
  // an odd width: a partial last word in both dtypes (one shape, so the
  // reference's tfjs programs compile once on SwiftShader)
  for (const dtype of ['f16', 'int8'] as const) out.tables.push(await tableCase(dtype, [40, 37]));
  log('tables');
  // every case scores; `stepsCase` also trains a few LoRA steps per base dtype
  for (const name of cases) out.students.push(await studentCase(dir, name, name === stepsCase ? STEPS : 0));
  for (const name of cases) out.studentTables.push(await studentTables(dir, name));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
