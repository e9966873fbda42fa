// One config record for the student and one for a training run, with
// commented defaults (nanoGPT style). Plain data: stored in every checkpoint.

import { validatePromptTemplate } from '../data/template';
import { ARCH_NAMES, FAMILIES, archOf, familyOf, isArch, type Arch } from './arch';
import { dimsOf, sizeOf } from './arch/dims';

// The decoder families we run live in the registry (src/core/arch): each
// knows its tensors, its config.json, its forward. Our from-scratch student
// is a GPT-2.
export { archOf, dimsOf, type Arch };
// The plain records (no tfjs, no registry: the page reads them too).
export * from './records';
import { DEFAULT_TRAIN, PRESETS, type LoraConfig, type ModelConfig, type TrainConfig } from './records';

/** Names and shapes of every base parameter, in a fixed order: the one table
 * that the model, the checkpoint format, the Hugging Face folder reader and
 * the parameter count read; the family's table, then an untied head.
 * Hugging Face's names: GPT-2's Conv1D weights are
 * [in, out] (`transformer.h.0.attn.c_attn.weight`), LLaMA's nn.Linear
 * weights [out, in] (`model.layers.0.self_attn.q_proj.weight`). A tied model
 * has no `lm_head.weight`. */
export function paramShapes(c: ModelConfig): [string, number[]][] {
  const out = familyOf(c).paramShapes(c);
  if (!dimsOf(c).tied) out.push(['lm_head.weight', [c.vocabSize, c.nEmbd]]);
  return out;
}

/** The projections LoRA can adapt, by PEFT short name, per architecture. */
export const LORA_MODULES = Object.fromEntries(FAMILIES.map((f) => [f.name, f.loraModules])) as Record<Arch, readonly string[]>;

/** PEFT's default-like targets: the attention projections. */
export const DEFAULT_LORA_TARGETS = Object.fromEntries(FAMILIES.map((f) => [f.name, f.defaultLoraTargets])) as Record<
  Arch,
  readonly string[]
>;

/** A pretrained student's config with a LoRA setting; no targets named
 * means the architecture's attention projections (PEFT's usual choice). */
export function withLora(c: ModelConfig, lora: LoraConfig | undefined): ModelConfig {
  if (!lora) return { ...c };
  const targets = lora.targets.length ? lora.targets.slice() : [...DEFAULT_LORA_TARGETS[archOf(c)]];
  return { ...c, lora: { ...lora, targets } };
}

/** Every adapted projection: its module path (e.g. `model.layers.0.self_attn.q_proj`)
 * with in/out sizes. PEFT matches a target when the module's last name
 * component equals it (so GPT-2's `c_proj` adapts attn.c_proj and mlp.c_proj). */
export function loraModules(c: ModelConfig): { module: string; in: number; out: number }[] {
  if (!c.lora) return [];
  const targets = new Set(c.lora.targets);
  const conv1d = familyOf(c).weightLayout === 'in-out'; // Conv1D [in, out]; nn.Linear is [out, in]
  const out: { module: string; in: number; out: number }[] = [];
  for (const [name, shape] of paramShapes(c)) {
    if (shape.length !== 2 || !name.endsWith('.weight')) continue;
    const module = name.slice(0, -'.weight'.length);
    if (!targets.has(module.slice(module.lastIndexOf('.') + 1))) continue;
    out.push({ module, in: conv1d ? shape[0] : shape[1], out: conv1d ? shape[1] : shape[0] });
  }
  return out;
}

/** The adapter's tensors in PEFT's layout (without PEFT's `base_model.model.`
 * prefix): `<module>.lora_A.weight` [r, in], `<module>.lora_B.weight` [out, r]. */
export function loraShapes(c: ModelConfig): [string, number[]][] {
  const r = c.lora?.rank ?? 0;
  return loraModules(c).flatMap((m): [string, number[]][] => [
    [`${m.module}.lora_A.weight`, [r, m.in]],
    [`${m.module}.lora_B.weight`, [m.out, r]],
  ]);
}

/** The parameters that train: the adapter for a LoRA run, else the base. */
export function trainableShapes(c: ModelConfig): [string, number[]][] {
  return c.lora ? loraShapes(c) : paramShapes(c);
}

/** Checks a LoRA setting against the architecture, naming what is wrong. */
export function checkLora(c: ModelConfig): void {
  const l = c.lora;
  if (!l) return;
  checkRange('lora.rank', l.rank, { min: 1, max: 4096, integer: true });
  checkRange('lora.alpha', l.alpha, { min: 0, max: 1e6, openMin: true });
  const known = LORA_MODULES[archOf(c)];
  if (!Array.isArray(l.targets) || l.targets.length === 0)
    throw new ConfigRangeError(`lora.targets must name at least one of ${known.join(', ')}`, 'lora.targets');
  for (const t of l.targets)
    if (!known.includes(t))
      throw new ConfigRangeError(
        `lora.targets: "${String(t)}" is not a projection of a ${archOf(c)} model (one of ${known.join(', ')})`,
        'lora.targets',
      );
}

/** Exact parameter count of the model (the base; the tied head counted once). */
export function countParams(c: ModelConfig): number {
  return paramShapes(c).reduce((sum, [, shape]) => sum + sizeOf(shape), 0);
}

/** Exact count of the trainable parameters (the adapter for a LoRA run). */
export function countTrainable(c: ModelConfig): number {
  return trainableShapes(c).reduce((sum, [, shape]) => sum + sizeOf(shape), 0);
}

// ---- limits: the one table of allowed ranges ----------------------------
// The settings of a new run (prepareTrainConfig), the configs read from a
// checkpoint (checkpoint/format) and a Hugging Face config.json (src/hf/
// config.ts, under its own field names) are checked against these, so that a
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

/** Bounds of the model config's required fields. vocabSize: the largest
 * vocabularies in use (Gemma's 262,144; our own BPE stays below 2^16, its
 * pair keys, see TRAIN_LIMITS.vocabSize). The others are far above the presets (base:
 * 6 layers, 8 heads, width 384, 512 positions; GPT-3 175B has 96 layers and
 * 96 heads) yet small enough that the parameter table (12 entries a layer)
 * stays tiny and the parameter count an exact integer. layerNormEps: BERT's
 * 1e-12 is the smallest in common use; 0.1 already swamps the variance. */
export const MODEL_LIMITS: Record<'vocabSize' | 'blockSize' | 'nLayer' | 'nHead' | 'nEmbd' | 'layerNormEps', Range> = {
  vocabSize: { min: 1, max: 262144, integer: true },
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

/** Throws a ConfigRangeError naming `field` and the range unless `value` is
 * in it; the message calls the field `shown` (a Hugging Face config.json
 * field, for instance). */
export function checkRange(field: string, value: unknown, r: Range, shown = field): void {
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
    throw new ConfigRangeError(`${shown} must be ${describeRange(r)}, got ${got}`, field);
  }
}

/** Bounds of the optional fields of pretrained students' configs
 * (Qwen2.5-0.5B: intermediate 4,864, rope_theta 1e6; LLaMA-3: 500,000). */
export const MODEL_OPTION_LIMITS = {
  nKvHead: { min: 1, max: 128, integer: true },
  intermediateSize: { min: 1, max: 65536, integer: true },
  ropeTheta: { min: 0, max: 1e9, openMin: true },
  headDim: { min: 1, max: 8192, integer: true },
  slidingWindow: { min: 1, max: 1_048_576, integer: true },
  ropeLocalTheta: { min: 0, max: 1e9, openMin: true },
  attnScale: { min: 0, max: 1e3, openMin: true },
  attnSoftcap: { min: 0, max: 1e6, openMin: true },
  finalSoftcap: { min: 0, max: 1e6, openMin: true },
} satisfies Partial<Record<keyof ModelConfig, Range>>;

/** Every model config field against MODEL_LIMITS (the optional ones when
 * present), the head layout and the LoRA setting. `shown` names a field in
 * the range refusals (the Hugging Face reader passes config.json's names). */
export function checkModelRanges(c: ModelConfig, shown: (field: string) => string = (f) => f): void {
  for (const [k, r] of Object.entries(MODEL_LIMITS)) checkRange(k, (c as unknown as Record<string, unknown>)[k], r, shown(k));
  for (const [k, r] of Object.entries(MODEL_OPTION_LIMITS)) {
    const v = (c as unknown as Record<string, unknown>)[k];
    if (v !== undefined) checkRange(k, v, r, shown(k));
  }
  if (c.arch !== undefined && !isArch(c.arch))
    throw new ConfigRangeError(`arch must be one of ${ARCH_NAMES.join(', ')}, got ${JSON.stringify(c.arch)?.slice(0, 40)}`, 'arch');
  if (c.tieWordEmbeddings !== undefined && typeof c.tieWordEmbeddings !== 'boolean')
    throw new ConfigRangeError('tieWordEmbeddings must be true or false', 'tieWordEmbeddings');
  if (c.headDim === undefined && c.nEmbd % c.nHead !== 0)
    throw new ConfigRangeError(`nEmbd ${c.nEmbd} is not divisible by nHead ${c.nHead}`, 'nEmbd');
  const { nKvHead } = dimsOf(c);
  if (c.nHead % nKvHead !== 0) throw new ConfigRangeError(`nHead ${c.nHead} is not a multiple of nKvHead ${nKvHead}`, 'nKvHead');
  if (c.layerTypes !== undefined) {
    if (!Array.isArray(c.layerTypes) || c.layerTypes.length !== c.nLayer || !c.layerTypes.every((x) => x === 'full' || x === 'sliding'))
      throw new ConfigRangeError(`layerTypes must list 'full' or 'sliding' for each of the ${c.nLayer} layers`, 'layerTypes');
    if (c.layerTypes.includes('sliding') && c.slidingWindow === undefined)
      throw new ConfigRangeError('layerTypes has sliding layers but slidingWindow is not set', 'slidingWindow');
  }
  familyOf(c).check(c, (field, msg) => {
    throw new ConfigRangeError(msg, field);
  });
  if (c.lora !== undefined) {
    if (typeof c.lora !== 'object' || c.lora === null) throw new ConfigRangeError('lora must be an object', 'lora');
    checkLora(c);
  }
}

/** Every bounded training setting against TRAIN_LIMITS (epochs only when set). */
export function checkTrainRanges(c: TrainConfig): void {
  for (const [k, r] of Object.entries(TRAIN_LIMITS)) {
    const v = (c as unknown as Record<string, unknown>)[k];
    if (k === 'epochs' && v === undefined) continue;
    checkRange(k, v, r);
  }
}

/** countParams in closed form (the family's), without building the table:
 * cheap for any config, so a checkpoint's config can be weighed against its
 * file first. */
export function paramCountOf(c: ModelConfig): number {
  return familyOf(c).paramCount(c) + (dimsOf(c).tied ? 0 : c.vocabSize * c.nEmbd);
}

/** The settings of a new or continued run (the page's form, the CLI's
 * flags, a resumed checkpoint's config) checked and completed into a
 * TrainConfig the trainer accepts; `groups` is the number of curated
 * questions (an epoch is groups / batchSize steps). Pure: tested in Node. */
export function prepareTrainConfig(input: Partial<TrainConfig>, groups: number): TrainConfig {
  const c: TrainConfig = { ...DEFAULT_TRAIN, ...input };
  if (!Object.hasOwn(PRESETS, c.preset))
    throw new Error(`unknown preset "${String(c.preset)}" (expected ${Object.keys(PRESETS).join(', ')})`);
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
  if (c.promptTemplate !== undefined) validatePromptTemplate(c.promptTemplate);
  return c;
}
