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

// ---- limits: the one table of allowed ranges ----------------------------
// Both the settings of a new run (prepareTrainConfig) and the configs read
// from a checkpoint (checkpoint/format) are checked against these, so that a
// hostile or mistyped value is refused by name before it sizes a loop, an
// allocation or a kernel.

/** An allowed range; `openMin` / `openMax` exclude that end. Values must be
 * finite in any case. */
export interface Range {
  min: number;
  max: number;
  integer?: boolean;
  openMin?: boolean;
  openMax?: boolean;
}

/** Bounds of every model config field. vocabSize: token ids stay below 2^16
 * (the tokenizer's pair keys). The others are far above the presets (base:
 * 6 layers, 8 heads, width 384, 512 positions; GPT-3 175B has 96 layers and
 * 96 heads) yet small enough that the parameter table (12 entries a layer)
 * stays tiny and the parameter count an exact integer. layerNormEps: BERT's
 * 1e-12 is the smallest in common use; 0.1 already swamps the variance. */
export const MODEL_LIMITS: Record<keyof ModelConfig, Range> = {
  vocabSize: { min: 1, max: 65536, integer: true },
  blockSize: { min: 1, max: 8192, integer: true },
  nLayer: { min: 1, max: 128, integer: true },
  nHead: { min: 1, max: 128, integer: true },
  nEmbd: { min: 1, max: 8192, integer: true },
  layerNormEps: { min: 1e-12, max: 0.1 },
};

/** Bounds of the training settings (a run's or a checkpoint's): what the
 * trainer can use sensibly, with room above every default. batchSize 4096
 * questions (x2 rationales x blockSize tokens) is already beyond any device
 * this runs on; an lr above 1 is far outside what AdamW trains with; a
 * temperature below 0.05 makes the KL term's softmax one-hot (and 1e-40
 * divides float32 logits into infinities); k is the number of rationales
 * kept per question (the paper uses a handful); 1e7 steps is months of
 * browser time. */
export const TRAIN_LIMITS = {
  alpha: { min: 0, max: 100 },
  temperature: { min: 0.05, max: 100 },
  k: { min: 1, max: 64, integer: true },
  steps: { min: 1, max: 1e7, integer: true },
  epochs: { min: 0, max: 1e6, openMin: true },
  batchSize: { min: 1, max: 4096, integer: true },
  lr: { min: 0, max: 1, openMin: true },
  minLr: { min: 0, max: 1 },
  warmupSteps: { min: 0, max: 1e7 },
  weightDecay: { min: 0, max: 1 },
  beta1: { min: 0, max: 1, openMax: true },
  beta2: { min: 0, max: 1, openMax: true },
  eps: { min: 0, max: 1, openMin: true },
  gradClip: { min: 0, max: 1e6 },
  seed: { min: -Infinity, max: Infinity }, // any finite number
  logEvery: { min: 1, max: 1e7, integer: true },
  vocabSize: { min: 1, max: 65536, integer: true },
} satisfies Partial<Record<keyof TrainConfig, Range>>;

/** A config value outside its Range; `field` names the setting. */
export class ConfigRangeError extends Error {
  override readonly name = 'ConfigRangeError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** "an integer in [1, 4096]", "a number in (0, 1]". */
export function describeRange(r: Range): string {
  if (r.min === -Infinity && r.max === Infinity) return r.integer ? 'a finite integer' : 'a finite number';
  return `${r.integer ? 'an integer' : 'a number'} in ${r.openMin ? '(' : '['}${r.min}, ${r.max}${r.openMax ? ')' : ']'}`;
}

/** Throws a ConfigRangeError naming `field` and the range unless `value` is in it. */
export function checkRange(field: string, value: unknown, r: Range): void {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (r.openMin ? value > r.min : value >= r.min) &&
    (r.openMax ? value < r.max : value <= r.max) &&
    (!r.integer || Number.isInteger(value));
  if (!ok) {
    let got: string;
    try {
      got = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value)).slice(0, 60);
    } catch {
      got = `a ${typeof value}`; // too deep to print, a BigInt, ...
    }
    throw new ConfigRangeError(`${field} must be ${describeRange(r)}, got ${got}`, field);
  }
}

/** Every model config field against MODEL_LIMITS. */
export function checkModelRanges(c: ModelConfig): void {
  for (const [k, r] of Object.entries(MODEL_LIMITS)) checkRange(k, (c as unknown as Record<string, unknown>)[k], r);
}

/** Every bounded training setting against TRAIN_LIMITS (epochs only when set). */
export function checkTrainRanges(c: TrainConfig): void {
  for (const [k, r] of Object.entries(TRAIN_LIMITS)) {
    const v = (c as unknown as Record<string, unknown>)[k];
    if (k === 'epochs' && v === undefined) continue;
    checkRange(k, v, r);
  }
}

/** countParams in closed form, without building the table: cheap for any
 * config, so a checkpoint's config can be weighed against its file first.
 * Per block: two LayerNorms (4d), c_attn (3d^2 + 3d), attn.c_proj (d^2 + d),
 * mlp.c_fc (4d^2 + 4d), mlp.c_proj (4d^2 + d). */
export function paramCountOf(c: ModelConfig): number {
  const d = c.nEmbd;
  return c.vocabSize * d + c.blockSize * d + c.nLayer * (12 * d * d + 13 * d) + 2 * d;
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
  checkTrainRanges(c); // after the derivations: steps from epochs counts too
  return c;
}
