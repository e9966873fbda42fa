// The plain-data snapshot of a run: everything needed to continue exactly.
// Produced by Trainer.snapshot(), consumed by Trainer.restore(); serialized by
// src/checkpoint (safetensors + JSON) for the CLI's run directories and for
// IndexedDB in the app. No tfjs types here.

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

export interface TrainState {
  format: 'mcckd-run/1';
  modelConfig: ModelConfig;
  trainConfig: TrainConfig;
  tokenizer: unknown; // Tokenizer.toJSON()
  step: number; // optimizer steps completed
  rngState: number[]; // seeded RNG state for pair sampling / data order
  cursor: { epoch: number; position: number; order: number[] }; // data-order cursor
  datasetFingerprint: string;
  params: TensorMap;
  optimizer: OptimizerState;
  metrics: MetricPoint[];
}
