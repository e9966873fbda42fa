// The pretrained-shaped bench models: GPT-2 124M and SmolLM2-135M with their
// real shapes and random weights (initParams), a LoRA adapter on the
// attention projections, one batch shape. Shared by bench/pretrained.ts (the
// orchestrator, and the PyTorch side's case) and bench/pretrained-measure.ts
// (one row in a child process). No node:* imports.
import { DEFAULT_LORA_TARGETS, archOf, type LoraConfig, type ModelConfig } from '../src/core/config';
import { fusedOn, headChunk, planMemory, type MemoryPlan } from '../src/core/plan';
import type { BaseDtype } from '../src/core/base-dtype-choice';
import { baseDtypeOf } from '../src/cli/base-dtype';
import type { HostBatch } from '../src/core/batch';
import type { EncodedExample, StudentTokenizer } from '../src/core/tokenizer';
import type { Shape } from '../support/synthetic';

export interface BenchModel {
  config: ModelConfig;
  /** What the shape is (for the report). */
  about: string;
  /** A check shape for the scripts' dry runs (SwiftShader), not a bench
   * model: run only when named. */
  check?: boolean;
}

export const BENCH_MODELS: Record<string, BenchModel> = {
  // openai-community/gpt2: n_positions 1024 sizes wpe, so it stays 1024
  'gpt2-124m': {
    about: 'GPT-2 124M: vocab 50257, 1024 positions, 12 layers x 768 (12 heads), tied head',
    config: {
      arch: 'gpt2',
      vocabSize: 50257,
      blockSize: 1024,
      nLayer: 12,
      nHead: 12,
      nEmbd: 768,
      layerNormEps: 1e-5,
      tieWordEmbeddings: true,
    },
  },
  // HuggingFaceTB/SmolLM2-135M: RoPE has no position table, so blockSize
  // only bounds the batch (the real model has 8192)
  'smollm2-135m': {
    about: 'SmolLM2-135M: llama, vocab 49152, 30 layers x 576 (9 heads, 3 kv), MLP 1536, rope 1e5, tied head',
    config: {
      arch: 'llama',
      vocabSize: 49152,
      blockSize: 256,
      nLayer: 30,
      nHead: 9,
      nKvHead: 3,
      nEmbd: 576,
      intermediateSize: 1536,
      ropeTheta: 100_000,
      layerNormEps: 1e-5,
      tieWordEmbeddings: true,
    },
  },
  // GPT-2's layout (Conv1D projections, learned positions, tied head) at a
  // size SwiftShader steps in seconds: scripts/device/gpu-bench.sh --dry-run's
  // pretrained rows (every base dtype), never a bench figure
  'gpt2-tiny': {
    about: 'GPT-2 layout, tiny: vocab 512, 128 positions, 2 layers x 64 (2 heads), tied head (a dry-run check shape)',
    check: true,
    config: {
      arch: 'gpt2',
      vocabSize: 512,
      blockSize: 128,
      nLayer: 2,
      nHead: 2,
      nEmbd: 64,
      layerNormEps: 1e-5,
      tieWordEmbeddings: true,
    },
  },
};

/** The bench's models (what --pretrained-models means by default): the real
 * shapes, not the check shapes. */
export const BENCH_MODEL_NAMES = Object.keys(BENCH_MODELS).filter((m) => !BENCH_MODELS[m].check);

/** bench/pretrained-measure.ts's --base-dtype for a row on `backend` (a
 * bench backend name: wasm, webgpu, webgpu-unfused, ...): f32 when not given
 * (the bench's rows stay comparable with earlier reports), f16 / int8 only on
 * webgpu, whose fused WGSL kernels read the packed base. */
export const benchBaseDtype = (v: string | undefined, backend: string): BaseDtype => baseDtypeOf(v ?? 'f32', backend);

/** Batch 2 x 128: one question, two rationale rows of 128 tokens. */
export const BENCH_SHAPE: Shape = { questions: 1, time: 128 };
/** A fixed learning rate (both sides): the step's cost does not depend on it. */
export const BENCH_LR = 1e-3;

/** LoRA r 8, alpha 16 on the architecture's attention projections (PEFT's
 * default-like choice: gpt2 c_attn + c_proj, which PEFT matches in the MLP
 * too; llama q/k/v/o_proj). */
export function benchLora(c: ModelConfig): LoraConfig {
  return { rank: 8, alpha: 16, targets: [...DEFAULT_LORA_TARGETS[archOf(c)]] };
}

/** The planner's plan for a row: the trainer's head chunks, the batch's KL
 * rows, fused kernels where they run (WebGPU, not webgpu-unfused); its
 * `total` is the step's peak and its `weights` the frozen base's bytes as
 * held in `baseDtype`. */
export function plannedMemory(
  c: ModelConfig,
  lora: LoraConfig,
  b: HostBatch,
  o: { recompute: boolean; backend: string; baseDtype?: BaseDtype },
): MemoryPlan {
  return planMemory({
    config: { ...c, lora },
    batch: { rows: b.rows, seqLen: b.time },
    headChunk: headChunk(c.vocabSize, b.rows * b.time),
    klRows: b.pairs * b.span,
    recompute: o.recompute,
    fused: fusedOn(o.backend), // not on webgpu-unfused
    ...(o.baseDtype ? { baseDtype: o.baseDtype } : {}),
  });
}

/** The bench feeds token ids itself: a tokenizer of the right size that
 * never sees text. */
export function idTokenizer(vocabSize: number): StudentTokenizer {
  const none = (): never => {
    throw new Error('the bench tokenizer does not encode text');
  };
  return {
    vocabSize,
    eosId: 1,
    padId: 0,
    encode: none,
    promptIds: none,
    example: none as (prompt: string, r: { text: string; answerStart: number; answerEnd: number }) => EncodedExample,
    decode: (ids) => ids.join(' '),
    tokenLabel: (id) => String(id),
  };
}

/** One row of the report: a model on a backend (ours or PyTorch), or why it
 * could not run. */
export type PretrainedRow = {
  model: string;
  backend: string;
  adapter?: string | null;
  losses?: number[];
  unavailable?: boolean;
  vulkan?: string;
  note?: string;
  /** Ours: how the built model holds its frozen base (src/core/base-dtype.ts
   * heldBaseDtype); a row that failed: the dtype it was asked for. */
  baseDtype?: BaseDtype;
} & (
  | { error: string }
  | {
      arch: string;
      params: number;
      trainable: number;
      lora: LoraConfig;
      batch: { rows: number; time: number; tokens: number };
      initMs: number;
      firstStepMs: number;
      msPerStep: number;
      msPerStepAll: number[];
      /** Median CPU time of the process per timed step (a shared machine's load disturbs it less than wall time). */
      cpuMsPerStep?: number | null;
      tokensPerSecond: number;
      kernelsPerStep: number | null;
      gpuProgramsPerStep: number | null;
      /** tf.memory().numBytes once the weights are on the device (PyTorch: null). */
      residentBytes: number | null;
      /** tf.profile's peak tensor bytes during one step, weights included
       * (PyTorch: the process's peak RSS, a different measure). */
      peakBytes: number;
      tensorGrowth: number | null;
      /** CPU threads: wasm's own count, 1 for cpu, null on a GPU; PyTorch: torch.get_num_threads(). */
      threads?: number | null;
      /** The peak bytes of distinct tensor buffers over the profiled step
       * (support/buffer-peak.ts; tf.profile's peakBytes counts a buffer once
       * per tensor viewing it), resident weights and AdamW state included. */
      bufferPeakBytes?: number;
      /** src/core/plan.ts planMemory's peak for the same model, LoRA, batch,
       * recompute, base dtype and fused kernels (counted the same way). */
      plannedBytes?: number;
      /** Ours: the frozen base's device bytes as built: the bytes of every
       * variable the forward reads that does not train (4 bytes an element,
       * float32 values or int32 packed words, as tfjs allocates them). */
      baseBytes?: number;
      /** Ours: tf.memory().numBytes after the trainer is built minus before
       * (the base, the adapter, AdamW's moments and its scalar). */
      builtBytes?: number;
      /** Ours: the planner's bytes of the frozen weights in the same dtype (planMemory's weights). */
      plannedBaseBytes?: number;
      /** Our rows with TrainConfig.recompute. */
      recompute?: boolean;
      /** The wasm heap after the steps (wasm rows; null elsewhere). */
      wasmHeapBytes?: number | null;
      /** PyTorch rows: its version, its build (pip wheel or Debian's), and what ran the step. */
      torch?: string;
      torchBuild?: 'wheel' | 'debian' | 'other';
      impl?: string;
      attention?: string;
    }
);
