// A student's weights for inference: evaluation, consistency, scoring and
// generation read only these (no optimizer, no data order). The CLI's eval,
// score and generate load one; a Trainer evaluates through one that views its
// own variables.

import * as tf from '@tensorflow/tfjs-core';
import { checkLora, checkModelRanges, ConfigRangeError, loraShapes, paramShapes, type ModelConfig } from './config';
import {
  EVAL_BATCH,
  evaluateConsistency,
  evaluateGreedy,
  type ConsistencyOptions,
  type ConsistencyResult,
  type EvalModel,
} from './evaluate';
import { checkBaseDtype, createBaseVariables, type BaseDtype } from './base-dtype';
import { familyOf } from './arch';
import { gpuLimits } from './limits';
import { createVariables, type Params } from './model';
import type { BaseRef, TensorMap, TrainState } from './state';
import { Tokenizer, type StudentTokenizer } from './tokenizer';
import type { EvalItem, EvalSample, TaskType } from '../data/types';

/** A pretrained student: its config (src/hf studentConfig), its float32
 * weights under our table's names and its tokenizer. */
export interface PretrainedStudent {
  modelConfig: ModelConfig;
  weights: TensorMap;
  tokenizer: StudentTokenizer;
  base: BaseRef;
}

export interface EvalResult {
  accuracy: number;
  correct: number;
  total: number;
  samples: EvalSample[];
}

export interface EvaluateOptions {
  taskType: TaskType;
  limit?: number;
  maxNewTokens?: number;
  /** Questions decoded together with the KV cache (default EVAL_BATCH); 1 decodes one at a time. */
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Where the frozen tables of a pretrained student split (createVariables):
 * the device's per-binding limit on WebGPU, nowhere elsewhere. */
export const partBytesOf = (o: { tablePartBytes?: number }): number | undefined =>
  o.tablePartBytes ?? gpuLimits()?.maxStorageBufferBindingSize;

/** How a pretrained student's frozen base is held on the device. */
export interface BaseStorage {
  /** A frozen embedding or head larger than this is held in row blocks;
   * default: the GPU's per-binding limit (none off WebGPU). */
  tablePartBytes?: number;
  /** The frozen base's projections in f32 (default), or packed in f16 or
   * int8 (WebGPU only: base-dtype.ts). */
  baseDtype?: BaseDtype;
}

/** A frozen base's variables as `o` asks (its f16 / int8 projections need
 * the webgpu backend). */
function frozenBase(mc: ModelConfig, base: TensorMap, partBytes: number | undefined, dtype: BaseDtype): Params {
  if (dtype === 'f32') return createVariables(base, paramShapes(mc), false, { partBytes });
  checkBaseDtype(dtype, tf.getBackend());
  const limits = gpuLimits();
  return createBaseVariables(base, paramShapes(mc), familyOf(mc).weightLayout, dtype, {
    ...(partBytes !== undefined ? { partBytes } : {}),
    ...(limits ? { limits } : {}),
  });
}

/** Refuses an adapter that would turn every output into NaN: a LoRA setting
 * out of range (checkLora: an alpha of 1e300 scales B A past float32) or a
 * value that is not finite. Every adapter that reaches a model comes through
 * studentVariables, so a PEFT folder, a saved run and a resumed run are
 * checked alike; src/hf/peft checks a folder earlier, by its own names. */
function checkAdapter(mc: ModelConfig, adapter: TensorMap): void {
  checkLora(mc);
  for (const name of Object.keys(adapter)) {
    const i = adapter[name].data.findIndex((x) => !Number.isFinite(x));
    if (i >= 0)
      throw new ConfigRangeError(
        `adapter tensor "${name}" holds ${adapter[name].data[i]} at index ${i} (every value must be finite)`,
        name,
      );
  }
}

/** A pretrained student's variables: the base (frozen when an adapter
 * trains) and the adapter; `params` holds both for the forward. */
export function studentVariables(
  mc: ModelConfig,
  base: TensorMap,
  adapter: TensorMap | undefined,
  partBytes: number | undefined,
  baseDtype: BaseDtype = 'f32',
): { params: Params; trainable: Params } {
  if (!mc.lora) {
    // every weight trains: a table over the binding limit cannot (the plan says so first)
    const params = createVariables(base, paramShapes(mc));
    return { params, trainable: params };
  }
  if (!adapter) throw new Error('a LoRA run needs its adapter');
  checkAdapter(mc, adapter);
  const trainable = createVariables(adapter, loraShapes(mc));
  let params: Params;
  try {
    params = frozenBase(mc, base, partBytes, baseDtype);
  } catch (e) {
    for (const v of trainable.values()) v.dispose();
    throw e;
  }
  for (const [n, v] of trainable) params.set(n, v);
  return { params, trainable };
}

/** Refuses a base other than the one the run was trained on (by fingerprint),
 * and a run whose saved model settings disagree with the base's (see
 * baseModelConfig). */
export function checkBase(
  state: Pick<TrainState, 'base' | 'modelConfig'>,
  student: PretrainedStudent | undefined,
): asserts student is PretrainedStudent {
  if (!state.base) return;
  if (!student) throw new Error(`this run fine-tunes the pretrained model "${state.base.name}": give its folder to resume`);
  if (student.base.fingerprint !== state.base.fingerprint) {
    throw new Error(
      `this run was trained on "${state.base.name}" (weights ${state.base.fingerprint}), not on "${student.base.name}" (weights ${student.base.fingerprint}): give the same model folder`,
    );
  }
  checkBaseSettings(state.modelConfig, student);
}

/** A run on a pretrained base runs with the base's settings: the run never
 * changes them, so a saved setting that differs (an edited ropeTheta would
 * silently change every log-prob) is refused by name. A setting the file
 * lacks (written before the field existed) is the base's. */
export function checkBaseSettings(saved: ModelConfig, student: PretrainedStudent): void {
  const base = student.modelConfig as unknown as Record<string, unknown>;
  const run = saved as unknown as Record<string, unknown>;
  for (const k of Object.keys(run)) {
    if (k === 'lora' || run[k] === undefined) continue;
    const a = JSON.stringify(run[k]);
    const b = JSON.stringify(base[k]);
    if (a !== b)
      throw new Error(
        `the run's saved model setting ${k} is ${a.slice(0, 60)}, but its base "${student.base.name}" has ${(b ?? 'none').slice(0, 60)}: ` +
          "a run keeps its base's settings (the checkpoint was edited or belongs to another model)",
      );
  }
}

/** The model settings of a run on `student` (after checkBase): the base's,
 * with the run's LoRA. */
export function baseModelConfig(state: Pick<TrainState, 'modelConfig'>, student: PretrainedStudent): ModelConfig {
  const { lora } = state.modelConfig;
  return lora ? { ...student.modelConfig, lora } : { ...student.modelConfig };
}

export class StudentModel implements EvalModel {
  private disposed = false;

  private constructor(
    readonly params: Params,
    readonly modelConfig: ModelConfig,
    readonly tokenizer: StudentTokenizer,
    readonly promptTemplate: string | undefined,
    /** false: a view over variables another object owns (dispose leaves them). */
    private readonly owns: boolean,
  ) {}

  /** A pretrained student as it is: frozen weights. */
  static fromStudent(student: PretrainedStudent, o: BaseStorage = {}): StudentModel {
    const mc = { ...student.modelConfig };
    checkModelRanges(mc);
    const params = frozenBase(mc, student.weights, partBytesOf(o), o.baseDtype ?? 'f32');
    return new StudentModel(params, mc, student.tokenizer, undefined, true);
  }

  /** A saved run's weights (its base's too, for a run on a pretrained model;
   * a LoRA snapshot holds only the adapter), frozen, without its optimizer. */
  static fromState(state: TrainState, student?: PretrainedStudent, o: BaseStorage = {}): StudentModel {
    const mc = state.modelConfig;
    const template = state.trainConfig.promptTemplate;
    if (!state.base) {
      const params = createVariables(state.params, paramShapes(mc), false);
      return new StudentModel(params, mc, Tokenizer.fromJSON(state.tokenizer), template, true);
    }
    checkBase(state, student);
    const bmc = baseModelConfig(state, student);
    const { params } = studentVariables(
      bmc,
      bmc.lora ? student.weights : state.params,
      bmc.lora ? state.params : undefined,
      partBytesOf(o),
      o.baseDtype,
    );
    return new StudentModel(params, bmc, student.tokenizer, template, true);
  }

  /** Another object's variables read as a model (the Trainer's own). */
  static view(params: Params, modelConfig: ModelConfig, tokenizer: StudentTokenizer, promptTemplate?: string): StudentModel {
    return new StudentModel(params, modelConfig, tokenizer, promptTemplate, false);
  }

  /** The weights, for scoring and tests (read only by convention). */
  get variables(): ReadonlyMap<string, tf.Variable> {
    return this.params;
  }

  /** Greedy accuracy; questions decoded in batches with the KV cache
   * (evaluate.ts), whose tokens equal one-at-a-time decoding on the cpu backend. */
  evaluate(items: EvalItem[], o: EvaluateOptions): Promise<EvalResult> {
    return evaluateGreedy(this, items, { ...o, batchSize: o.batchSize ?? EVAL_BATCH });
  }

  /** Consistency metrics of M sampled rationales per question (agreement,
   * majority-vote, greedy and sample accuracy, answer KL; see consistency.ts). */
  consistency(items: EvalItem[], o: ConsistencyOptions): Promise<ConsistencyResult> {
    return evaluateConsistency(this, items, o);
  }

  /** Frees the weights it owns; safe to call twice, and after a lost GPU. */
  dispose(): void {
    if (this.disposed || !this.owns) return;
    this.disposed = true;
    try {
      for (const v of this.params.values()) v.dispose();
    } catch {
      // the device is gone with its buffers
    }
  }
}
