// What one model family (an entry of the registry, src/core/arch/index.ts)
// knows about itself: its Hugging Face names, how its config.json reads, its
// tensors and their initialisation, its block forward, its LoRA layout, its
// GGUF form and its memory plan. Everything else (attention core, KV cache,
// LoRA linear, head, recomputation, optimizer) is shared and generic.

import type * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../records';
import type { Ctx, LayerCache } from '../layers';

/** A model config without the two fields every family has the same way. */
export type FamilyConfig = Omit<ModelConfig, 'arch' | 'vocabSize' | 'lora'>;

/** config.json reading helpers (src/hf/config.ts builds one per file): each
 * refuses with an HfConfigError naming the field. `limit` names a bound of
 * HF_LIMITS (the core's MODEL_LIMITS, by the field it sizes). */
export interface HfReader {
  fail(msg: string): never;
  int(key: string, limit: 'hiddenSize' | 'nLayer' | 'nHead' | 'intermediateSize' | 'maxPositions'): number;
  positive(key: string, fallback?: number): number;
  /** Positions a RoPE student trains and generates with at most (HF_MAX_BLOCK). */
  maxBlock: number;
}

/** Our config field -> its config.json field, quoted (with a note where the
 * value is derived from it). */
export type HfFields = Partial<Record<keyof ModelConfig, string>>;

/** What a family reads from config.json (vocab and special tokens are
 * read the same for every family, in src/hf/config.ts). */
export interface HfRead {
  config: FamilyConfig;
  maxPositions: number; // the config's own context length (blockSize may be smaller)
  qkvBias: boolean; // whether the q/k/v projections have biases
}

/** How a parameter starts in a from-scratch model (drawn in table order
 * from the seeded RNG; 'normal' and 'residual' draw, the others do not). */
export type InitRule = 'zeros' | 'ones' | 'normal' | 'residual';

/** A tensor the plan lists (src/core/plan.ts turns these into bytes). */
export type PlanAdd = (name: string, shape: number[], count?: number) => void;

export interface GgufFamily {
  arch: string; // general.architecture in llama.cpp
  /** Why llama.cpp would compute this config differently from us (naming
   * the Hugging Face field), or undefined when it computes the same: what
   * llama.cpp hard-codes for an architecture instead of reading it. */
  refuse?(c: ModelConfig): string | undefined;
  /** The weights under llama.cpp's names, row-major as ggml reads them
   * ([out, in] for every matrix); `take` reads one of ours, checking its shape. */
  tensors(
    c: ModelConfig,
    take: (name: string, shape: number[]) => Float32Array,
    add: (name: string, shape: number[], data: Float32Array) => void,
  ): void;
  /** The architecture's hyper-parameters after the common ones (keys without the `<arch>.` prefix). */
  hparams(c: ModelConfig): [string, 'u32' | 'f32', number][];
}

export interface ArchFamily<Name extends string = string> {
  /** Our id, stored in checkpoints as ModelConfig.arch. */
  name: Name;
  /** config.json's "architectures"[0] and "model_type". */
  hfArchitecture: string;
  modelType: string;
  /** config.json -> our config; refusals name the HF field. */
  readHf(c: Record<string, unknown>, r: HfReader): HfRead;
  /** The config.json field each of our config fields is read from, as the
   * range refusals name it (src/hf/config.ts checks what readHf gives
   * against the core's limits before a weight is read). */
  hfFields: HfFields;
  /** The config fields a stored tensor's shape comes from, for errors. */
  hfSizes(c: ModelConfig): string;
  /** Stored tensors that carry no parameter (buffers); a tied head's copy is handled generically. */
  isIgnoredTensor(name: string): boolean;
  /** A stored name in our table's spelling. */
  canonicalName(name: string): string;
  /** Every base parameter but an untied lm_head, in a fixed order, with shapes as Hugging Face stores them. */
  paramShapes(c: ModelConfig): [string, number[]][];
  /** paramShapes' total in closed form (a checkpoint's config is weighed before any table is built). */
  paramCount(c: ModelConfig): number;
  initRule(name: string): InitRule;
  /** Family-specific config checks (after the generic ranges); `bad` throws naming the field. */
  check(c: ModelConfig, bad: (field: string, msg: string) => never): void;
  /** LoRA: the projections PEFT can target, the default targets, and the
   * weight layout (Conv1D [in, out] or nn.Linear [out, in]). */
  loraModules: readonly string[];
  defaultLoraTargets: readonly string[];
  weightLayout: 'in-out' | 'out-in';
  /** The token embedding [V, d] (also the tied head). */
  embeddingName: string;
  /** Prefix of block i's parameter names (with the trailing dot). */
  blockPrefix(i: number): string;
  /** Embedding rows x [R, t, d] -> the first block's input; sets the
   * call's position tables on k (`host` tables when blocks are recomputed). */
  embed(x: tf.Tensor3D, k: Ctx, pLen: number, recompute: boolean): tf.Tensor3D;
  block(x: tf.Tensor3D, k: Ctx, i: number, past?: LayerCache): { x: tf.Tensor3D; cache: LayerCache };
  finalNorm(x: tf.Tensor3D, k: Ctx): tf.Tensor3D;
  /** Activations one block keeps for the backward (`keep`) or holds at its
   * peak (`need`), as measured (src/core/plan.ts blockTensors). */
  planBlock(c: ModelConfig, n: number, att: number[], need: PlanAdd, keep: PlanAdd): void;
  /** The same outside the blocks, before the head (plan.ts finalTensors). */
  planFinal(c: ModelConfig, n: number, seqLen: number, need: PlanAdd, keep: PlanAdd): void;
  /** What a block (`final`: the final norm) keeps besides, where our fused
   * kernels do not run (cpu, wasm, WebGL) and the family's plain ops keep
   * their intermediates (measured; plan.ts blockTensors). Absent: nothing
   * beyond the plain softmax's scores, which plan.ts counts for every family. */
  planUnfused?(c: ModelConfig, n: number, keep: PlanAdd, where: 'block' | 'final'): void;
  gguf: GgufFamily;
}

/** Keeps the family's literal name in its type (the registry derives Arch from it). */
export const defineFamily = <const N extends string>(f: ArchFamily<N>): ArchFamily<N> => f;
