// One config record for the student and one for a training run, with
// commented defaults (nanoGPT style). Plain data: stored in every checkpoint.

export interface ModelConfig {
  vocabSize: number; // set from the trained tokenizer (incl. special tokens)
  blockSize: number; // max sequence length (positions)
  nLayer: number;
  nHead: number;
  nEmbd: number; // must be divisible by nHead
  dropout: number; // 0 keeps training deterministic; tests rely on that
  layerNormEps: number;
}

export type PresetName = 'tiny' | 'small' | 'base';

/** Presets; vocabulary size is a tokenizer setting (see TrainConfig.vocabSize). */
export const PRESETS: Record<PresetName, Omit<ModelConfig, 'vocabSize'> & { vocabSize: number }> = {
  // < 0.5M params: tests, SwiftShader, CPU experiments
  tiny: { vocabSize: 512, blockSize: 256, nLayer: 2, nHead: 2, nEmbd: 64, dropout: 0, layerNormEps: 1e-5 },
  // ~1-3M params: the classroom default
  small: { vocabSize: 1024, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0, layerNormEps: 1e-5 },
  // ~10-20M params: for a real GPU
  base: { vocabSize: 4096, blockSize: 512, nLayer: 6, nHead: 8, nEmbd: 384, dropout: 0, layerNormEps: 1e-5 },
};

export type BackendName = 'cpu' | 'wasm' | 'webgpu' | 'webgl';

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
  weightDecay: number; // AdamW decoupled decay (not on biases, LayerNorm, embeddings)
  beta1: number;
  beta2: number;
  eps: number;
  gradClip: number; // global-norm clipping; 0 disables
  seed: number; // weights init, pair sampling and data order
  logEvery: number; // log (and read losses back from the device) every N steps
  vocabSize: number; // BPE vocabulary size incl. special tokens
  backend: BackendName;
}

export const DEFAULT_TRAIN: TrainConfig = {
  preset: 'tiny',
  alpha: 0.1, // reference implementations' value
  temperature: 1.3, // reference implementations' value
  k: 3,
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
  seed: 1337,
  logEvery: 1,
  vocabSize: PRESETS.tiny.vocabSize,
  backend: 'cpu',
};

export function modelConfigFor(preset: PresetName, vocabSize: number, overrides: Partial<ModelConfig> = {}): ModelConfig {
  const p = PRESETS[preset];
  return { ...p, vocabSize, ...overrides };
}

/** Exact parameter count of the GPT (weight-tied head). */
export function countParams(c: ModelConfig): number {
  const d = c.nEmbd;
  const perBlock = 2 * (2 * d) /* ln_1, ln_2 */ + (d * 3 * d + 3 * d) /* c_attn */ + (d * d + d) /* attn.c_proj */ +
    (d * 4 * d + 4 * d) /* mlp.c_fc */ + (4 * d * d + d) /* mlp.c_proj */;
  return c.vocabSize * d + c.blockSize * d + c.nLayer * perBlock + 2 * d /* ln_f */;
}
