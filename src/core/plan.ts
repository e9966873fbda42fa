// A memory plan for a training step of a student (GPT-2, LLaMA/SmolLM2,
// Qwen2; from scratch, LoRA or full fine-tuning): how many bytes the
// weights, the trainable parameters, their gradients, AdamW's moments, the
// activations that the backward needs and the output head take; the largest
// single buffer against WebGPU's per-buffer and per-binding limits; and
// whether it fits. Pure arithmetic over the model config (src/core/config.ts
// holds every parameter name, shape and count; nothing here repeats them):
// no tfjs at run time, so any layer can plan before loading anything.
//
// The figures follow what tfjs does with our model code (src/core/model.ts):
// the step is one tf.tidy; the forward runs under a gradient tape that keeps,
// until the backward ends, every tensor some op's gradient was given (the
// op's saved inputs/outputs, `saved` on the tape) and drops the rest; the
// backward keeps every gradient it forms (tfjs's tape.ts frees none it has
// passed on) and frees them with the saved tensors only when it is done, so
// a step peaks at the end of its backward. What a block keeps is listed,
// tensor by tensor, in blockTensors(), and was measured (see there); the
// gradients are estimated from it (planMemory).
//
// Everything is float32: the trainer creates every variable, frozen or not,
// as float32 (model.ts createVariables), except a LoRA run's frozen
// projections and token tables held in f16 or int8 on WebGPU (base-dtype.ts, baseDtype). With activation recomputation
// (TrainConfig.recompute, model.ts recomputedBlock) a block keeps only its
// input and runs its forward again in the backward: the plan then counts
// that smaller figure (withRecompute), and prints it as an option otherwise.
//
// The figures are the bytes of distinct live buffers (support/buffer-peak.ts
// measures them; tf.memory().numBytes and tf.profile's peakBytes count a
// buffer again for each tensor that views it: a Reshape, a clone the tape
// saves). test/unit/plan-truth.test.ts holds the plan within 20% of a real
// step on wasm; bench/pretrained.ts prints both for the 124M rows. On
// WebGPU, tfjs-backend-webgpu puts a freed tensor's buffer in a pool keyed
// by its size and reuses it for a later tensor of that size; it does not
// destroy it. After a first step of a fixed shape the pool holds about the
// peak, but a buffer of one size never serves another, so the GPU's own
// allocation can be somewhat above these figures.

import {
  archOf,
  checkModelRanges,
  countParams,
  countTrainable,
  dimsOf,
  loraModules,
  paramShapes,
  trainableShapes,
  type ModelConfig,
} from './config';
import { familyOf } from './arch';
import type { GpuLimits } from './limits';
import { projectionBytes, tableBytes, type BaseDtype } from './base-dtype';
import { blockRows, rowWords } from './fused/pack';
import { formatBytes } from '../shared/format';

/** Logits bigger than this (bytes) are computed a chunk of rows at a time. */
const HEAD_CHUNK_BYTES = 32 << 20;

/** Rows per chunk of the head for a batch of `rows` token rows, or 0 when
 * the whole [rows, V] logits are small enough to take at once. */
export function headChunk(vocab: number, rows: number, budget: number = HEAD_CHUNK_BYTES): number {
  if (rows * vocab * 4 <= budget) return 0;
  return Math.max(1, Math.floor(budget / (vocab * 4)));
}

export interface PlanOptions {
  /** For the printed table (default: the architecture and size). */
  name?: string;
  /** The student, with its LoRA setting (absent: every parameter trains). */
  config: ModelConfig;
  /** rows = 2 * questions (two rationales each), seqLen tokens per row. */
  batch: { rows: number; seqLen: number };
  /** Rows of the output head computed at a time by headCrossEntropy
   * (src/core/headLoss.ts); 0: the whole [rows * seqLen, V] logits at once
   * (the trainer's path for a small vocabulary, src/core/trainer.ts
   * headChunk). Default: suggestHeadChunk's for the limits. */
  headChunk?: number;
  /** Rows of each side's KL logits (pairs x answer tokens: the batch's
   * P * S, src/core/batch.ts); default 0 (not counted). */
  klRows?: number;
  /** The device's buffer limits (src/core/limits.ts gpuLimits); absent: no
   * per-buffer limit (cpu, wasm). */
  limits?: GpuLimits;
  /** Memory budget of the whole step, when known. */
  memoryBytes?: number;
  /** Activation recomputation (TrainConfig.recompute): blocks keep only
   * their inputs, and one block is run again at a time in the backward. */
  recompute?: boolean;
  /** How a LoRA run's frozen projections are held (base-dtype.ts; default
   * f32): f16 halves them, int8 quarters them plus a scale a row. */
  baseDtype?: BaseDtype;
  /** Whether our fused kernels run (src/core/fused: WebGPU, fusedOn; default true).
   * Without them (cpu, wasm, WebGL) the plain softmax, and GPT-2's plain
   * LayerNorm and GELU, keep their intermediates too. */
  fused?: boolean;
}

/** Whether our fused kernels (src/core/fused) run on `backend`: WebGPU only
 * (PlanOptions.fused for the plan of a step there). */
export const fusedOn = (backend: string): boolean => backend === 'webgpu';

/** A named tensor (or a group of same-shaped tensors: count) and its bytes. */
export interface PlanTensor {
  name: string;
  shape: number[];
  count: number;
  bytes: number;
  /** Kept only by tfjs: the saving op's gradient reads only its shape (Add,
   * Reshape, Concat, Mean), or computes a gradient nobody uses (LoRA's
   * scale). A framework that saves no more than the gradients need would
   * not keep these. */
  tfjs?: boolean;
}

export interface MemoryPlan {
  name: string;
  options: PlanOptions;
  /** Rows per head chunk; 0: the whole logits at once. */
  headChunk: number;
  /** Whether the output head's matrix trains (full fine-tuning). */
  headTrains: boolean;
  params: {
    /** The pretrained model's parameters (a tied head counted once). */
    base: number;
    /** LoRA adapter parameters (0 without LoRA). */
    lora: number;
    /** What the optimizer updates: lora, or base without LoRA. */
    trainable: number;
  };
  /** Bytes. */
  weights: number;
  trainable: number;
  gradients: number;
  adam: number;
  activations: {
    /** What one block keeps for the backward. */
    perBlock: number;
    /** Of which the gradients need (the rest: kept only by tfjs). */
    perBlockNeeded: number;
    blockTensors: PlanTensor[];
    /** Outside the blocks: embeddings, the final norm, the head's input and
     * what the CE keeps. */
    final: number;
    finalTensors: PlanTensor[];
    /** The KL term's logits rows (klRows). */
    kl: number;
    /** Kept from the end of the forward to the end of the backward. */
    kept: number;
    /** Transient while back-propagating through one block: its gradients
     * (an estimate, not measured). */
    backward: number;
    /** The gradients tfjs holds at the end of the backward (see planMemory;
     * an estimate: the bytes the tape saved). */
    gradientsKept: number;
  };
  head: {
    /** One chunk's [C, V] logits (the whole [N, V] without chunks). */
    chunkLogits: number;
    /** Forward or backward transient of the head: 3 chunks' worth of [C, V]
     * and the hidden states' gradient [N, d] (pieces and their concat). */
    transient: number;
    /** Running-sum copies of the head's [V, d] gradient when it trains. */
    embeddingGrad: number;
    /** The KL term's backward: 4 [M, V] at a time (an estimate). */
    klBackward: number;
    total: number;
  };
  /** AdamW's update of the largest trainable tensor: new p, m, v. */
  optimizer: number;
  /** The peak: max(backward phase, optimizer phase). */
  total: number;
  /** The peak and the activations kept with activation recomputation
   * (only the block inputs kept; one block run again in the backward):
   * `total` when the options ask for it, for comparison otherwise. */
  withRecompute: { kept: number; gradientsKept: number; total: number };
  /** Tensors that may hit a per-buffer limit, largest first (one per
   * distinct shape). */
  buffers: PlanTensor[];
  largest: PlanTensor;
  verdict: { fits: boolean; reasons: string[] };
}

const F32 = 4;
const prod = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);

function tensor(name: string, shape: number[], count = 1, tfjs = false): PlanTensor {
  const t: PlanTensor = { name, shape, count, bytes: count * prod(shape) * F32 };
  if (tfjs) t.tfjs = true;
  return t;
}

/** The adapted projections of one layer (layer 0), from config.ts's table. */
function layerLoraModules(c: ModelConfig): { module: string; in: number; out: number }[] {
  return loraModules({ ...c, nLayer: 1 }).map((m) => ({ ...m, module: m.module.replace(/^(transformer\.h|model\.layers)\.0\./, '') }));
}

/** What the tape keeps of one block until the backward is done, N = rows * T
 * tokens, float32, on WebGPU with our fused kernels (LayerNorm, the causal
 * softmax, GELU: src/core/fused), for the code of src/core/model.ts.
 * Entries marked `tfjs` are kept only by tfjs (see PlanTensor.tfjs).
 *
 * GPT-2 (fused LayerNorm, fused qkv c_attn, GELU MLP):
 *   x, the block input                [fused ln_1: x]
 *   ln_1's output                     [c_attn's product]
 *   c_attn's product before its bias  [tfjs: the bias Add]
 *   q, k, v split, [N, d] each        [tfjs: the Reshape to heads]
 *   q, k, v as heads (transposed)     [scores = q k^T; probs @ v]
 *   the scores [rows, heads, T, T]    [tfjs: the Reshape in front of the
 *                                      fused softmax]
 *   the probabilities [rows, heads, T, T] [softmax backward; probs @ v]
 *   the merged heads [N, d]           [attn.c_proj's product]
 *   attn.c_proj before its bias, its output [tfjs: bias Add; Reshape, residual Add]
 *   x + attention                     [fused ln_2: x]
 *   ln_2's output                     [c_fc's product]
 *   c_fc before its bias [N, I]       [tfjs]
 *   c_fc's output [N, I]              [fused GELU: x]
 *   GELU's output [N, I]              [mlp.c_proj's product]
 *   mlp.c_proj before its bias, its output [tfjs]
 *   = 30 [N, d] + 2 [rows, heads, T, T] with I = 4d (16 + 1 needed)
 *
 * LLaMA / Qwen2 (plain-op RMSNorm, RoPE and SiLU; fused softmax), q = heads *
 * hd, kv = kvHeads * hd:
 *   x; per RMSNorm x^2 [tfjs: Mean], mean(x^2) [N] [tfjs: the eps Add],
 *     mean + eps and rstd [N] each, x * rstd, the output [N, d]
 *   the q, k, v products [N, q], [N, kv] x 2 [tfjs: Reshape to heads]
 *     (Qwen2: and the products before their biases [tfjs])
 *   RoPE of q (and of k, at kv): the heads (transposed) and rotate_half
 *     [the two Muls], the halves [tfjs: Concat], x cos and rot sin [tfjs:
 *     Add], the result [scores]
 *   v as heads [N, kv]                [probs @ v]
 *   grouped-query attention (kvHeads < heads): k and v repeated (broadcastTo)
 *     [N, q] each [the products]; the unrepeated k, v stay [tfjs: Reshape]
 *   the scores [tfjs] and probabilities, as GPT-2's
 *   the merged heads [N, q]           [o_proj's product]
 *   o_proj's output [tfjs]; x + attention [the second RMSNorm]
 *   gate, sigmoid(gate), silu(gate), up, silu(gate) * up [N, I] each
 *   down_proj's output [tfjs]
 *
 * LoRA, per adapted module (y = x W + s (x A^T) B^T, model.ts linear):
 *   x A^T [N, r]                      [B's product]
 *   (x A^T) B^T, its scaled copy, the base output [N, out] each [tfjs: the
 *     Mul by s (its gradient for s), the Add]
 *   the scale s, a scalar             [tfjs]
 *   (A's product reads the module's input, listed above.)
 *
 * Measured on WebGPU (Dawn + SwiftShader; the tape's saved tensors at the
 * start of the backward, unique buffers, variables and inputs left out; a
 * block = 2 layers less 1 layer, the same as 3 less 2) with headCrossEntropy
 * as the loss. This list gives the same bytes exactly:
 *   gpt2 d 64, 2 heads, full:            4 x 32: 1,048,576  4 x 64: 2,228,224
 *   gpt2 + LoRA r 4 c_attn, c_proj:      4 x 32: 1,546,252  4 x 64: 3,223,564
 *   llama d 64, 4 heads / 2 kv, I 176:   4 x 32: 1,387,528  4 x 64: 3,037,192
 *   llama + LoRA r 4 q, k, v, o:         4 x 32: 1,690,648  4 x 64: 3,643,416
 *   llama 4 heads / 4 kv, LoRA r 2 v, down: 4 x 32: 1,668,112  4 x 64: 3,598,352
 *   qwen2 d 64, 4 heads / 1 kv, I 160, LoRA r 8 on all 7: 4 x 32: 2,186,276  4 x 64: 4,634,660
 * With the fused kernels off (cpu, wasm, webgl, setFusedKernels(false)) a
 * block keeps more: GPT-2 2.1x (unfused LayerNorm, GELU and softmax keep
 * their intermediates: full 2,224,428 and 4,694,572 B), LLaMA/Qwen2 5-10%
 * (the plain softmax's scaled and masked scores: llama + LoRA 1,781,032 and
 * 4,004,392 B); not modelled here (those backends have no buffer limits).
 */
export function blockTensors(c: ModelConfig, rows: number, seqLen: number, fused = true): PlanTensor[] {
  const n = rows * seqLen;
  const att = [rows, c.nHead, seqLen, seqLen];
  const out: PlanTensor[] = [];
  const need = (name: string, shape: number[], count = 1): void => void out.push(tensor(name, shape, count));
  const keep = (name: string, shape: number[], count = 1): void => void out.push(tensor(name, shape, count, true));
  familyOf(c).planBlock(c, n, att, need, keep); // the family's block, as listed above
  if (!fused) {
    // cpu, wasm, WebGL: the plain softmax keeps the scaled and the masked
    // scores besides (one more [rows, heads, T, T] than the fused kernel,
    // counted on cpu for GPT-2 and LLaMA); the family's plain norms and GELU
    keep('plain softmax: scaled / masked scores', att);
    familyOf(c).planUnfused?.(c, n, keep, 'block');
  }
  const r = c.lora?.rank ?? 0;
  for (const m of layerLoraModules(c)) {
    need(`LoRA x A^T (${m.module})`, [n, r]);
    keep(`LoRA (x A^T) B^T, scaled, base output (${m.module})`, [n, m.out], 3);
    keep(`LoRA scale (${m.module})`, []);
  }
  return out;
}

/** What the tape keeps outside the blocks: the embedding rows, the final
 * norm, the head's input and what the CE keeps. With chunks (headChunk > 0)
 * headCrossEntropy keeps h (the final norm's output, listed), log-sum-exp
 * [N] and the per-token CE [N]; without, the whole logits [N, V] stay (the
 * CE's input). Measured with the blocks above (1 layer less a block; chunked
 * head): gpt2 4 x 32: 107,520 B, llama/qwen2 4 x 32: 137,732 B, 4 x 64:
 * 275,460 B, as listed. */
export function finalTensors(c: ModelConfig, rows: number, seqLen: number, headChunk: number, fused = true): PlanTensor[] {
  const n = rows * seqLen;
  const out: PlanTensor[] = [];
  const keep = (name: string, shape: number[], count = 1): void => void out.push(tensor(name, shape, count, true));
  familyOf(c).planFinal(c, n, seqLen, (name, shape, count = 1) => void out.push(tensor(name, shape, count)), keep);
  if (!fused) familyOf(c).planUnfused?.(c, n, keep, 'final');
  out.push(tensor('CE log-sum-exp, per-token CE', [n], 2));
  // without chunks the loss over the whole logits (losses.ts mcckdLoss)
  // keeps them, z - max and its exp (counted on cpu)
  if (headChunk === 0) out.push(tensor('logits, z - max, exp (no head chunks)', [n, c.vocabSize], 3));
  return out;
}

/** The KL term over `klRows` rows a side (src/core/losses.ts symmetricKL on
 * headLogitsRows): the rows' hidden states [M, d] x 2 and 9 [M, V] (both
 * sides' logits, log-softmaxes and softmaxes, P - Q, lp - lq and their
 * product), measured: 155,796 B for M 16, V 256, d 64 (this list: 155,776). */
export function klTensors(c: ModelConfig, klRows: number): PlanTensor[] {
  if (klRows <= 0) return [];
  return [
    tensor('KL logits rows, log-softmaxes, softmaxes, differences, product', [klRows, c.vocabSize], 9),
    tensor('KL hidden rows', [klRows, c.nEmbd], 2),
    tensor('KL per-row values', [klRows], 2),
  ];
}

/** The largest head chunk C (rows of [C, V] float32 logits) whose logits fit
 * one binding and one buffer (and `maxBytes`, when given), at most `tokens`
 * (rows * seqLen: no point in more than a step's tokens); a power of two
 * when it is below that; 1 at least. */
export function suggestHeadChunk(vocabSize: number, limits: GpuLimits | undefined, tokens: number, maxBytes = Infinity): number {
  const cap = Math.min(limits?.maxStorageBufferBindingSize ?? Infinity, limits?.maxBufferSize ?? Infinity, maxBytes);
  const fit = Math.floor(cap / (vocabSize * F32));
  if (fit >= tokens) return Math.max(1, tokens);
  let c = 1;
  while (c * 2 <= fit) c *= 2;
  return c;
}

function checkOptions(o: PlanOptions): void {
  checkModelRanges(o.config);
  const ints: [string, number][] = [
    ['batch.rows', o.batch.rows],
    ['batch.seqLen', o.batch.seqLen],
  ];
  for (const [k, v] of ints) if (!Number.isSafeInteger(v) || v < 1) throw new Error(`plan: ${k} must be a positive integer, got ${v}`);
  if (o.headChunk !== undefined && (!Number.isSafeInteger(o.headChunk) || o.headChunk < 0))
    throw new Error(`plan: head chunk must be 0 (no chunks) or a positive integer, got ${o.headChunk}`);
  if (o.klRows !== undefined && (!Number.isSafeInteger(o.klRows) || o.klRows < 0))
    throw new Error(`plan: klRows must be a whole number, got ${o.klRows}`);
  if (o.memoryBytes !== undefined && !(o.memoryBytes > 0)) throw new Error(`plan: memoryBytes must be positive, got ${o.memoryBytes}`);
}

const shapeText = (t: PlanTensor): string => `[${t.shape.join(', ')}]`;
const sum = (ts: PlanTensor[], pick: (t: PlanTensor) => boolean = () => true): number =>
  ts.reduce((a, t) => a + (pick(t) ? t.bytes : 0), 0);

/** A parameter's name for every layer: `model.layers.*.mlp.down_proj.weight`. */
const genericName = (name: string): string => name.replace(/\.(h|layers)\.\d+\./, '.$1.*.');

/** The memory plan of one training step. */
export function planMemory(o: PlanOptions): MemoryPlan {
  checkOptions(o);
  const c = o.config;
  const { rows, seqLen } = o.batch;
  const n = rows * seqLen;
  const { d, inner, tied } = dimsOf(c);
  const V = c.vocabSize;
  const lora = c.lora !== undefined;
  const base = countParams(c);
  const trainableCount = countTrainable(c);
  const headChunk = o.headChunk ?? suggestHeadChunk(V, o.limits, n);
  const klRows = o.klRows ?? 0;
  // the head's matrix (tied embedding or lm_head) trains unless LoRA freezes the base
  const headTrains = !lora;

  // parameters (float32): the frozen base of a LoRA run, what trains, its
  // gradient and AdamW's two moments
  const baseDtype = lora ? (o.baseDtype ?? 'f32') : 'f32';
  const layout = familyOf(c).weightLayout;
  const packedSaving =
    projectionBytes(paramShapes(c), layout, 'f32') -
    projectionBytes(paramShapes(c), layout, baseDtype) +
    tableBytes(paramShapes(c), 'f32') -
    tableBytes(paramShapes(c), baseDtype);
  const weights = lora ? base * F32 - packedSaving : 0;
  const trainable = trainableCount * F32;
  const gradients = trainableCount * F32;
  const adam = 2 * trainableCount * F32;

  // activations
  const fused = o.fused ?? true;
  const bt = blockTensors(c, rows, seqLen, fused);
  const perBlock = sum(bt);
  const perBlockNeeded = sum(bt, (t) => !t.tfjs);
  const ft = finalTensors(c, rows, seqLen, headChunk, fused);
  const final = sum(ft);
  const kt = klTensors(c, klRows);
  const kl = sum(kt);
  const kept = c.nLayer * perBlock + final + kl;
  // back-propagating through one block (an estimate): the scores' and the
  // probabilities' gradients next to the residual gradient and the one being
  // formed, or, in the MLP, the gradients of its [N, I] tensors (3 at once)
  // with those two
  const attFloats = rows * c.nHead * seqLen * seqLen;
  const backward = Math.max(2 * attFloats + 2 * n * d, 3 * n * inner + 2 * n * d) * F32;

  // the head (src/core/headLoss.ts): per chunk at most 3 [C, V] at once
  // (forward: z, z - max, exp; backward: softmax, one-hot, their difference)
  // with the hidden states' gradient (its pieces, then their concat); a
  // trainable head sums its [V, d] gradient chunk by chunk: the previous sum
  // and the chunk's product next to the new sum (that one is counted under
  // gradients). Without chunks: the logits' gradient and its parts, 3 [N, V].
  const chunkLogits = (headChunk === 0 ? n : headChunk) * V * F32;
  const headTransient = 3 * chunkLogits + 2 * n * d * F32;
  const embeddingGrad = headTrains ? 2 * V * d * F32 : 0;
  const klBackward = 4 * klRows * V * F32;
  const head = { chunkLogits, transient: headTransient, embeddingGrad, klBackward, total: headTransient + embeddingGrad };

  // AdamW writes a new p, m and v for each trainable tensor before the old ones go
  const largestTrainable = Math.max(...trainableShapes(c).map(([, s]) => prod(s)));
  const optimizer = 3 * largestTrainable * F32;

  const resident = weights + trainable + gradients + adam;
  // tfjs's backward (tape.ts backpropagateGradients) frees no gradient it
  // has passed on: every op's input gradient stays until the whole backward
  // ends, next to the saved tensors, so the step peaks there. The gradients
  // are those of the tensors on the path from the adapter to the loss; their
  // bytes are about what the tape saved, which are those tensors' inputs and
  // outputs (counted on cpu, LoRA on the attention, a block = 2 layers less
  // 1: GPT-2 0.89x of the saved bytes, LLaMA 1.17x): the plan counts the
  // saved bytes again.
  // Without head chunks the logits' gradients (the CE's one-hot and
  // softmax parts, the KL's rows scattered back, their sums) add 2 [N, V]
  // to the 3 saved (counted on cpu).
  const gradientsKept = kept + (headChunk === 0 ? 2 * n * V * F32 : 0);
  // recomputing each block in the backward (model.ts recomputedBlock): the
  // block inputs stay, and one block's activations exist again at a time;
  // its inner backward frees its own gradients when it ends, so the outer
  // one keeps one [N, d] a block (its output's) and those of the final
  // tensors, and the block being run again adds its saved tensors and about
  // as many gradients
  const keptRe = c.nLayer * n * d * F32 + final + kl;
  const gradientsRe = keptRe; // the gradients of those same tensors
  const withRecompute = {
    kept: keptRe,
    gradientsKept: gradientsRe,
    total: Math.max(
      resident + keptRe + Math.max(head.total, klBackward),
      resident + keptRe + gradientsRe + 2 * perBlock + backward,
      resident + optimizer,
    ),
  };
  const total = o.recompute
    ? withRecompute.total
    : Math.max(resident + kept + Math.max(head.total, klBackward), resident + kept + gradientsKept + backward, resident + optimizer);

  // single buffers: every parameter (in full fine-tuning its gradient and
  // AdamW moments have its size too), each distinct activation shape, the
  // head's chunk and the KL rows
  const embName = familyOf(c).embeddingName;
  const candidates: PlanTensor[] = [];
  const seen = new Set<string>();
  const binding = o.limits?.maxStorageBufferBindingSize;
  for (const [name, shape] of paramShapes(c)) {
    const g = genericName(name);
    if (seen.has(g)) continue;
    seen.add(g);
    const label = name === embName && tied ? `${g} (tied output head)` : g;
    // a packed table (base-dtype.ts addPackedTable): its words [V, d / per
    // word] (int32) whole, or in row blocks over the binding limit
    if (baseDtype !== 'f32' && (name === embName || name === 'lm_head.weight')) {
      const words = rowWords(shape[1], baseDtype);
      const per = Math.max(1, blockRows(shape[0], words * F32, binding ?? Infinity)); // as addPackedTable splits it
      const blocks = per < shape[0] ? `, in ${Math.ceil(shape[0] / per)} row blocks` : '';
      candidates.push(tensor(`${label}, frozen, packed ${baseDtype} words${blocks}`, [per, words]));
      continue;
    }
    // a frozen embedding or head over the binding limit is held in row
    // blocks (model.ts createVariables): each block is the buffer
    if (lora && binding !== undefined && (name === embName || name === 'lm_head.weight') && prod(shape) * F32 > binding) {
      const per = Math.max(1, Math.floor(binding / (shape[1] * F32)));
      candidates.push(tensor(`${label}, frozen, in ${Math.ceil(shape[0] / per)} row blocks`, [per, shape[1]]));
      continue;
    }
    candidates.push(tensor(label, shape));
  }
  const shapes = new Set<string>();
  const acts = [...bt, ...ft, ...kt]
    .filter((t) => t.shape.length > 0)
    .map((t) => tensor(t.name, t.shape))
    .sort((a, b) => b.bytes - a.bytes);
  if (headChunk > 0) acts.unshift(tensor(`a head chunk's logits (C = ${headChunk})`, [headChunk, V]));
  for (const t of acts) {
    const k = t.shape.join(',');
    if (shapes.has(k)) continue;
    shapes.add(k);
    candidates.push(t);
  }
  const buffers = candidates.sort((a, b) => b.bytes - a.bytes);
  const largest = buffers[0];

  const reasons: string[] = [];
  if (o.limits) {
    const { maxBufferSize, maxStorageBufferBindingSize: binding } = o.limits;
    for (const b of buffers) {
      if (b.bytes > maxBufferSize)
        reasons.push(
          `${b.name} ${shapeText(b)} is ${formatBytes(b.bytes)}, over this GPU's ${formatBytes(maxBufferSize)} buffer limit (maxBufferSize)`,
        );
      else if (b.bytes > binding)
        reasons.push(
          `${b.name} ${shapeText(b)} is ${formatBytes(b.bytes)}, over this GPU's ${formatBytes(binding)} per-binding limit (maxStorageBufferBindingSize)`,
        );
    }
  }
  if (o.memoryBytes !== undefined && total > o.memoryBytes)
    reasons.push(`the step's peak, ${formatBytes(total)}, is over the ${formatBytes(o.memoryBytes)} of memory`);
  if (seqLen > c.blockSize) reasons.push(`${seqLen} tokens per row is more than the model's ${c.blockSize} positions`);

  return {
    name: o.name ?? `${archOf(c)} ${c.nLayer} x ${d}`,
    options: o,
    headChunk,
    headTrains,
    params: { base, lora: lora ? trainableCount : 0, trainable: trainableCount },
    weights,
    trainable,
    gradients,
    adam,
    activations: { perBlock, perBlockNeeded, blockTensors: bt, final, finalTensors: ft, kl, kept, backward, gradientsKept },
    head,
    optimizer,
    total,
    withRecompute,
    buffers,
    largest,
    verdict: { fits: reasons.length === 0, reasons },
  };
}

const count = (x: number): string => x.toLocaleString('en-US');

/** How the plan's student trains, in words. */
function trainingText(c: ModelConfig): string {
  return c.lora ? `LoRA r ${c.lora.rank} (alpha ${c.lora.alpha}) on ${c.lora.targets.join(', ')}` : 'every parameter trains';
}

/** A short table of the plan, for a terminal or a page's <pre>. */
export function formatPlan(p: MemoryPlan): string {
  const o = p.options;
  const c = o.config;
  const a = p.activations;
  const head =
    p.headChunk === 0
      ? `whole logits ${count(o.batch.rows * o.batch.seqLen)} x ${count(c.vocabSize)}`
      : `chunks of ${count(p.headChunk)} x ${count(c.vocabSize)}`;
  const rowsOut: [string, number, string][] = [
    [
      `weights (frozen, ${o.baseDtype && o.baseDtype !== 'f32' && c.lora ? `${o.baseDtype} projections and tables` : 'float32'})`,
      p.weights,
      '',
    ],
    ['trainable (float32)', p.trainable, `${count(p.params.trainable)} parameters`],
    ['gradients', p.gradients, ''],
    ['AdamW m, v', p.adam, ''],
    o.recompute
      ? [
          'activations kept',
          p.withRecompute.kept,
          `${c.nLayer} block inputs + final ${formatBytes(a.final)} (recomputation; a block is ${formatBytes(a.perBlock)} again in the backward)`,
        ]
      : [
          'activations kept',
          a.kept,
          `${c.nLayer} x ${formatBytes(a.perBlock)} + final ${formatBytes(a.final)}${a.kl ? ` + KL ${formatBytes(a.kl)}` : ''} (gradients need ${formatBytes(a.perBlockNeeded)} a block)`,
        ],
    o.recompute
      ? ['gradients kept', p.withRecompute.gradientsKept, 'block outputs and final (tfjs frees them when the backward ends; estimate)']
      : ['gradients kept', a.gradientsKept, 'about the saved bytes again (tfjs frees them when the backward ends; estimate)'],
    ['block backward', a.backward, "one block's gradients (estimate)"],
    ['head + CE', p.head.total, `${head}${p.head.embeddingGrad ? ', head gradient sums' : ', head frozen'}`],
    ...(p.head.klBackward
      ? [['KL backward', p.head.klBackward, `4 x [${count(o.klRows ?? 0)}, ${count(c.vocabSize)}] (estimate)`] as [string, number, string]]
      : []),
    ['optimizer step', p.optimizer, 'largest trainable tensor: new p, m, v'],
    ['peak', p.total, o.memoryBytes !== undefined ? `budget ${formatBytes(o.memoryBytes)}` : ''],
  ];
  const lim = o.limits
    ? `limits: binding ${formatBytes(o.limits.maxStorageBufferBindingSize)}, buffer ${formatBytes(o.limits.maxBufferSize)}`
    : 'no buffer limits';
  const lines = [
    `${p.name}: ${count(p.params.base)} parameters, ${trainingText(c)}`,
    `  ${o.batch.rows} rows x ${o.batch.seqLen} tokens${o.klRows ? `, KL ${count(o.klRows)} rows a side` : ''}`,
    ...rowsOut.map(([k, v, note]) => `  ${k.padEnd(26)}${formatBytes(v).padStart(10)}${note ? `   ${note}` : ''}`),
    o.recompute
      ? '  recomputation on (--recompute)'
      : `  with recomputation (--recompute): peak ${formatBytes(p.withRecompute.total)}, activations kept ${formatBytes(p.withRecompute.kept)}`,
    `  largest buffer: ${p.largest.name} ${shapeText(p.largest)} ${formatBytes(p.largest.bytes)} (${lim})`,
    `  fits: ${p.verdict.fits ? 'yes' : 'no'}`,
    ...p.verdict.reasons.map((r) => `    - ${r}`),
  ];
  return lines.join('\n');
}

/** Students we plan for, as their config.json reads (src/hf/config.ts
 * studentConfig: GPT-2 keeps its 1,024 learned positions; LLaMA-family
 * students train with at most 2,048), without LoRA; `params` is the count
 * their model cards give. */
export const REFERENCE_MODELS: { name: string; params: number; config: ModelConfig }[] = [
  {
    name: 'GPT-2 124M',
    params: 124_439_808,
    config: {
      arch: 'gpt2',
      vocabSize: 50_257,
      blockSize: 1024,
      nLayer: 12,
      nHead: 12,
      nEmbd: 768,
      layerNormEps: 1e-5,
      tieWordEmbeddings: true,
    },
  },
  {
    name: 'SmolLM2-135M',
    params: 134_515_008,
    config: {
      arch: 'llama',
      vocabSize: 49_152,
      blockSize: 2048,
      nLayer: 30,
      nHead: 9,
      nKvHead: 3,
      nEmbd: 576,
      intermediateSize: 1536,
      layerNormEps: 1e-5,
      ropeTheta: 100_000,
      tieWordEmbeddings: true,
    },
  },
  {
    name: 'Qwen2.5-0.5B',
    params: 494_032_768,
    config: {
      arch: 'qwen2',
      vocabSize: 151_936,
      blockSize: 2048,
      nLayer: 24,
      nHead: 14,
      nKvHead: 2,
      nEmbd: 896,
      intermediateSize: 4864,
      layerNormEps: 1e-6,
      ropeTheta: 1_000_000,
      tieWordEmbeddings: true,
    },
  },
];

// ---- the plan as `mcckd train` and the Student step show it ----

/** Answer tokens per question assumed for the KL term when the caller does
 * not know the batch's span (GSM8K-style answers: a few digits and the end
 * token). */
export const ASSUMED_ANSWER_TOKENS = 8;

export interface DescribePlanOptions {
  /** Token rows of a step: 2 * questions (two rationales each). */
  rows: number;
  /** Tokens per row: the longest training sequence (at most blockSize). */
  seqLen: number;
  /** The device's limits (gpuLimits()); absent: no per-buffer limit. */
  limits?: GpuLimits;
  /** Memory the step may use, when known (WebGPU does not tell). */
  memoryBytes?: number;
  /** A LoRA run's frozen projections: f32 (default), f16 or int8. */
  baseDtype?: BaseDtype;
  /** KL rows a side (pairs x answer tokens); default rows / 2 *
   * ASSUMED_ANSWER_TOKENS. */
  klRows?: number;
  /** The model's name in the text. */
  name?: string;
  /** Activation recomputation (TrainConfig.recompute). */
  recompute?: boolean;
  /** Whether our fused kernels run (PlanOptions.fused; default true). */
  fused?: boolean;
}

/** The plan of one step of `config` (with its LoRA setting) at `rows` x
 * `seqLen`, with the trainer's head chunks (src/core/plan.ts headChunk):
 * the printed table, whether it fits, why not, and the peak (bytes). Throws a
 * ConfigRangeError for a config out of range. */
export function describePlan(
  config: ModelConfig,
  o: DescribePlanOptions,
): { text: string; fits: boolean; reasons: string[]; peak: number } {
  const klRows = o.klRows ?? Math.ceil(o.rows / 2) * ASSUMED_ANSWER_TOKENS;
  const plan = planMemory({
    ...(o.name !== undefined ? { name: o.name } : {}),
    config,
    batch: { rows: o.rows, seqLen: o.seqLen },
    headChunk: headChunk(config.vocabSize, o.rows * o.seqLen),
    klRows,
    ...(o.limits ? { limits: o.limits } : {}),
    ...(o.memoryBytes !== undefined ? { memoryBytes: o.memoryBytes } : {}),
    ...(o.recompute ? { recompute: true } : {}),
    ...(o.baseDtype ? { baseDtype: o.baseDtype } : {}),
    ...(o.fused === false ? { fused: false } : {}),
  });
  const assumed = o.klRows === undefined ? ` (KL term: ${ASSUMED_ANSWER_TOKENS} answer tokens a question assumed)` : '';
  return { text: `memory plan${assumed}:\n${formatPlan(plan)}`, fits: plan.verdict.fits, reasons: plan.verdict.reasons, peak: plan.total };
}
