// One config record for the student and one for a training run, with
// commented defaults (nanoGPT style). Plain data: stored in every checkpoint.

import { CURATION_DEFAULTS } from '../data/defaults';

export interface ModelConfig {
  vocabSize: number; // set from the trained tokenizer (incl. special tokens)
  blockSize: number; // max sequence length (positions)
  nLayer: number;
  nHead: number;
  nEmbd: number; // must be divisible by nHead
  layerNormEps: number;
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

export function modelConfigFor(preset: PresetName, vocabSize: number, overrides: Partial<ModelConfig> = {}): ModelConfig {
  const p = PRESETS[preset];
  return { ...p, vocabSize, ...overrides };
}

/** Names and shapes of every parameter of the GPT, in a fixed order: the
 * one table that the model, the checkpoint format and the parameter count
 * read. Named as Hugging Face GPT-2 names them; Conv1D weights are
 * [in, out]; the head is tied to `wte`, so there is no lm_head. */
export function paramShapes(c: ModelConfig): [string, number[]][] {
  const d = c.nEmbd;
  const out: [string, number[]][] = [
    ['transformer.wte.weight', [c.vocabSize, d]],
    ['transformer.wpe.weight', [c.blockSize, d]],
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const h = `transformer.h.${i}`;
    out.push(
      [`${h}.ln_1.weight`, [d]], [`${h}.ln_1.bias`, [d]],
      [`${h}.attn.c_attn.weight`, [d, 3 * d]], [`${h}.attn.c_attn.bias`, [3 * d]],
      [`${h}.attn.c_proj.weight`, [d, d]], [`${h}.attn.c_proj.bias`, [d]],
      [`${h}.ln_2.weight`, [d]], [`${h}.ln_2.bias`, [d]],
      [`${h}.mlp.c_fc.weight`, [d, 4 * d]], [`${h}.mlp.c_fc.bias`, [4 * d]],
      [`${h}.mlp.c_proj.weight`, [4 * d, d]], [`${h}.mlp.c_proj.bias`, [d]],
    );
  }
  out.push(['transformer.ln_f.weight', [d]], ['transformer.ln_f.bias', [d]]);
  return out;
}

/** Exact parameter count of the GPT. */
export function countParams(c: ModelConfig): number {
  return paramShapes(c).reduce((sum, [, shape]) => sum + shape.reduce((a, b) => a * b, 1), 0);
}

/** The curation a run's settings ask for: curation keeps K rationales per
 * question, chosen (and the dev split drawn) with the seed. */
export function curationOf(c: Partial<TrainConfig>): { k: number; seed: number } {
  return { k: c.k ?? DEFAULT_TRAIN.k, seed: c.seed ?? DEFAULT_TRAIN.seed };
}

/** The settings of a new or continued run (the page's form, the CLI's
 * flags, a resumed checkpoint's config) checked and completed into a
 * TrainConfig the trainer accepts; `groups` is the number of curated
 * questions (an epoch is groups / batchSize steps). Pure: tested in Node. */
export function prepareTrainConfig(input: Partial<TrainConfig>, groups: number): TrainConfig {
  const c: TrainConfig = { ...DEFAULT_TRAIN, ...input };
  if (!Object.hasOwn(PRESETS, c.preset)) throw new Error(`unknown preset "${String(c.preset)}" (expected ${Object.keys(PRESETS).join(', ')})`);
  if (input.vocabSize === undefined) c.vocabSize = PRESETS[c.preset].vocabSize;
  const positive = (k: keyof TrainConfig, v: number | undefined): void => {
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new Error(`${k} must be a positive number, got ${String(v)}`);
  };
  positive('batchSize', c.batchSize);
  positive('lr', c.lr);
  positive('temperature', c.temperature);
  positive('k', c.k);
  positive('logEvery', c.logEvery);
  if (!(c.alpha >= 0)) throw new Error(`alpha must be >= 0, got ${c.alpha}`);
  if (groups < 1) throw new Error('the curated data has no question to train on (see the report)');
  if (c.epochs !== undefined) {
    positive('epochs', c.epochs);
    // One step sees batchSize questions, so an epoch is groups / batchSize steps.
    c.steps = Math.max(1, Math.ceil((c.epochs * groups) / c.batchSize));
  } else {
    positive('steps', c.steps);
    c.steps = Math.floor(c.steps);
  }
  if (c.warmupSteps >= c.steps) c.warmupSteps = Math.floor(c.steps / 10);
  if (c.minLr > c.lr) c.minLr = c.lr / 10;
  return c;
}
