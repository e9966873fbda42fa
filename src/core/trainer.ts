// The Trainer: owns the tokenizer, the student's variables, AdamW, the seeded
// data order and the metrics; one trainStep() is one optimizer step, run in a
// single tf.tidy. The CLI and the browser worker drive it the same way.

import * as tf from '@tensorflow/tfjs-core';
import { checkModelRanges, withLora, modelConfigFor, paramShapes, type LoraConfig, type ModelConfig, type TrainConfig } from './config';
import type { BaseRef, MetricPoint, TensorMap, TrainState } from './state';
import type { EvalItem, QuestionGroup } from '../data/types';
import { formatPrompt } from '../data/template';
import { Tokenizer, type StudentTokenizer } from './tokenizer';
import { createVariables, forward, forwardHidden, headParts, initLora, initParams, readVariables, type Params } from './model';
import { headCrossEntropy, headLogitsRows } from './headLoss';
import { headChunk } from './plan';
import { AdamW } from './optimizer';
import { extendSchedule, learningRate } from './schedule';
import { mcckdLoss, mcckdLossFrom } from './losses';
import { buildBatch, type EncodedGroup, type EncodedRationale, type HostBatch } from './batch';
import type { ConsistencyOptions, ConsistencyResult } from './evaluate';
import {
  baseModelConfig,
  checkBase,
  partBytesOf,
  StudentModel,
  studentVariables,
  type BaseStorage,
  type EvalResult,
  type EvaluateOptions,
  type PretrainedStudent,
} from './inference';
import { Rng } from '../shared/rng';
import { nextPicks } from './picks';
import type { BaseDtype } from './base-dtype';

export type { PretrainedStudent } from './inference';

export interface CreateOptions {
  groups: QuestionGroup[];
  trainConfig: TrainConfig;
  datasetFingerprint: string;
  /** Use this tokenizer instead of training one (Tokenizer.toJSON()). */
  tokenizer?: unknown;
  modelOverrides?: Partial<ModelConfig>;
  /** Start from a pretrained model instead of random weights. */
  student?: PretrainedStudent;
  /** Train a LoRA adapter (base frozen) instead of every weight. */
  lora?: LoraConfig;
  /** A frozen embedding or head larger than this is held in row blocks;
   * default: the GPU's per-binding limit (none off WebGPU). */
  tablePartBytes?: number;
  /** A LoRA run's frozen base: f32 (default), or packed f16 / int8 on WebGPU. */
  baseDtype?: BaseDtype;
}

/** The loss or its gradient became NaN or infinite: the run stops. The
 * weights in memory are those from before the bad step (AdamW skipped it)
 * and nothing is saved after it, so the last checkpoints stay good. */
export class DivergedError extends Error {
  override readonly name = 'DivergedError';
}

/** Whether every value of every tensor is finite. */
function allFinite(map: TensorMap): boolean {
  for (const t of Object.values(map)) for (const x of t.data) if (!Number.isFinite(x)) return false;
  return true;
}

/** Seed offsets keep weight init and data order independent streams. */
export const DATA_SEED_SALT = 0x5bd1e995;

export class Trainer {
  readonly modelConfig: ModelConfig;
  /** The settings; only extend() replaces them (a finished run trained further). */
  private config: TrainConfig;
  get trainConfig(): TrainConfig {
    return this.config;
  }
  readonly tokenizer: StudentTokenizer;
  /** The pretrained base, or undefined for a from-scratch student. */
  readonly base?: BaseRef;
  readonly datasetFingerprint: string;
  /** Rationales and questions left out because they do not fit blockSize. */
  readonly skipped: { rationales: number; groups: number };
  readonly metrics: MetricPoint[];
  private readonly params: Params; // every weight the forward reads
  private readonly trainable: Params; // what AdamW updates: the adapter of a LoRA run, else params
  private readonly vars: tf.Variable[]; // trainable in a fixed order, for variableGrads
  private disposed = false; // dispose() ran (it may be called again)
  private readonly headTrains: boolean; // whether the output head is among the trainable variables
  private readonly opt: AdamW;
  private readonly data: EncodedGroup[];
  /** Rationales per question (data order's input; the data never changes). */
  private readonly sizes: number[];
  private rng: Rng;
  private cursor: TrainState['cursor'];
  private sinceLog = { tokens: 0, t0: performance.now() };
  /** The last step known to be finite (checked on logging steps and saves). */
  private goodStep: number;
  private readonly timeOffset: number;
  private readonly t0 = performance.now();
  /** The weights read as a model: what evaluation (and the classroom) use. */
  readonly model: StudentModel;

  private constructor(
    s: Omit<TrainState, 'params' | 'optimizer' | 'format' | 'step' | 'tokenizer'> & {
      params: Params;
      trainable: Params;
      opt: AdamW;
      tokenizer: StudentTokenizer;
    },
    groups: QuestionGroup[],
  ) {
    this.modelConfig = s.modelConfig;
    this.config = s.trainConfig;
    this.tokenizer = s.tokenizer;
    if (s.base) this.base = { ...s.base };
    this.datasetFingerprint = s.datasetFingerprint;
    this.params = s.params;
    this.model = StudentModel.view(s.params, s.modelConfig, s.tokenizer, s.trainConfig.promptTemplate);
    this.trainable = s.trainable;
    this.vars = [...s.trainable.values()];
    const head = headParts(s.params, s.modelConfig);
    this.headTrains = head.parts.length === 1 && this.vars.includes(head.parts[0] as tf.Variable);
    this.opt = s.opt;
    this.metrics = s.metrics.slice();
    this.timeOffset = s.metrics.length ? s.metrics[s.metrics.length - 1].time : 0;
    this.goodStep = s.opt.step;
    const enc = encodeGroups(this.tokenizer, groups, this.modelConfig.blockSize, this.trainConfig.k, this.trainConfig.promptTemplate);
    this.data = enc.groups;
    this.sizes = enc.groups.map((g) => g.rationales.length);
    this.skipped = enc.skipped;
    this.rng = Rng.fromState(s.rngState);
    const valid = s.cursor.order.length === this.data.length && s.cursor.order.every((i) => i >= 0 && i < this.data.length);
    this.cursor = valid
      ? { ...s.cursor, order: s.cursor.order.slice() }
      : { epoch: 0, position: 0, order: this.rng.shuffle(this.data.map((_, i) => i)) };
  }

  static async create(o: CreateOptions): Promise<Trainer> {
    assertGradients();
    const tc = { ...o.trainConfig };
    const rng = new Rng(tc.seed ^ DATA_SEED_SALT);
    const fresh = {
      trainConfig: tc,
      datasetFingerprint: o.datasetFingerprint,
      rngState: rng.state(),
      cursor: { epoch: 0, position: 0, order: [] },
      metrics: [],
    };
    if (o.student) {
      const mc = withLora(o.student.modelConfig, o.lora);
      checkModelRanges(mc);
      const { params, trainable } = studentVariables(
        mc,
        o.student.weights,
        mc.lora ? initLora(mc, tc.seed) : undefined,
        partBytesOf(o),
        o.baseDtype,
      );
      return new Trainer(
        {
          ...fresh,
          modelConfig: mc,
          tokenizer: o.student.tokenizer,
          base: o.student.base,
          params,
          trainable,
          opt: new AdamW(trainable, tc),
        },
        o.groups,
      );
    }
    const tokenizer = o.tokenizer
      ? Tokenizer.fromJSON(o.tokenizer)
      : Tokenizer.train(trainingTexts(o.groups, tc.promptTemplate), tc.vocabSize);
    const mc = modelConfigFor(tc.preset, tokenizer.vocabSize, o.modelOverrides);
    const params = createVariables(initParams(mc, tc.seed), paramShapes(mc));
    return new Trainer({ ...fresh, modelConfig: mc, tokenizer, params, trainable: params, opt: new AdamW(params, tc) }, o.groups);
  }

  /** Continues a run from its snapshot. A run on a pretrained base needs the
   * same base again (checked by fingerprint): a LoRA snapshot holds only the
   * adapter, and the tokenizer is the base's. */
  static async restore(state: TrainState, groups: QuestionGroup[], student?: PretrainedStudent, o: BaseStorage = {}): Promise<Trainer> {
    let built: { params: Params; trainable: Params; tokenizer: StudentTokenizer; modelConfig: ModelConfig };
    if (state.base) {
      checkBase(state, student);
      const mc = baseModelConfig(state, student); // the base's settings, not the file's copy
      built = {
        ...studentVariables(mc, mc.lora ? student.weights : state.params, mc.lora ? state.params : undefined, partBytesOf(o), o.baseDtype),
        tokenizer: student.tokenizer,
        modelConfig: mc,
      };
    } else {
      const params = createVariables(state.params, paramShapes(state.modelConfig));
      built = { params, trainable: params, tokenizer: Tokenizer.fromJSON(state.tokenizer), modelConfig: state.modelConfig };
    }
    const opt = new AdamW(
      built.trainable,
      state.trainConfig,
      state.optimizer.m && Object.keys(state.optimizer.m).length ? state.optimizer : undefined,
    );
    opt.step = state.optimizer.step ?? state.step;
    return new Trainer({ ...state, ...built, opt }, groups);
  }

  get step(): number {
    return this.opt.step;
  }
  get totalSteps(): number {
    return this.trainConfig.steps;
  }
  /** Fractional epochs over the question groups so far. */
  get epoch(): number {
    return this.cursor.epoch + (this.cursor.order.length ? this.cursor.position / this.cursor.order.length : 0);
  }
  get trainGroups(): number {
    return this.data.length;
  }

  /** The next B questions in the seeded order, each with two distinct
   * rationales drawn at random (one, when the question has one). */
  private nextPicks(): { a: EncodedRationale; b: EncodedRationale | null }[] {
    return nextPicks(this.sizes, this.cursor, this.rng, this.trainConfig.batchSize).map(({ group, a, b }) => {
      const rs = this.data[group].rationales;
      return { a: rs[a], b: b === null ? null : rs[b] };
    });
  }

  private batch(picks: { a: EncodedRationale; b: EncodedRationale | null }[]): HostBatch {
    return buildBatch(picks, { blockSize: this.modelConfig.blockSize, padId: this.tokenizer.padId });
  }

  /** Loss of a batch on the current weights, without a step (tests, bench).
   * A small vocabulary (our from-scratch student) takes the whole logits
   * (and the fused cross-entropy on WebGPU); a large one (a pretrained
   * student's) the chunked head, which never holds [R*T, V]. */
  lossTensors(b: HostBatch, o: { headBudget?: number } = {}): { loss: tf.Scalar; ce: tf.Scalar; kl: tf.Scalar } {
    const { alpha, temperature } = this.trainConfig;
    const ids = tf.tensor2d(b.ids, [b.rows, b.time], 'int32');
    const inputs = lossInputs(b);
    const chunk = headChunk(this.modelConfig.vocabSize, b.rows * b.time, o.headBudget);
    const recompute = this.trainConfig.recompute === true;
    if (chunk === 0) return mcckdLoss(forward(this.params, this.modelConfig, ids, { recompute }).logits, inputs, alpha, temperature);
    const { hidden } = forwardHidden(this.params, this.modelConfig, ids, { recompute }); // [R*T, d]
    const w = headParts(this.params, this.modelConfig); // [V, d], in row blocks when split
    const spans = b.pairs * b.span > 0;
    return mcckdLossFrom(
      {
        perTok: headCrossEntropy(hidden, w, inputs.targets, chunk, { trainHead: this.headTrains }),
        za: spans ? headLogitsRows(hidden, w, inputs.klA) : null, // [P*S, V]
        zb: spans ? headLogitsRows(hidden, w, inputs.klB) : null,
      },
      inputs,
      alpha,
      temperature,
    );
  }

  /** Trains `more` steps past the run's end, in the same run: the total
   * raised, the learning rate's decay kept where it ended (schedule.ts). */
  extend(more: number): void {
    this.config = extendSchedule(this.config, more);
  }

  /** One optimizer step; returns the metrics on logging steps (the only
   * steps that read values back from the device). */
  async trainStep(): Promise<MetricPoint | undefined> {
    if (this.step >= this.totalSteps) throw new Error(`the run is complete (${this.totalSteps} steps)`);
    return this.stepOn(this.batch(this.nextPicks()));
  }

  /** One optimizer step on a given batch (the benchmark feeds fixed shapes).
   * The learning rate follows the schedule unless given. */
  async stepOn(b: HostBatch, o: { lr?: number; forceLog?: boolean } = {}): Promise<MetricPoint | undefined> {
    const lr = o.lr ?? learningRate(this.step, this.trainConfig);
    const out = tf.tidy(() => {
      let ce: tf.Scalar | undefined;
      let kl: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const l = this.lossTensors(b);
        ce = tf.keep(l.ce);
        kl = tf.keep(l.kl);
        return l.loss;
      }, this.vars);
      const named: tf.NamedTensorMap = {};
      for (const [n, v] of this.trainable) named[n] = grads[v.name];
      this.opt.apply(named, lr, value);
      return { loss: value, ce: ce!, kl: kl! };
    });
    this.sinceLog.tokens += b.tokens;
    const logNow = o.forceLog || this.step % this.trainConfig.logEvery === 0 || this.step === this.totalSteps;
    try {
      // the only read-back from the device: never between logging steps
      if (!logNow) return undefined;
      // one read-back for the logged values and the skipped-step count
      const [loss, ce, kl, skipped] = await Promise.all([out.loss.data(), out.ce.data(), out.kl.data(), this.opt.skipped.data()]);
      this.checkSkipped(skipped[0]);
      const now = performance.now();
      const m: MetricPoint = {
        step: this.step,
        loss: loss[0],
        ce: ce[0],
        kl: kl[0],
        lr,
        tokensPerSecond: this.sinceLog.tokens / Math.max(1e-6, (now - this.sinceLog.t0) / 1000),
        time: this.timeOffset + (now - this.t0),
      };
      this.sinceLog = { tokens: 0, t0: now };
      this.metrics.push(m);
      return m;
    } finally {
      out.loss.dispose();
      out.ce.dispose();
      out.kl.dispose();
    }
  }

  /** The variables, for the benchmark and tests (read only by convention). */
  get variables(): ReadonlyMap<string, tf.Variable> {
    return this.params;
  }

  /** What a checkpoint stores of the tokenizer: our BPE's JSON; null for a
   * pretrained student (its base's tokenizer.json goes with the base). */
  get tokenizerJSON(): unknown {
    return !this.base && this.tokenizer instanceof Tokenizer ? this.tokenizer.toJSON() : null;
  }

  /** The variables that train (the adapter of a LoRA run). */
  get trainableVariables(): ReadonlyMap<string, tf.Variable> {
    return this.trainable;
  }

  /** Throws DivergedError when a step since the last check was skipped for
   * a non-finite loss or gradient (one read-back). */
  private async assertFinite(): Promise<void> {
    this.checkSkipped(await this.opt.skippedSteps());
  }

  private checkSkipped(skipped: number): void {
    if (skipped === 0) {
      this.goodStep = this.step;
      return;
    }
    const { lr, warmupSteps } = this.trainConfig;
    throw new DivergedError(
      `training diverged: the loss or its gradient became NaN or infinite after step ${this.goodStep} ` +
        `(by step ${this.step}; peak learning rate ${lr}, warmup ${warmupSteps} steps). The weights are those of step ` +
        `${this.goodStep} and nothing was saved after it: lower the learning rate (or lengthen the warmup) and resume from the last checkpoint.`,
    );
  }

  /** The whole state, for a checkpoint. Refuses (DivergedError) a state
   * with a skipped step or a non-finite value: a save must never replace
   * a good checkpoint with a broken one. */
  async snapshot(): Promise<TrainState> {
    await this.assertFinite();
    const params = await readVariables(this.trainable);
    const optimizer = await this.opt.state();
    if (!allFinite(params) || !allFinite(optimizer.m) || !allFinite(optimizer.v)) {
      throw new DivergedError(`training diverged: the weights at step ${this.step} are not all finite; nothing was saved`);
    }
    return {
      format: 'mcckd-run/1',
      modelConfig: { ...this.modelConfig },
      trainConfig: { ...this.trainConfig },
      tokenizer: this.tokenizerJSON,
      ...(this.base ? { base: { ...this.base } } : {}),
      step: this.step,
      rngState: this.rng.state(),
      cursor: { ...this.cursor, order: this.cursor.order.slice() },
      datasetFingerprint: this.datasetFingerprint,
      params,
      optimizer,
      metrics: this.metrics.slice(),
    };
  }

  /** Greedy accuracy on `items` (StudentModel.evaluate). */
  evaluate(items: EvalItem[], o: EvaluateOptions): Promise<EvalResult> {
    return this.model.evaluate(items, o);
  }

  /** Consistency metrics of M sampled rationales per question (StudentModel.consistency). */
  consistency(items: EvalItem[], o: ConsistencyOptions): Promise<ConsistencyResult> {
    return this.model.consistency(items, o);
  }

  /** Frees the weights and the optimizer's moments. Safe to call twice, and
   * after a lost GPU (whose tensors cannot be freed: nothing is left to do),
   * so a caller's clean-up never hides the error that ended a run. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      for (const v of this.params.values()) v.dispose();
      this.opt.dispose();
    } catch {
      // the device is gone with its buffers
    }
  }
}

/** Gradients are registered by the entry point (src/node/gradients.ts in
 * Node, src/core/gradients-browser.ts in the worker); fail early and clearly. */
function assertGradients(): void {
  if (!tf.getGradient('BatchMatMul'))
    throw new Error(
      'tfjs gradients are not registered: import src/core/gradients-browser (bundled) or call registerNodeGradients() (Node)',
    );
}

export function lossInputs(b: HostBatch): Parameters<typeof mcckdLoss>[1] {
  return {
    targets: tf.tensor1d(b.targets, 'int32'),
    ceWeight: tf.tensor1d(b.ceWeight, 'float32'),
    klA: tf.tensor1d(b.klA, 'int32'),
    klB: tf.tensor1d(b.klB, 'int32'),
    klMask: tf.tensor2d(b.klMask, [b.pairs, b.span], 'float32'),
  };
}

export function* trainingTexts(groups: QuestionGroup[], template?: string): Generator<string> {
  for (const g of groups) {
    yield formatPrompt(g.question, template);
    for (const r of g.rationales) yield r.text;
  }
}

/** Tokens in the longest training example of `groups` that fits the model
 * (what sizes a step's activations in the memory plan). */
export function longestExample(tok: StudentTokenizer, groups: QuestionGroup[], blockSize: number, k: number, template?: string): number {
  let n = 1;
  for (const g of encodeGroups(tok, groups, blockSize, k, template).groups) for (const r of g.rationales) n = Math.max(n, r.ids.length - 1);
  return n;
}

/** Tokenizes every question with its first k rationales; drops what does
 * not fit the model's positions (counted, never truncated: a cut rationale
 * would lose its answer). */
export function encodeGroups(
  tok: StudentTokenizer,
  groups: QuestionGroup[],
  blockSize: number,
  k: number,
  template?: string,
): { groups: EncodedGroup[]; skipped: { rationales: number; groups: number } } {
  const out: EncodedGroup[] = [];
  const skipped = { rationales: 0, groups: 0 };
  for (const g of groups) {
    const prompt = formatPrompt(g.question, template);
    const rs: EncodedRationale[] = [];
    for (const r of g.rationales.slice(0, k)) {
      const e = tok.example(prompt, r);
      if (e.ids.length - 1 > blockSize || e.spanEnd === e.spanStart) {
        skipped.rationales++;
        continue;
      }
      rs.push(e);
    }
    if (rs.length) out.push({ id: g.id, rationales: rs });
    else skipped.groups++;
  }
  return { groups: out, skipped };
}

/** A run at step 0 whose LoRA starts from `adapter` instead of PEFT's init:
 * the state Trainer.restore builds on (fresh optimizer moments). */
export function adapterState(
  student: PretrainedStudent,
  adapter: { lora: LoraConfig; weights: TensorMap },
  trainConfig: TrainConfig,
  datasetFingerprint = '',
): TrainState {
  return {
    format: 'mcckd-run/1',
    modelConfig: withLora(student.modelConfig, adapter.lora),
    trainConfig,
    tokenizer: null,
    base: { ...student.base },
    step: 0,
    rngState: new Rng(trainConfig.seed ^ DATA_SEED_SALT).state(),
    cursor: { epoch: 0, position: 0, order: [] },
    datasetFingerprint,
    params: adapter.weights,
    optimizer: { step: 0, m: {}, v: {} },
    metrics: [],
  };
}
