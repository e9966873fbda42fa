// A Hugging Face model folder's config.json, read into one plain record (the
// student's architecture) and the table of tensors that the folder must hold.
// Everything unsupported or inconsistent is refused here, naming the field,
// before a byte of weights is read or a tensor allocated.

import { FAMILIES, family, familyByHf, type Arch } from '../core/arch';
import type { FamilyConfig, HfFields, HfReader } from '../core/arch/family';
import {
  checkModelRanges,
  checkRange,
  ConfigRangeError,
  dimsOf,
  MODEL_LIMITS,
  MODEL_OPTION_LIMITS,
  paramShapes,
  type ModelConfig,
  type Range,
} from '../core/config';

/** What a folder's config.json says: the family's reading (src/core/arch,
 * one module per architecture we can train) in one record, with the
 * student's config fields. */
export interface HfModelSpec {
  arch: Arch;
  vocabSize: number;
  hiddenSize: number;
  nLayer: number;
  nHead: number;
  /** Key/value heads (grouped-query attention); nHead for GPT-2. */
  nKvHead: number;
  headDim: number;
  /** MLP width: 4 * hidden for GPT-2 (n_inner null), intermediate_size otherwise. */
  intermediateSize: number;
  maxPositions: number;
  /** LayerNorm (GPT-2) or RMSNorm (LLaMA, Qwen2) epsilon. */
  normEps: number;
  /** RoPE base (LLaMA, Qwen2); undefined for GPT-2's learned positions. */
  ropeTheta?: number;
  tieWordEmbeddings: boolean;
  /** Qwen2's q/k/v projections have biases. */
  qkvBias: boolean;
  bosTokenId?: number;
  /** The end token(s) from the config; generation_config.json may add more. */
  eosTokenIds: number[];
  /** The student's config fields as the family read them (studentConfig). */
  config: FamilyConfig;
}

export class HfConfigError extends Error {
  override readonly name = 'HfConfigError';
}

/** The bounds of config.json's sizes: the core's limits (one set for a
 * from-scratch student, a checkpoint and a folder), by the field each sizes,
 * checked as the field is read so that a hostile config makes us neither
 * allocate nor loop. Real models of the sizes we can train are far below
 * them (Qwen2.5-0.5B: vocab 151,936, hidden 896, 24 layers, 32k positions). */
const HF_LIMITS: Record<'vocabSize' | Parameters<HfReader['int']>[1], Range> = {
  vocabSize: MODEL_LIMITS.vocabSize,
  hiddenSize: MODEL_LIMITS.nEmbd,
  nLayer: MODEL_LIMITS.nLayer,
  nHead: MODEL_LIMITS.nHead,
  intermediateSize: MODEL_OPTION_LIMITS.intermediateSize,
  // the context a config declares (a RoPE student keeps at most
  // HF_MAX_BLOCK of it, GPT-2 all of it: blockSize's limit then applies);
  // a sliding window is a number of positions too
  maxPositions: MODEL_OPTION_LIMITS.slidingWindow,
};

type Json = Record<string, unknown>;

const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

function fail(msg: string): never {
  throw new HfConfigError(`config.json: ${msg}`);
}

/** Runs a core range check, its refusal as config.json's. */
function asHf(check: () => void): void {
  try {
    check();
  } catch (e) {
    if (e instanceof ConfigRangeError) fail(`${e.message} (not a model this app can train)`);
    throw e;
  }
}

function int(c: Json, key: string, r: Range): number {
  const v = c[key];
  if (!Number.isSafeInteger(v) || (v as number) < 1) fail(`"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  asHf(() => checkRange(key, v, r, `"${key}"`));
  return v as number;
}

function positive(c: Json, key: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(`"${key}" must be a positive number, got ${JSON.stringify(c[key])}`);
  return v;
}

function tokenIds(v: unknown, key: string, vocab: number): number[] {
  if (v === undefined || v === null) return [];
  const ids = Array.isArray(v) ? v : [v];
  for (const id of ids)
    if (!Number.isSafeInteger(id) || id < 0 || id >= vocab)
      fail(`"${key}" must be token ids below vocab_size ${vocab}, got ${JSON.stringify(v)}`);
  return ids as number[];
}

/** Reads config.json (parsed JSON) into the spec; refuses, naming the field. */
export function parseHfConfig(raw: unknown): HfModelSpec {
  if (!isObj(raw)) fail('must be a JSON object');
  const c = raw;
  const archs = c.architectures;
  const named = Array.isArray(archs) && archs.length === 1 && typeof archs[0] === 'string' ? archs[0] : undefined;
  const fam = named !== undefined ? familyByHf(named) : undefined;
  if (!fam)
    fail(
      `"architectures" ${JSON.stringify(archs)} (model_type ${JSON.stringify(c.model_type)}) is not supported (one of ${FAMILIES.map((f) => f.hfArchitecture).join(', ')})`,
    );
  if (c.model_type !== fam.modelType)
    fail(`"model_type" ${JSON.stringify(c.model_type)} does not match "architectures" (${named}: "${fam.modelType}")`);
  const reader: HfReader = {
    fail,
    int: (key, limit) => int(c, key, HF_LIMITS[limit]),
    positive: (key, fallback) => positive(c, key, fallback),
    maxBlock: HF_MAX_BLOCK,
  };
  // the family's refusals come first: an unsupported model is named as such
  const read = fam.readHf(c, reader);
  const vocabSize = int(c, 'vocab_size', HF_LIMITS.vocabSize);
  // every field against the core's limits now, before a weight is read,
  // under config.json's names (a student would be refused by the same
  // check after reading them all, under ours)
  asHf(() => checkModelRanges({ arch: fam.name, vocabSize, ...read.config }, (f) => fam.hfFields[f as keyof HfFields] ?? f));
  const { headDim, nKvHead, inner } = dimsOf({ arch: fam.name, vocabSize, ...read.config });
  return {
    arch: fam.name,
    vocabSize,
    hiddenSize: read.config.nEmbd,
    nLayer: read.config.nLayer,
    nHead: read.config.nHead,
    nKvHead,
    headDim,
    intermediateSize: inner,
    maxPositions: read.maxPositions,
    normEps: read.config.layerNormEps,
    ...(read.config.ropeTheta !== undefined ? { ropeTheta: read.config.ropeTheta } : {}),
    tieWordEmbeddings: read.config.tieWordEmbeddings ?? true,
    qkvBias: read.qkvBias,
    ...(c.bos_token_id !== undefined && c.bos_token_id !== null
      ? { bosTokenId: tokenIds(c.bos_token_id, 'bos_token_id', vocabSize)[0] }
      : {}),
    eosTokenIds: tokenIds(c.eos_token_id, 'eos_token_id', vocabSize),
    config: read.config,
  };
}

/** Positions a LLaMA-family student trains and generates with: RoPE has no
 * table to size, and rationales are far shorter; longer contexts would only
 * let a run plan activations it cannot hold. */
const HF_MAX_BLOCK = 2048;

/** The student's model config for a folder's spec: the same record (and the
 * same forward code) as our from-scratch GPT, with the family's fields. */
export function studentConfig(s: HfModelSpec): ModelConfig {
  return { arch: s.arch, vocabSize: s.vocabSize, ...s.config };
}

/** Every tensor the folder must hold, by its Hugging Face name, with its
 * shape as stored (GPT-2's Conv1D [in, out]; nn.Linear [out, in]): the
 * student's own parameter table. GPT-2 names carry the `transformer.`
 * prefix; a folder saved without it is matched by `canonicalName`. A tied
 * model has no lm_head. */
export function hfTensorShapes(s: HfModelSpec): [string, number[]][] {
  return paramShapes(studentConfig(s));
}

/** Stored tensors that carry no parameter: GPT-2's attention-mask buffers,
 * LLaMA's cached rotary frequencies, a tied model's copy of the head. */
export function isIgnoredTensor(name: string, s: HfModelSpec): boolean {
  return family(s.arch).isIgnoredTensor(name) || (name === 'lm_head.weight' && s.tieWordEmbeddings);
}

/** A stored name in our table's spelling: GPT-2 folders saved from the base
 * model (as the hub's gpt2) lack the `transformer.` prefix. */
export function canonicalName(name: string, s: HfModelSpec): string {
  return family(s.arch).canonicalName(name);
}

/** Parameters of the model as it trains (the tied head counted once). */
export function hfParamCount(s: HfModelSpec): number {
  return hfTensorShapes(s).reduce((sum, [, shape]) => sum + shape.reduce((a, b) => a * b, 1), 0);
}

/** dtypes a folder may store its weights in (converted to float32 on load). */
const HF_DTYPES = ['F32', 'F16', 'BF16'] as const;

/** Checks the tensors a folder stores (names, dtypes and shapes from the
 * safetensors headers, before any data is read) against the config: every
 * parameter present with its shape, nothing unexpected. Refuses naming the
 * tensor, and the config fields its shape comes from. */
export function checkStoredTensors(s: HfModelSpec, stored: ReadonlyMap<string, { dtype: string; shape: readonly number[] }>): void {
  const sizes = family(s.arch).hfSizes(studentConfig(s));
  const byName = new Map<string, { dtype: string; shape: readonly number[] }>();
  for (const [name, t] of stored) {
    if (isIgnoredTensor(name, s)) continue;
    byName.set(canonicalName(name, s), t);
  }
  const expected = hfTensorShapes(s);
  const known = new Set(expected.map(([n]) => n));
  for (const [name, shape] of expected) {
    const t = byName.get(name);
    if (!t)
      throw new HfConfigError(
        `tensor "${name}" is missing from the weights (config.json says ${s.nLayer} layers, tie_word_embeddings ${s.tieWordEmbeddings})`,
      );
    if (!(HF_DTYPES as readonly string[]).includes(t.dtype))
      throw new HfConfigError(`tensor "${name}" is stored as ${t.dtype}; supported: ${HF_DTYPES.join(', ')}`);
    if (t.shape.length !== shape.length || t.shape.some((x, i) => x !== shape[i])) {
      throw new HfConfigError(`tensor "${name}" has shape [${t.shape.join(', ')}], but config.json (${sizes}) needs [${shape.join(', ')}]`);
    }
  }
  for (const name of byName.keys())
    if (!known.has(name)) throw new HfConfigError(`unexpected tensor "${name}" (not part of a ${s.arch} model with this config.json)`);
}
