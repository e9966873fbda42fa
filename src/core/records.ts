// The config records of the student and of a training run, with commented
// defaults (nanoGPT style): plain data, stored in every checkpoint. No tfjs
// and no registry here, so the page's settings can read them; the
// functions over them (parameter tables, limits, checks) are in config.ts.

import { CURATION_DEFAULTS } from '../data/defaults';
import type { Arch } from './arch';

/** LoRA with PEFT's semantics: for each targeted projection W (short name as
 * PEFT matches it: c_attn, c_proj, c_fc; q_proj ... down_proj),
 * y = x W + (alpha / rank) * (x A^T) B^T with A [rank, in] (Kaiming-uniform)
 * and B [out, rank] (zeros); the base weights are frozen. */
export interface LoraConfig {
  rank: number; // r; >= 1 (rank 0 is full fine-tuning: no lora record at all)
  alpha: number; // lora_alpha; the update is scaled by alpha / rank
  targets: string[]; // module short names, e.g. ['q_proj', 'v_proj']
}

/** A layer's attention: over every earlier position, or a sliding window. */
export type AttentionKind = 'full' | 'sliding';

export interface ModelConfig {
  arch?: Arch; // absent = 'gpt2' (every checkpoint written before pretrained students)
  vocabSize: number; // the tokenizer's (incl. special tokens)
  blockSize: number; // max sequence length (positions)
  nLayer: number;
  nHead: number; // query heads
  nEmbd: number; // hidden size; must be divisible by nHead (head size nEmbd / nHead)
  layerNormEps: number; // LayerNorm (gpt2) or RMSNorm (llama, qwen2) epsilon
  nKvHead?: number; // key/value heads (grouped-query attention); default nHead
  headDim?: number; // head size when the config names one (head_dim); default nEmbd / nHead
  intermediateSize?: number; // MLP width; default 4 * nEmbd (GPT-2)
  ropeTheta?: number; // RoPE base (llama, qwen2); default 10000
  tieWordEmbeddings?: boolean; // head = token embedding; default true
  // Per-layer attention, for the families that have it (absent: every layer
  // is full causal attention with scale 1/sqrt(headDim), no soft-cap):
  layerTypes?: AttentionKind[]; // one per layer
  slidingWindow?: number; // keys a 'sliding' layer's query sees (itself included)
  ropeLocalTheta?: number; // RoPE base of the 'sliding' layers; default ropeTheta
  attnScale?: number; // q.k scale instead of 1/sqrt(headDim) (e.g. query_pre_attn_scalar^-0.5)
  attnSoftcap?: number; // attention logits -> tanh(s / cap) * cap
  finalSoftcap?: number; // output logits -> tanh(z / cap) * cap, applied by the head (headLoss.ts) to every logit
  lora?: LoraConfig; // absent = every parameter trains
}

export type PresetName = 'tiny' | 'small' | 'base';

/** Presets; vocabulary size is a tokenizer setting (see TrainConfig.vocabSize). */
export const PRESETS: Record<PresetName, Omit<ModelConfig, 'vocabSize'> & { vocabSize: number }> = {
  // < 0.5M params: tests, SwiftShader, CPU experiments
  tiny: { vocabSize: 512, blockSize: 256, nLayer: 2, nHead: 2, nEmbd: 64, layerNormEps: 1e-5 },
  // ~1M params: the classroom default
  small: { vocabSize: 1024, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 128, layerNormEps: 1e-5 },
  // ~12M params: for a real GPU
  base: { vocabSize: 4096, blockSize: 512, nLayer: 6, nHead: 8, nEmbd: 384, layerNormEps: 1e-5 },
};

export type BackendName = 'cpu' | 'wasm' | 'webgpu' | 'webgl';

/** The most threads of tfjs's threaded wasm build: the 8 pthread workers it
 * starts with its module, beyond which its C code never goes (the page's
 * thread setting and core/backend.ts). */
export const MAX_WASM_THREADS = 8;

export interface TrainConfig {
  preset: PresetName;
  alpha: number; // weight of the symmetric KL consistency term; 0 = multi-rationale baseline
  temperature: number; // softmax temperature inside the KL term
  k: number; // max rationales per question kept by curation / sampled from
  steps: number; // total optimizer steps of the run (if epochs is set, derived from it)
  epochs?: number; // alternative to steps: passes over the question groups
  batchSize: number; // questions per step (each contributes two rationales)
  lr: number; // peak learning rate
  minLr: number; // floor of the cosine decay
  warmupSteps: number; // linear warmup length
  decaySteps?: number; // where the cosine decay ends (default steps): a finished run trained further keeps its own (schedule.ts)
  weightDecay: number; // AdamW decoupled decay (not on biases, LayerNorm, embeddings)
  beta1: number;
  beta2: number;
  eps: number;
  gradClip: number; // global-norm clipping; 0 disables
  seed: number; // weights init, pair sampling and data order
  logEvery: number; // log (and read losses back from the device) every N steps
  vocabSize: number; // BPE vocabulary size incl. special tokens
  backend: BackendName;
  promptTemplate?: string; // what the student reads before its rationale; default DEFAULT_PROMPT_TEMPLATE ('Q: {question}\nA: ')
  recompute?: boolean; // activation recomputation: keep only block inputs for the backward (less memory, one more forward)
}

export const DEFAULT_TRAIN: TrainConfig = {
  preset: 'tiny',
  alpha: 0.1, // reference implementations' value
  temperature: 1.3, // reference implementations' value
  k: CURATION_DEFAULTS.k,
  steps: 200,
  batchSize: 8,
  lr: 3e-3,
  minLr: 3e-4,
  warmupSteps: 20,
  weightDecay: 0.01,
  beta1: 0.9,
  beta2: 0.99,
  eps: 1e-8,
  gradClip: 1.0,
  seed: CURATION_DEFAULTS.seed,
  logEvery: 1,
  vocabSize: PRESETS.tiny.vocabSize,
  backend: 'cpu',
};

/** Peak learning rates for fine-tuning a pretrained student: the usual LoRA
 * rate, and a lower one when every weight trains (DEFAULT_TRAIN.lr is for a
 * student trained from scratch). */
export const PRETRAINED_LR = { lora: 2e-4, full: 5e-5 } as const;

export function modelConfigFor(preset: PresetName, vocabSize: number, overrides: Partial<ModelConfig> = {}): ModelConfig {
  const p = PRESETS[preset];
  return { ...p, vocabSize, ...overrides };
}

/** LoRA's defaults for a pretrained student: rank 8, alpha 16 (scale 2). */
export const LORA_DEFAULTS = { rank: 8, alpha: 16 } as const;

/** The curation a run's settings ask for: curation keeps K rationales per
 * question, chosen (and the dev split drawn) with the seed. */
export function curationOf(c: Partial<TrainConfig>): { k: number; seed: number } {
  return { k: c.k ?? DEFAULT_TRAIN.k, seed: c.seed ?? DEFAULT_TRAIN.seed };
}
