// Plain data that crosses the worker boundary (structured clone). No tfjs and
// no DOM here, and types only: the worker's API takes and returns these, and
// the UI imports them with `import type` (it holds no worker code).

import type { BackendInfo } from '../core/backend';
import type { BaseDtype } from '../core/base-dtype-choice';
import type { Arch } from '../core/arch';
import type { AccuracyCheck, AccuracyPoint } from '../core/run-settings';

export type { AccuracyCheck, AccuracyPoint };
import type { ModelConfig, TrainConfig } from '../core/config';
import type { StepProgress } from '../core/loop';
import type { MetricPoint } from '../core/state';
import type { CheckpointKind, RunStatus } from '../checkpoint/schema';
import type { DataReport } from '../data/report';
import type { EvalSample, QuestionGroup, TaskType } from '../data/types';
import type { ConsistencyResult } from '../core/evaluate';
import type { Report } from '../core/experiment-report';

export type { BackendInfo, DataReport, QuestionGroup, TrainConfig };

/** Where the data comes from: a File picked or dropped by the user (Files are
 * structured-cloneable and are read in the worker), or our own demo files. */
export type DataSource = { kind: 'file'; file: File } | { kind: 'demo' };

/** Loading progress of a file: bytes read out of `total` (0 when unknown). */
export interface LoadProgress {
  bytes: number;
  total: number;
}

export interface DataSummary {
  name: string;
  bytes: number;
  taskType: TaskType;
  report: DataReport;
  groups: number; // questions kept for training
  dev: number; // held-out questions (the dev split)
  fingerprint: string;
  /** One question with its kept rationales, for the report view. */
  sample?: QuestionGroup;
}

export interface EvalDataSummary {
  name: string;
  bytes: number;
  taskType: TaskType;
  report: DataReport;
  items: number;
}

/** A pretrained student the page picked, as the Student step shows it. */
export interface StudentSummary {
  name: string; // the folder's name
  arch: Arch;
  params: number;
  dtypes: string[]; // as stored on disk (float32 on the GPU)
  vocabSize: number;
  nLayer: number;
  hidden: number;
  nHead: number;
  nKvHead: number;
  blockSize: number; // positions the student trains with
  tied: boolean;
  fingerprint: string;
  eos: string; // the end token's text
  loraModules: string[]; // projections LoRA can adapt
  defaultTargets: string[];
  kept: boolean; // copied into this browser (resume after reload needs no new pick)
  /** A PEFT adapter picked to start the LoRA from (its folder's name). */
  adapter?: string;
  /** The memory plan against this GPU, when the backend can say. */
  plan?: { text: string; fits: boolean; reasons: string[] };
  /** How the plan holds the frozen base of a LoRA run (the page's "Base
   * weights on the GPU"); a full fine-tune keeps f32 whatever it says. */
  baseDtype: BaseDtype;
}

/** Which run an event belongs to: the ordinary run, the two runs of a
 * comparison, or the classroom demo. */
export type RunLabel = 'main' | 'mcckd' | 'baseline' | 'classroom';

// A run's status is core/run-status.ts's RunStatus, the same words the store
// records and the page shows (the page imports it from here, as a type).
export type { CheckpointKind, RunStatus };

export interface RunInfo {
  label: RunLabel;
  modelConfig: ModelConfig;
  trainConfig: TrainConfig;
  params: number;
  totalSteps: number;
  startStep: number;
  backend: BackendInfo;
  /** ms that Trainer.create/restore took (weights init, tokenizer). */
  createMs: number;
  /** Metrics logged before this session (a resumed run), for the charts. */
  history: MetricPoint[];
  /** The stored run's id, when checkpoints are being saved. */
  runId?: string;
  /** Accuracy checks made earlier on this model in this session (kept in
   * the worker's memory only, not with the stored run). */
  accuracyHistory?: AccuracyPoint[];
  /** How a pretrained student's base is held (absent from scratch); with a
   * LoRA, its frozen projections (core/base-dtype.ts), else f32. */
  baseDtype?: BaseDtype;
}

interface AccuracyEvent extends AccuracyPoint {
  type: 'accuracy';
  label: RunLabel;
  source: 'eval-file' | 'dev-split';
}

interface StepEvent extends StepProgress {
  type: 'step';
  label: RunLabel;
}

/** The classroom view: the student's answer distributions after two
 * different rationales of one question (core/answer-distributions.ts). */
export interface DistEvent {
  type: 'dist';
  label: RunLabel;
  step: number;
  question: string;
  rationales: [string, string];
  tokens: string[];
  p: number[][];
  q: number[][];
  kl: number;
  /** The gold answer ("32"), and the index in `tokens` of the token it
   * starts with (always among them). */
  answer: string;
  correct: number;
  /** Overlap of the two whole answer distributions, sum_v min(p_v, q_v), in
   * [0, 1], averaged over the answer's `span` tokens. */
  overlap: number;
  span: number;
}

export type TrainEvent =
  | { type: 'start'; info: RunInfo }
  | { type: 'status'; label: RunLabel; status: RunStatus; step: number; message?: string }
  | StepEvent
  | DistEvent
  | AccuracyEvent
  | { type: 'checkpoint'; label: RunLabel; checkpoint: CheckpointView }
  /** A stored checkpoint failed verification on load; `offered` is the next
   * older one of the same run that verifies, if any. */
  | { type: 'damaged'; label: RunLabel; checkpointId: string; message: string; offered?: CheckpointView }
  | { type: 'eval'; label: RunLabel; done: number; total: number; result?: EvalResultView }
  | { type: 'note'; label: RunLabel; level: 'info' | 'error'; message: string }
  | CompareRunEvent;

export type TrainListener = (e: TrainEvent) => void;

export interface RunResult {
  label: RunLabel;
  /** How the loop ended; a run that fails throws instead. */
  status: Extract<RunStatus, 'stopped' | 'done'>;
  step: number;
  totalSteps: number;
  metrics: MetricPoint[];
}

export interface EvalResultView {
  accuracy: number;
  correct: number;
  total: number;
  samples: EvalSample[];
  source: 'eval-file' | 'dev-split';
  taskType: TaskType;
  /** With EvalOptions.samples: the consistency of sampled explanations. */
  consistency?: ConsistencyView;
}

/** The consistency metrics as the page shows them (core/consistency.ts
 * defines them); plain data. */
export type ConsistencyView = ConsistencyResult;

export interface EvalOptions {
  limit?: number;
  maxNewTokens?: number;
  /** After the greedy evaluation, sample this many explanations per
   * question (at least 2) and measure their consistency. */
  samples?: number;
  /** Sampling temperature (default 1). */
  temperature?: number;
  /** Seed of the samples (default 1). */
  seed?: number;
}

/** Which part of an evaluation a progress report counts. */
export type EvalPhase = 'greedy' | 'samples';

/** What a comparison runs: each seed trains MCC-KD, then the baseline. */
export interface CompareOptions {
  /** Absent: the settings' seed alone. */
  seeds?: number[];
  /** Accuracy while training, as a run from the Training step checks it
   * (the curves go in the chart and the report's curves.svg). */
  accuracy?: AccuracyCheck;
  /** How a pretrained student's frozen base is held (as in RunOptions). */
  baseDtype?: BaseDtype;
}

/** A comparison's run begins: which seed (of how many) and which model;
 * its step and eval events follow under `label`. */
export interface CompareRunEvent {
  type: 'compare-run';
  label: 'mcckd' | 'baseline';
  alpha: number;
  seed: number;
  /** 0-based position of the seed in the list. */
  seedIndex: number;
  seeds: number;
}

/** One run of a comparison, as it ended (stopped ones too). */
export interface CompareRun {
  label: 'mcckd' | 'baseline';
  alpha: number;
  seed: number;
  result: RunResult;
  eval?: EvalResultView;
  /** Its accuracy checks while training (with CompareOptions.accuracy). */
  accuracy?: AccuracyPoint[];
}

export interface CompareResult {
  /** The first seed's two runs. */
  mcckd: { result: RunResult; eval?: EvalResultView };
  baseline: { result: RunResult; eval?: EvalResultView };
  /** Every run begun, in order (seed by seed, MCC-KD first). */
  runs: CompareRun[];
  /** The runs trained to the end, summarised as `mcckd experiment` does
   * (core/experiment-report.ts): alphas [0, alpha], so the paired
   * differences are MCC-KD minus the baseline. */
  report: Report;
}

/** One saved checkpoint as listed in the UI. */
export interface CheckpointView {
  id: string;
  runId: string;
  step: number;
  createdAt: number;
  bytes: number;
  kind: CheckpointKind;
  weightsOnly: boolean;
  accuracy?: number;
}

/** A stored run with its checkpoints, newest first. */
/** What a checkpoint exports as: our checkpoint (everything to resume, or
 * the weights only), or the student for other tools (src/export/bundle.ts). */
export type ExportFormat = 'checkpoint' | 'weights' | 'hf' | 'peft' | 'gguf' | 'recipe';

export interface RunView {
  id: string;
  name: string;
  status: RunStatus;
  createdAt: number;
  updatedAt: number;
  preset: string;
  alpha: number;
  totalSteps: number;
  params: number;
  datasetFingerprint: string;
  checkpoints: CheckpointView[];
  lastAccuracy?: number;
  /** A LoRA run (it can export a PEFT adapter). */
  lora?: boolean;
}

export interface StorageUsage {
  available: boolean;
  usage?: number;
  quota?: number;
  persisted?: boolean;
  checkpointBytes?: number;
}
