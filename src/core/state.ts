// The plain-data snapshot of a run: everything needed to continue exactly.
// Produced by Trainer.snapshot(), consumed by Trainer.restore(); serialized by
// src/checkpoint (safetensors + JSON) for the CLI's run directories and for
// IndexedDB in the app. No tfjs types here.

import type { Arch } from './arch';
import type { ModelConfig, TrainConfig } from './config';

/** A float32 tensor as plain data. */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** Parameters named as Hugging Face GPT-2 names them, e.g.
 * `transformer.wte.weight`, `transformer.h.0.attn.c_attn.weight` (shape
 * [in, out] as GPT-2's Conv1D stores it), `transformer.ln_f.bias`. */
export type TensorMap = Record<string, NamedTensor>;

export interface OptimizerState {
  step: number; // AdamW's bias-correction step count
  m: TensorMap; // first moments, same names as the params
  v: TensorMap; // second moments
}

export interface MetricPoint {
  step: number;
  loss: number;
  ce: number;
  kl: number;
  lr: number;
  tokensPerSecond: number;
  time: number; // ms since run start
}

/** Which pretrained model a run started from: a run stores it and resumes
 * only on the same weights. */
export interface BaseRef {
  arch: Arch;
  name: string; // the folder's name, for people
  fingerprint: string; // a hash of the base's tensors and config
}

export interface TrainState {
  format: 'mcckd-run/1';
  modelConfig: ModelConfig;
  trainConfig: TrainConfig;
  tokenizer: unknown; // Tokenizer.toJSON(); null for a pretrained student (the base's tokenizer.json)
  base?: BaseRef; // a pretrained student's base; params then hold only the adapter of a LoRA run
  step: number; // optimizer steps completed
  rngState: number[]; // seeded RNG state for pair sampling / data order
  cursor: { epoch: number; position: number; order: number[] }; // data-order cursor
  datasetFingerprint: string;
  params: TensorMap;
  optimizer: OptimizerState;
  metrics: MetricPoint[];
}
