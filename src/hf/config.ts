// A Hugging Face model folder's config.json, read into one plain record (the
// student's architecture) and the table of tensors that the folder must hold.
// Everything unsupported or inconsistent is refused here, naming the field,
// before a byte of weights is read or a tensor allocated.

import { paramShapes, type ModelConfig } from '../core/config';

/** The architectures we can train: GPT2LMHeadModel, LlamaForCausalLM (SmolLM2,
 * TinyLlama) and Qwen2ForCausalLM (LLaMA plus q/k/v biases). */
export type HfArch = 'gpt2' | 'llama' | 'qwen2';

export interface HfModelSpec {
  arch: HfArch;
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
}

export class HfConfigError extends Error {
  override readonly name = 'HfConfigError';
}

/** Upper bounds that keep a hostile config from making us allocate or loop
 * without end; real models of the sizes we can train are far below them
 * (Qwen2.5-0.5B: vocab 151,936, hidden 896, 24 layers, 32k positions). */
export const HF_LIMITS = { vocabSize: 262_144, hiddenSize: 16_384, nLayer: 256, nHead: 256, intermediateSize: 65_536, maxPositions: 1_048_576 } as const;

const ARCHITECTURES: Record<string, HfArch> = { GPT2LMHeadModel: 'gpt2', LlamaForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2' };

type Json = Record<string, unknown>;

const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

function fail(msg: string): never {
  throw new HfConfigError(`config.json: ${msg}`);
}

function int(c: Json, key: string, max: number): number {
  const v = c[key];
  if (!Number.isSafeInteger(v) || (v as number) < 1) fail(`"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  if ((v as number) > max) fail(`"${key}" is ${v as number}, more than ${max} (not a model this app can train)`);
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
  for (const id of ids) if (!Number.isSafeInteger(id) || id < 0 || id >= vocab) fail(`"${key}" must be token ids below vocab_size ${vocab}, got ${JSON.stringify(v)}`);
  return ids as number[];
}

/** The settings that change the math in ways we do not implement: refused
 * rather than silently computed otherwise. */
function refuseUnsupported(c: Json, arch: HfArch): void {
  if (arch === 'gpt2') {
    const act = c.activation_function ?? 'gelu_new';
    if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') fail(`"activation_function" ${JSON.stringify(act)} is not supported (only gelu_new)`);
    if (c.n_inner !== undefined && c.n_inner !== null && c.n_inner !== 4 * (c.n_embd as number)) fail(`"n_inner" ${JSON.stringify(c.n_inner)} is not supported (only null, 4 * n_embd)`);
    for (const k of ['scale_attn_by_inverse_layer_idx', 'reorder_and_upcast_attn', 'add_cross_attention']) if (c[k] === true) fail(`"${k}": true is not supported`);
    if (c.scale_attn_weights === false) fail('"scale_attn_weights": false is not supported');
    return;
  }
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) fail(`"rope_scaling" is set (${JSON.stringify(c.rope_scaling)}): scaled RoPE is not supported`);
  if ((c.hidden_act ?? 'silu') !== 'silu') fail(`"hidden_act" ${JSON.stringify(c.hidden_act)} is not supported (only silu)`);
  if (arch === 'llama') {
    if (c.attention_bias === true) fail('"attention_bias": true is not supported');
    if (c.mlp_bias === true) fail('"mlp_bias": true is not supported');
  }
  if (arch === 'qwen2' && c.use_sliding_window === true) fail('"use_sliding_window": true is not supported');
}

/** Reads config.json (parsed JSON) into the spec; refuses, naming the field. */
export function parseHfConfig(raw: unknown): HfModelSpec {
  if (!isObj(raw)) fail('must be a JSON object');
  const c = raw;
  const archs = c.architectures;
  const named = Array.isArray(archs) && archs.length === 1 && typeof archs[0] === 'string' ? archs[0] : undefined;
  const arch = named !== undefined && Object.hasOwn(ARCHITECTURES, named) ? ARCHITECTURES[named] : undefined;
  if (!arch) fail(`"architectures" ${JSON.stringify(archs)} (model_type ${JSON.stringify(c.model_type)}) is not supported (one of ${Object.keys(ARCHITECTURES).join(', ')})`);
  if (c.model_type !== arch) fail(`"model_type" ${JSON.stringify(c.model_type)} does not match "architectures" (${named}: "${arch}")`);
  refuseUnsupported(c, arch);
  const vocabSize = int(c, 'vocab_size', HF_LIMITS.vocabSize);
  if (arch === 'gpt2') {
    const hiddenSize = int(c, 'n_embd', HF_LIMITS.hiddenSize);
    const nHead = int(c, 'n_head', HF_LIMITS.nHead);
    if (hiddenSize % nHead !== 0) fail(`"n_embd" ${hiddenSize} is not divisible by "n_head" ${nHead}`);
    return {
      arch, vocabSize, hiddenSize, nLayer: int(c, 'n_layer', HF_LIMITS.nLayer), nHead, nKvHead: nHead, headDim: hiddenSize / nHead,
      intermediateSize: 4 * hiddenSize, maxPositions: int(c, 'n_positions', HF_LIMITS.maxPositions), normEps: positive(c, 'layer_norm_epsilon', 1e-5),
      tieWordEmbeddings: c.tie_word_embeddings !== false, qkvBias: true,
      ...(c.bos_token_id !== undefined && c.bos_token_id !== null ? { bosTokenId: tokenIds(c.bos_token_id, 'bos_token_id', vocabSize)[0] } : {}),
      eosTokenIds: tokenIds(c.eos_token_id, 'eos_token_id', vocabSize),
    };
  }
  const hiddenSize = int(c, 'hidden_size', HF_LIMITS.hiddenSize);
  const nHead = int(c, 'num_attention_heads', HF_LIMITS.nHead);
  const nKvHead = c.num_key_value_heads === undefined || c.num_key_value_heads === null ? nHead : int(c, 'num_key_value_heads', HF_LIMITS.nHead);
  if (nHead % nKvHead !== 0) fail(`"num_attention_heads" ${nHead} is not a multiple of "num_key_value_heads" ${nKvHead}`);
  const headDim = c.head_dim === undefined || c.head_dim === null ? hiddenSize / nHead : int(c, 'head_dim', HF_LIMITS.hiddenSize);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) fail(`the head size (${headDim}: "hidden_size" / "num_attention_heads" or "head_dim") must be an even integer for RoPE`);
  if (headDim * nHead !== hiddenSize) fail(`"head_dim" ${headDim} times "num_attention_heads" ${nHead} is not "hidden_size" ${hiddenSize} (not supported)`);
  return {
    arch, vocabSize, hiddenSize, nLayer: int(c, 'num_hidden_layers', HF_LIMITS.nLayer), nHead, nKvHead, headDim,
    intermediateSize: int(c, 'intermediate_size', HF_LIMITS.intermediateSize), maxPositions: int(c, 'max_position_embeddings', HF_LIMITS.maxPositions),
    normEps: positive(c, 'rms_norm_eps', 1e-6), ropeTheta: positive(c, 'rope_theta', 10_000),
    tieWordEmbeddings: c.tie_word_embeddings === true, qkvBias: arch === 'qwen2',
    ...(c.bos_token_id !== undefined && c.bos_token_id !== null ? { bosTokenId: tokenIds(c.bos_token_id, 'bos_token_id', vocabSize)[0] } : {}),
    eosTokenIds: tokenIds(c.eos_token_id, 'eos_token_id', vocabSize),
  };
}

/** Positions a LLaMA-family student trains and generates with: RoPE has no
 * table to size, and rationales are far shorter; longer contexts would only
 * let a run plan activations it cannot hold. */
export const HF_MAX_BLOCK = 2048;

/** The student's model config for a folder's spec: the same record (and the
 * same forward code) as our from-scratch GPT, with the architecture's
 * fields. GPT-2 keeps all its learned positions (wpe is stored). */
export function studentConfig(s: HfModelSpec): ModelConfig {
  const c: ModelConfig = {
    arch: s.arch,
    vocabSize: s.vocabSize,
    blockSize: s.arch === 'gpt2' ? s.maxPositions : Math.min(s.maxPositions, HF_MAX_BLOCK),
    nLayer: s.nLayer,
    nHead: s.nHead,
    nEmbd: s.hiddenSize,
    layerNormEps: s.normEps,
    tieWordEmbeddings: s.tieWordEmbeddings,
  };
  if (s.arch !== 'gpt2') Object.assign(c, { nKvHead: s.nKvHead, intermediateSize: s.intermediateSize, ropeTheta: s.ropeTheta });
  return c;
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
  if (s.arch === 'gpt2') return /(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/.test(name) || (name === 'lm_head.weight' && s.tieWordEmbeddings);
  return /\.rotary_emb\.inv_freq$/.test(name) || (name === 'lm_head.weight' && s.tieWordEmbeddings);
}

/** A stored name in our table's spelling: GPT-2 folders saved from the base
 * model (as the hub's gpt2) lack the `transformer.` prefix. */
export function canonicalName(name: string, s: HfModelSpec): string {
  return s.arch === 'gpt2' && !name.startsWith('transformer.') && name !== 'lm_head.weight' ? `transformer.${name}` : name;
}

/** Parameters of the model as it trains (the tied head counted once). */
export function hfParamCount(s: HfModelSpec): number {
  return hfTensorShapes(s).reduce((sum, [, shape]) => sum + shape.reduce((a, b) => a * b, 1), 0);
}

/** dtypes a folder may store its weights in (converted to float32 on load). */
export const HF_DTYPES = ['F32', 'F16', 'BF16'] as const;

/** Checks the tensors a folder stores (names, dtypes and shapes from the
 * safetensors headers, before any data is read) against the config: every
 * parameter present with its shape, nothing unexpected. Refuses naming the
 * tensor, and the config fields its shape comes from. */
export function checkStoredTensors(s: HfModelSpec, stored: ReadonlyMap<string, { dtype: string; shape: readonly number[] }>): void {
  const sizes =
    s.arch === 'gpt2'
      ? `n_embd ${s.hiddenSize}, n_positions ${s.maxPositions}, vocab_size ${s.vocabSize}`
      : `hidden_size ${s.hiddenSize}, intermediate_size ${s.intermediateSize}, num_attention_heads ${s.nHead}, num_key_value_heads ${s.nKvHead}, vocab_size ${s.vocabSize}`;
  const byName = new Map<string, { dtype: string; shape: readonly number[] }>();
  for (const [name, t] of stored) {
    if (isIgnoredTensor(name, s)) continue;
    byName.set(canonicalName(name, s), t);
  }
  const expected = hfTensorShapes(s);
  const known = new Set(expected.map(([n]) => n));
  for (const [name, shape] of expected) {
    const t = byName.get(name);
    if (!t) throw new HfConfigError(`tensor "${name}" is missing from the weights (config.json says ${s.nLayer} layers, tie_word_embeddings ${s.tieWordEmbeddings})`);
    if (!(HF_DTYPES as readonly string[]).includes(t.dtype)) throw new HfConfigError(`tensor "${name}" is stored as ${t.dtype}; supported: ${HF_DTYPES.join(', ')}`);
    if (t.shape.length !== shape.length || t.shape.some((x, i) => x !== shape[i])) {
      throw new HfConfigError(`tensor "${name}" has shape [${t.shape.join(', ')}], but config.json (${sizes}) needs [${shape.join(', ')}]`);
    }
  }
  for (const name of byName.keys()) if (!known.has(name)) throw new HfConfigError(`unexpected tensor "${name}" (not part of a ${s.arch} model with this config.json)`);
}
