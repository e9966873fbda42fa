// One run assembly for `mcckd train` and the worker: from curated data, a
// student (from scratch, a pretrained base with an optional LoRA or PEFT
// adapter, or a stored run to resume) and settings to a planned, created or
// restored Trainer; and the accuracy checks made while it trains. The hosts
// keep only what is theirs: reading files or the store, progress output,
// saving, cancellation and pause. Defaults that the page also needs live in
// run-settings.ts (no tfjs).

import { withLora, type LoraConfig, type ModelConfig, type TrainConfig } from './config';
import { describePlan, fusedOn } from './plan';
import { gpuLimits, type GpuLimits } from './limits';
import { adapterState, longestExample, Trainer, type PretrainedStudent } from './trainer';
import type { BaseStorage } from './inference';
import type { BaseDtype } from './base-dtype';
import type { StudentTokenizer } from './tokenizer';
import type { TensorMap, TrainState } from './state';
import type { EvalItem, QuestionGroup, TaskType } from '../data/types';
import type { AccuracyCheck, AccuracyPoint } from './run-settings';
import { accuracyEvery } from './run-settings';

/** The curated data a run trains on and its fingerprint. */
export interface RunData {
  groups: QuestionGroup[];
  fingerprint: string;
}

/** A pretrained student for a new run: LoRA on it (undefined: every weight
 * trains), or an adapter to start the LoRA from (its setting wins). */
export interface StudentChoice {
  student: PretrainedStudent;
  lora?: LoraConfig;
  adapter?: { lora: LoraConfig; weights: TensorMap };
}

/** Where a run starts: fresh (from scratch without a student), or from a
 * stored state with the settings it goes on with (default: its own). */
export type RunStart =
  | { kind: 'new'; config: TrainConfig; student?: StudentChoice }
  | { kind: 'resume'; state: TrainState; config?: TrainConfig; student?: PretrainedStudent };

/** The run cannot start as asked (the hosts show the message as it is). */
export class RunRefusedError extends Error {
  override name = 'RunRefusedError';
}

export interface StepPlan {
  /** The basis (batch, tokens) and the planner's table. */
  text: string;
  fits: boolean;
  reasons: string[];
}

/** The memory plan of one step of `c` at the settings' batch over the
 * data's longest example (without data yet: 256 tokens), against this
 * device's limits (default: the active backend's). */
export function stepPlan(
  c: ModelConfig,
  tok: StudentTokenizer,
  groups: QuestionGroup[] | undefined,
  t: Pick<TrainConfig, 'batchSize' | 'k'> & Partial<TrainConfig>,
  o: { name?: string; limits?: GpuLimits; baseDtype?: BaseDtype; fused?: boolean } = {},
): StepPlan {
  const seqLen = groups?.length ? longestExample(tok, groups, c.blockSize, t.k, t.promptTemplate) : Math.min(256, c.blockSize);
  const p = describePlan(c, {
    rows: 2 * t.batchSize,
    seqLen,
    limits: o.limits ?? gpuLimits(),
    recompute: t.recompute === true,
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.baseDtype ? { baseDtype: o.baseDtype } : {}),
    ...(o.fused === false ? { fused: false } : {}),
  });
  const basis = `${t.batchSize} questions a step, ${seqLen} tokens (${groups?.length ? 'the longest example of the loaded data' : 'no data loaded yet: 256 assumed'})`;
  return { text: `${basis}\n${p.text}`, fits: p.fits, reasons: p.reasons };
}

/** The plan of a pretrained student's step, before it is on the device
 * (undefined from scratch: the presets fit). On WebGPU a step that does not
 * fit is refused: tfjs would compute wrong numbers there, silently. */
export function planRun(start: RunStart, data: RunData, backend: string, limits?: GpuLimits, baseDtype?: BaseDtype): StepPlan | undefined {
  const resumed = start.kind === 'resume';
  const student = resumed ? start.student : start.student?.student;
  if (!student) return undefined;
  const chosen = resumed ? undefined : start.student;
  const modelConfig = resumed ? start.state.modelConfig : withLora(student.modelConfig, chosen?.adapter?.lora ?? chosen?.lora);
  const config = resumed ? (start.config ?? start.state.trainConfig) : start.config;
  const plan = stepPlan(modelConfig, student.tokenizer, data.groups, config, {
    name: student.base.name,
    ...(limits ? { limits } : {}),
    ...(baseDtype ? { baseDtype } : {}),
    fused: fusedOn(backend),
  });
  if (backend === 'webgpu' && !plan.fits) {
    throw new RunRefusedError(
      `a training step of ${student.base.name} does not fit this GPU: ${plan.reasons.join('; ')}. ` +
        `Lower the batch size${config.recompute ? '' : ', turn on activation recomputation'} or pick a smaller model.`,
    );
  }
  return plan;
}

/** The Trainer of a start, created or restored on the current backend.
 * `notes` are for the user (data that differs from a resumed run's). */
export async function assembleTrainer(start: RunStart, data: RunData, o: BaseStorage = {}): Promise<{ trainer: Trainer; notes: string[] }> {
  if (start.kind === 'resume') {
    const { state } = start;
    const notes = state.datasetFingerprint === data.fingerprint ? [] : ['the data differs from the data the run was trained on'];
    const trainer = await Trainer.restore({ ...state, trainConfig: start.config ?? state.trainConfig }, data.groups, start.student, o);
    return { trainer, notes };
  }
  const s = start.student;
  // a PEFT adapter: the run starts from its tensors (a step-0 state)
  const trainer = s?.adapter
    ? await Trainer.restore(adapterState(s.student, s.adapter, start.config, data.fingerprint), data.groups, s.student, o)
    : await Trainer.create({
        groups: data.groups,
        trainConfig: start.config,
        datasetFingerprint: data.fingerprint,
        ...o,
        ...(s ? { student: s.student, ...(s.lora ? { lora: s.lora } : {}) } : {}),
      });
  return { trainer, notes: [] };
}

/** Held-out questions: an evaluation file's, or the teacher file's dev split. */
export interface HeldOut {
  items: EvalItem[];
  taskType: TaskType;
}

/** When and on what a run checks its accuracy while training. */
export interface AccuracySchedule {
  every: number;
  items: EvalItem[];
  taskType: TaskType;
  maxNewTokens: number;
}

/** The schedule of `check` for this trainer: 'off' when the cadence is 0
 * (or the check is absent), 'no-data' when there is nothing held out. The
 * first `questions` held-out questions, answered greedily with room for the
 * longest training rationale unless told otherwise. */
export function accuracySchedule(
  check: AccuracyCheck | undefined,
  heldOut: HeldOut | undefined,
  trainer: Trainer,
  groups: readonly QuestionGroup[],
): AccuracySchedule | 'off' | 'no-data' {
  if (!check) return 'off';
  const every = accuracyEvery(check.every, trainer.totalSteps);
  if (every <= 0) return 'off';
  if (!heldOut || heldOut.items.length === 0) return 'no-data';
  return {
    every,
    items: heldOut.items.slice(0, Math.max(1, check.questions)),
    taskType: heldOut.taskType,
    maxNewTokens: check.maxNewTokens ?? autoMaxNewTokens(trainer.tokenizer, groups, trainer.modelConfig.blockSize),
  };
}

/** One check at `step`, outside any training step's tf.tidy (evaluate
 * disposes what it makes); `signal` cancels it between decoding batches. */
export async function checkAccuracy(trainer: Trainer, s: AccuracySchedule, step: number, signal?: AbortSignal): Promise<AccuracyPoint> {
  const r = await trainer.evaluate(s.items, { taskType: s.taskType, maxNewTokens: s.maxNewTokens, ...(signal ? { signal } : {}) });
  return { step, accuracy: r.accuracy, correct: r.correct, total: r.total };
}

/** A generation long enough for the training rationales the student
 * imitates (the longest of a sample of them, plus room for the end token),
 * within the model's positions: a check with a shorter limit would cut
 * answers off, a longer one only wastes time on a rambling student. */
export function autoMaxNewTokens(
  tok: Pick<StudentTokenizer, 'encode'>,
  groups: readonly QuestionGroup[],
  blockSize: number,
  sample = 64,
): number {
  let longest = 0;
  for (const g of groups.slice(0, sample)) for (const r of g.rationales) longest = Math.max(longest, tok.encode(r.text).length);
  return Math.max(8, Math.min(blockSize, longest + 8));
}
