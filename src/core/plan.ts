// A memory plan for training a pretrained student (GPT-2, LLaMA/SmolLM2,
// Qwen2) with LoRA or full fine-tuning: how many bytes the weights, the
// trainable parameters, their gradients, AdamW's moments, the activations
// that the backward needs, and the output head take; the largest single
// buffer against WebGPU's per-buffer and per-binding limits; and whether it
// fits. Pure arithmetic: no tfjs, so the UI can plan before loading anything.
//
// The figures are estimates of tfjs's behaviour: the step is one tf.tidy;
// the forward runs under a gradient tape that keeps, until the backward ends,
// every tensor some op's gradient needs (the op's saved inputs/outputs) and
// drops the rest; the backward frees each gradient once it has been passed
// on. What a block keeps is listed, tensor by tensor, in blockTensors().

import { formatBytes } from '../shared/format';

export type PlanArch = 'gpt2' | 'llama' | 'qwen2';

/** The architecture's shape; src/hf/config.ts's HfModelSpec has these fields. */
export interface PlanShape {
  arch: PlanArch;
  vocabSize: number;
  hiddenSize: number;
  nLayer: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
  intermediateSize: number;
  tieWordEmbeddings: boolean;
  qkvBias: boolean;
  maxPositions: number;
}

export interface PlanLora {
  /** 0: full fine-tuning (every parameter trains); otherwise the LoRA rank
   * (only the adapters train; the base model is frozen). */
  rank: number;
  /** Module names as PEFT's target_modules spells them: gpt2 c_attn, c_proj
   * (both the attention's and the MLP's, as in PEFT), c_fc, or one of them
   * qualified: attn.c_proj, mlp.c_proj; llama/qwen2 q_proj k_proj v_proj
   * o_proj gate_proj up_proj down_proj. */
  targets: string[];
}

export interface PlanLimits {
  /** GPUBuffer size limit (WebGPU maxBufferSize; the default is 256 MiB). */
  maxBufferSize: number;
  /** The most one shader binding may see (WebGPU maxStorageBufferBindingSize,
   * default 128 MiB). tfjs binds every tensor whole, so no tensor may be larger. */
  maxStorageBufferBindingSize: number;
  /** Memory budget for the whole step, when known. */
  memoryBytes?: number;
}

export interface PlanOptions {
  /** For the printed table. */
  name?: string;
  shape: PlanShape;
  lora: PlanLora;
  /** rows = 2 * questions (two rationales each), seqLen tokens per row. */
  batch: { rows: number; seqLen: number };
  /** Rows of the output head computed at a time (src/core/headLoss.ts);
   * default: suggestHeadChunk's. */
  headChunk?: number;
  /** Recompute each block in the backward (keep only the block inputs). */
  recompute: boolean;
  /** Bytes per element of the stored frozen weights (4: float32). Trainable
   * tensors, gradients, moments and activations are float32. */
  weightBytes: number;
  /** Count the activations tfjs keeps only for shapes (default true; see
   * blockTensors). False: what the gradients need, as a framework that
   * saves no more would keep. */
  tfjsKeeps?: boolean;
  limits: PlanLimits;
}

/** A named tensor (or a group of same-shaped tensors: count) and its bytes. */
export interface PlanTensor {
  name: string;
  shape: number[];
  count: number;
  bytes: number;
  /** Kept only by tfjs's shape bookkeeping (see blockTensors). */
  tfjs?: boolean;
}

export interface MemoryPlan {
  name: string;
  options: PlanOptions;
  headChunk: number;
  params: {
    /** The pretrained model's parameters (a tied head counted once). */
    base: number;
    /** LoRA adapter parameters (0 for full fine-tuning). */
    lora: number;
    /** What the optimizer updates: lora, or base for full fine-tuning. */
    trainable: number;
  };
  /** Bytes. */
  weights: number;
  trainable: number;
  gradients: number;
  adam: number;
  activations: {
    /** What one block keeps for the backward (without recompute). */
    perBlock: number;
    /** Of which the gradients need (the rest: tfjs's shape bookkeeping). */
    perBlockNeeded: number;
    blockTensors: PlanTensor[];
    /** The final norm's input and output (the head's input). */
    final: number;
    /** Kept from the end of the forward to the end of the backward. */
    kept: number;
    /** Transient while back-propagating through one block: its gradients,
     * and with recompute its recomputed activations too. */
    backward: number;
  };
  head: {
    /** One chunk's [C, V] logits. */
    chunkLogits: number;
    /** Forward or backward transient of one chunk (3 [C, V]), the
     * gradient of the hidden states [N, d] and lse [N]. */
    transient: number;
    /** Running-sum copies of the head's [V, d] gradient when it trains. */
    embeddingGrad: number;
    total: number;
  };
  /** AdamW's update of the largest trainable tensor: new p, m, v. */
  optimizer: number;
  /** The peak: max(backward phase, optimizer phase). */
  total: number;
  /** Tensors that may hit a per-buffer limit, largest first. */
  buffers: PlanTensor[];
  largest: PlanTensor;
  verdict: { fits: boolean; reasons: string[] };
}

const F32 = 4;
const prod = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);

/** A weight matrix (in -> out) that LoRA can adapt, with its bias. */
export interface PlanModule {
  /** PEFT's short name (c_proj, q_proj) and the qualified one (attn.c_proj). */
  short: string;
  qualified: string;
  in: number;
  out: number;
  bias: boolean;
}

function layerModules(s: PlanShape): PlanModule[] {
  const d = s.hiddenSize;
  if (s.arch === 'gpt2') {
    return [
      { short: 'c_attn', qualified: 'attn.c_attn', in: d, out: 3 * d, bias: true },
      { short: 'c_proj', qualified: 'attn.c_proj', in: d, out: d, bias: true },
      { short: 'c_fc', qualified: 'mlp.c_fc', in: d, out: s.intermediateSize, bias: true },
      { short: 'c_proj', qualified: 'mlp.c_proj', in: s.intermediateSize, out: d, bias: true },
    ];
  }
  const q = s.nHead * s.headDim;
  const kv = s.nKvHead * s.headDim;
  return [
    { short: 'q_proj', qualified: 'self_attn.q_proj', in: d, out: q, bias: s.qkvBias },
    { short: 'k_proj', qualified: 'self_attn.k_proj', in: d, out: kv, bias: s.qkvBias },
    { short: 'v_proj', qualified: 'self_attn.v_proj', in: d, out: kv, bias: s.qkvBias },
    { short: 'o_proj', qualified: 'self_attn.o_proj', in: q, out: d, bias: false },
    { short: 'gate_proj', qualified: 'mlp.gate_proj', in: d, out: s.intermediateSize, bias: false },
    { short: 'up_proj', qualified: 'mlp.up_proj', in: d, out: s.intermediateSize, bias: false },
    { short: 'down_proj', qualified: 'mlp.down_proj', in: s.intermediateSize, out: d, bias: false },
  ];
}

/** Every parameter tensor outside the layers' weight matrices, and those,
 * as [name, shape] (the model's table, in the order a layer reads them). */
function paramTensors(s: PlanShape): [string, number[]][] {
  const d = s.hiddenSize;
  const out: [string, number[]][] = [];
  const gpt2 = s.arch === 'gpt2';
  out.push(['the token embedding', [s.vocabSize, d]]);
  if (gpt2) out.push(['the position embedding', [s.maxPositions, d]]);
  const norm = (name: string): void => {
    out.push([name, [d]]);
    if (gpt2) out.push([`${name} bias`, [d]]);
  };
  for (let i = 0; i < s.nLayer; i++) {
    norm(`layer ${i} ${gpt2 ? 'ln_1' : 'input_layernorm'}`);
    const mods = layerModules(s);
    const split = gpt2 ? 2 : 4; // the attention's modules come first
    mods.forEach((m, j) => {
      if (j === split) norm(`layer ${i} ${gpt2 ? 'ln_2' : 'post_attention_layernorm'}`);
      out.push([`layer ${i} ${m.qualified}`, gpt2 ? [m.in, m.out] : [m.out, m.in]]);
      if (m.bias) out.push([`layer ${i} ${m.qualified} bias`, [m.out]]);
    });
  }
  norm(gpt2 ? 'ln_f' : 'the final norm');
  if (!s.tieWordEmbeddings) out.push(['the output head (lm_head)', [s.vocabSize, d]]);
  return out;
}

/** Parameters of the pretrained model (the tied head counted once). */
export function baseParamCount(s: PlanShape): number {
  return paramTensors(s).reduce((a, [, shape]) => a + prod(shape), 0);
}

/** The modules a LoRA target list selects in one layer; throws on a name
 * that selects nothing (a typo would otherwise plan a model that trains
 * nothing). */
export function loraModules(s: PlanShape, targets: string[]): PlanModule[] {
  const mods = layerModules(s);
  for (const t of targets) {
    if (!mods.some((m) => m.short === t || m.qualified === t)) {
      const names = [...new Set(mods.flatMap((m) => [m.short, m.qualified]))].join(', ');
      throw new Error(`LoRA target "${t}" is no module of a ${s.arch} layer (one of ${names})`);
    }
  }
  return mods.filter((m) => targets.includes(m.short) || targets.includes(m.qualified));
}

/** LoRA adapter parameters: A [r, in] and B [out, r] per adapted module. */
export function loraParamCount(s: PlanShape, lora: PlanLora): number {
  if (lora.rank === 0) return 0;
  return s.nLayer * loraModules(s, lora.targets).reduce((a, m) => a + lora.rank * (m.in + m.out), 0);
}

function tensor(name: string, shape: number[], count = 1, bytesPer = F32): PlanTensor {
  return { name, shape, count, bytes: count * prod(shape) * bytesPer };
}

/** What autodiff keeps of one pre-norm block until the backward is done,
 * N = rows * T tokens, float32. Entries marked `needed` are there because
 * the gradient of the op named in brackets reads them:
 *
 * GPT-2 (LayerNorm, fused qkv, GELU MLP):
 *   x, the block input            [ln_1's backward; the residual]
 *   ln_1 mean and rstd, [N] each  [ln_1's backward]
 *   ln_1's output                 [c_attn's product: dW = x^T dy]
 *   q, k, v as heads [N, d] each  [scores = q k^T: both; probs @ v: v]
 *   the attention scores, scaled and masked [rows, heads, T, T]
 *                                 [the softmax's input; also kept on the
 *                                  fused path, by the Reshape in front of
 *                                  the fused softmax]
 *   the attention probabilities [rows, heads, T, T]
 *                                 [softmax backward; probs @ v]
 *   the merged heads [N, d]       [attn.c_proj's product]
 *   x + attention [N, d]          [ln_2's backward; the residual]
 *   ln_2 mean, rstd; ln_2's output [ln_2; c_fc's product]
 *   the MLP pre-activation [N, I] [GELU's backward]
 *   the MLP hidden state [N, I]   [mlp.c_proj's product]
 *
 * LLaMA / Qwen2 (RMSNorm, RoPE, grouped-query attention, SwiGLU MLP):
 *   x; input_layernorm's rstd [N] and output [N, d]
 *   q after RoPE [N, heads * hd]  [scores] (RoPE's backward needs cos/sin only)
 *   k after RoPE, v [N, kvHeads * hd] each [scores; probs @ v]
 *   with GQA (kvHeads < heads): k and v repeated to every query head,
 *     [N, heads * hd] each        [the products read the repeated copies; the
 *                                  unrepeated ones stay too: the repeat (tile
 *                                  or gather) keeps its input]
 *   the scores and the probabilities [rows, heads, T, T], as above
 *   the merged heads [N, heads * hd] [o_proj's product]
 *   x + attention; post_attention_layernorm's rstd and output
 *   gate and up [N, I] each       [SiLU's backward; the product's backward]
 *   silu(gate) [N, I]             [the product's backward]
 *   silu(gate) * up [N, I]        [down_proj's product]
 *
 * LoRA, per adapted module: x @ A [N, r] (B's product); A's product reads the
 * module's input, listed above.
 *
 * Entries marked `tfjs` (counted unless tfjsKeeps is false) are kept only
 * because tfjs's Add and Reshape keep their inputs for their shapes: each
 * bias Add keeps the product before the bias, the Reshape to heads keeps
 * q/k/v before the transpose, the residual Adds keep the attention's and the
 * MLP's outputs, and LoRA's y = x W (+ b) + s (x A) B keeps (x A) B, its
 * scaled copy and the base output (3 [N, out]). With them the GPT-2 figure is
 * right: on WebGPU with our fused kernels (Dawn + SwiftShader, measured from
 * the tape's saved tensors) a block kept 1,048,576 B at 4 rows x 32 tokens,
 * d 64, 2 heads, and 4,980,736 B at 128 tokens: this list (30 [N, d] + 2
 * scores) less the LayerNorm stats, which the fused LayerNorm does not keep
 * (+0.2%). The plain ops
 * (cpu, wasm, webgl, or fused kernels off) keep about 2.1x that (unfused
 * LayerNorm, GELU and softmax keep their intermediates: 2,224,428 and
 * 10,372,140 B). For LLaMA/Qwen2 the same rules are applied; plain-op RMSNorm
 * (x^2, x * rstd), RoPE (q * cos, rotate_half(q), and their products) and
 * SiLU (the sigmoid) would keep more, not counted here.
 */
export function blockTensors(s: PlanShape, lora: PlanLora, rows: number, seqLen: number, tfjsKeeps = true): PlanTensor[] {
  const n = rows * seqLen;
  const d = s.hiddenSize;
  const I = s.intermediateSize;
  const att = [rows, s.nHead, seqLen, seqLen];
  const needed: PlanTensor[] = [];
  const extra: PlanTensor[] = [];
  if (s.arch === 'gpt2') {
    needed.push(
      tensor('block input x', [n, d]),
      tensor('ln_1 mean, rstd', [n], 2),
      tensor('ln_1 output', [n, d]),
      tensor('q, k, v heads', [n, d], 3),
      tensor('attention scores (scaled, masked)', att),
      tensor('attention probabilities', att),
      tensor('merged heads', [n, d]),
      tensor('x + attention', [n, d]),
      tensor('ln_2 mean, rstd', [n], 2),
      tensor('ln_2 output', [n, d]),
      tensor('MLP pre-activation', [n, I]),
      tensor('MLP hidden (GELU output)', [n, I]),
    );
    extra.push(
      tensor('c_attn product before its bias', [n, 3 * d]),
      tensor('q, k, v before the head transpose', [n, d], 3),
      tensor('attn.c_proj product before its bias', [n, d]),
      tensor('attention output (residual Add)', [n, d]),
      tensor('c_fc product before its bias', [n, I]),
      tensor('mlp.c_proj product before its bias', [n, d]),
      tensor('MLP output (residual Add)', [n, d]),
    );
  } else {
    const q = s.nHead * s.headDim;
    const kv = s.nKvHead * s.headDim;
    needed.push(
      tensor('block input x', [n, d]),
      tensor('input_layernorm rstd', [n]),
      tensor('input_layernorm output', [n, d]),
      tensor('q after RoPE', [n, q]),
      tensor('k after RoPE, v', [n, kv], 2),
    );
    if (s.nKvHead < s.nHead) needed.push(tensor(`k, v repeated to ${s.nHead} heads (GQA)`, [n, q], 2));
    needed.push(
      tensor('attention scores (scaled, masked)', att),
      tensor('attention probabilities', att),
      tensor('merged heads', [n, q]),
      tensor('x + attention', [n, d]),
      tensor('post_attention_layernorm rstd', [n]),
      tensor('post_attention_layernorm output', [n, d]),
      tensor('gate, up', [n, I], 2),
      tensor('silu(gate)', [n, I]),
      tensor('MLP hidden silu(gate) * up', [n, I]),
    );
    if (s.qkvBias) extra.push(tensor('q product before its bias', [n, q]), tensor('k, v products before their biases', [n, kv], 2));
    extra.push(
      tensor('q before the head transpose', [n, q]),
      tensor('k, v before the head transpose', [n, kv], 2),
      tensor('attention output (residual Add)', [n, d]),
      tensor('MLP output (residual Add)', [n, d]),
    );
  }
  if (lora.rank > 0) {
    for (const m of loraModules(s, lora.targets)) {
      needed.push(tensor(`LoRA x @ A (${m.qualified})`, [n, lora.rank]));
      extra.push(tensor(`LoRA (x A) B, s (x A) B, base output (${m.qualified})`, [n, m.out], 3));
    }
  }
  return tfjsKeeps ? [...needed, ...extra.map((t) => ({ ...t, tfjs: true }))] : needed;
}

/** The largest head chunk C (rows of [C, V] float32 logits) whose logits fit
 * one binding and one buffer (and `maxBytes`, when given), at most `tokens`
 * (rows * seqLen: no point in more than a step's tokens); a power of two
 * when it is below that; 1 at least. */
export function suggestHeadChunk(vocabSize: number, limits: Pick<PlanLimits, 'maxBufferSize' | 'maxStorageBufferBindingSize'>, tokens: number, maxBytes = Infinity): number {
  const cap = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, maxBytes);
  const fit = Math.floor(cap / (vocabSize * F32));
  if (fit >= tokens) return Math.max(1, tokens);
  let c = 1;
  while (c * 2 <= fit) c *= 2;
  return c;
}

function checkOptions(o: PlanOptions): void {
  const s = o.shape;
  const ints: [string, number][] = [
    ['vocabSize', s.vocabSize], ['hiddenSize', s.hiddenSize], ['nLayer', s.nLayer], ['nHead', s.nHead], ['nKvHead', s.nKvHead],
    ['headDim', s.headDim], ['intermediateSize', s.intermediateSize], ['maxPositions', s.maxPositions], ['batch.rows', o.batch.rows], ['batch.seqLen', o.batch.seqLen],
  ];
  for (const [k, v] of ints) if (!Number.isSafeInteger(v) || v < 1) throw new Error(`plan: ${k} must be a positive integer, got ${v}`);
  if (!Number.isSafeInteger(o.lora.rank) || o.lora.rank < 0) throw new Error(`plan: LoRA rank must be 0 (full fine-tuning) or a positive integer, got ${o.lora.rank}`);
  if (o.lora.rank > 0 && o.lora.targets.length === 0) throw new Error('plan: LoRA needs at least one target module');
  if (o.headChunk !== undefined && (!Number.isSafeInteger(o.headChunk) || o.headChunk < 1)) throw new Error(`plan: head chunk must be a positive integer, got ${o.headChunk}`);
  if (!(o.weightBytes > 0)) throw new Error(`plan: weightBytes must be positive, got ${o.weightBytes}`);
  if (s.nHead % s.nKvHead !== 0) throw new Error(`plan: nHead ${s.nHead} is not a multiple of nKvHead ${s.nKvHead}`);
}

const shapeText = (t: PlanTensor): string => `[${t.shape.join(', ')}]`;

/** The memory plan of one training configuration. */
export function planMemory(o: PlanOptions): MemoryPlan {
  checkOptions(o);
  const s = o.shape;
  const { rows, seqLen } = o.batch;
  const n = rows * seqLen;
  const d = s.hiddenSize;
  const V = s.vocabSize;
  const full = o.lora.rank === 0;
  const base = baseParamCount(s);
  const lora = loraParamCount(s, o.lora);
  const trainableCount = full ? base : lora;
  const headChunk = o.headChunk ?? suggestHeadChunk(V, o.limits, n);

  // parameters: frozen weights at weightBytes; what trains in float32
  const weights = full ? 0 : base * o.weightBytes;
  const trainable = trainableCount * F32;
  const gradients = trainableCount * F32;
  const adam = 2 * trainableCount * F32;

  // activations
  const tfjsKeeps = o.tfjsKeeps ?? true;
  const bt = blockTensors(s, o.lora, rows, seqLen, tfjsKeeps);
  const perBlock = bt.reduce((a, t) => a + t.bytes, 0);
  const perBlockNeeded = bt.reduce((a, t) => a + (t.tfjs ? 0 : t.bytes), 0);
  const normStats = s.arch === 'gpt2' ? 2 : 1;
  // the final norm's input and stats, its output (the head's input); GPT-2's
  // position Add keeps the token embedding rows [N, d] too
  const final = (2 * n * d + normStats * n + (tfjsKeeps && s.arch === 'gpt2' ? n * d : 0)) * F32;
  const blockInput = n * d * F32;
  // back-propagating through one block: d scores and d probs next to the
  // residual gradient and the one being formed, or, in the MLP, the
  // gradients of its [N, I] tensors (3 at once) with those two
  const att = rows * s.nHead * seqLen * seqLen;
  const blockGrad = Math.max(2 * att + 2 * n * d, 3 * n * s.intermediateSize + 2 * n * d) * F32;
  const kept = o.recompute ? s.nLayer * blockInput + final : s.nLayer * perBlock + final;
  const backward = o.recompute ? perBlock + blockGrad : blockGrad;

  // the head (src/core/headLoss.ts): per chunk at most 3 [C, V] at once
  // (forward: z, z - max, exp; backward: softmax, one-hot, their difference),
  // plus dh [N, d] and lse [N]; a trainable head sums its [V, d] gradient
  // chunk by chunk: the previous sum and the chunk's product next to the new
  // sum (that one is counted under gradients)
  const headTrains = full; // the embedding (tied or not) and lm_head train only in full fine-tuning
  const chunkLogits = headChunk * V * F32;
  const headTransient = 3 * chunkLogits + (n * d + n) * F32;
  const embeddingGrad = headTrains ? 2 * V * d * F32 : 0;
  const head = { chunkLogits, transient: headTransient, embeddingGrad, total: headTransient + embeddingGrad };

  // AdamW writes a new p, m and v for each parameter before the old ones go
  const params = paramTensors(s);
  const largestParam = Math.max(...params.map(([, sh]) => prod(sh)));
  const largestTrainable = full ? largestParam : Math.max(...loraModules(s, o.lora.targets).map((m) => o.lora.rank * Math.max(m.in, m.out)));
  const optimizer = 3 * largestTrainable * F32;

  const resident = weights + trainable + gradients + adam;
  const total = Math.max(resident + kept + Math.max(head.total, backward), resident + optimizer);

  // single buffers
  const mods = layerModules(s);
  const bigMod = mods.reduce((a, m) => (m.in * m.out > a.in * a.out ? m : a));
  // in full fine-tuning the weights are float32, and each has a gradient and
  // two AdamW moments of its size (one limit check covers the four)
  const wBytes = full ? F32 : o.weightBytes;
  const embName = s.tieWordEmbeddings ? 'the token embedding (tied output head)' : 'the token embedding';
  const buffers: PlanTensor[] = [
    tensor(embName, [V, d], 1, wBytes),
    ...(s.tieWordEmbeddings ? [] : [tensor('the output head (lm_head)', [V, d], 1, wBytes)]),
    ...(s.arch === 'gpt2' ? [tensor('the position embedding', [s.maxPositions, d], 1, wBytes)] : []),
    tensor(`a layer's ${bigMod.qualified} weight`, s.arch === 'gpt2' ? [bigMod.in, bigMod.out] : [bigMod.out, bigMod.in], 1, wBytes),
    tensor('the attention scores', [rows, s.nHead, seqLen, seqLen]),
    tensor(`a head chunk's logits (C = ${headChunk})`, [headChunk, V]),
    tensor('the MLP hidden states', [n, s.intermediateSize]),
  ];
  buffers.sort((a, b) => b.bytes - a.bytes);
  const largest = buffers[0];

  const reasons: string[] = [];
  const binding = o.limits.maxStorageBufferBindingSize;
  for (const b of buffers) {
    if (b.bytes > o.limits.maxBufferSize) reasons.push(`${b.name} ${shapeText(b)} is ${formatBytes(b.bytes)}, over this GPU's ${formatBytes(o.limits.maxBufferSize)} buffer limit (maxBufferSize)`);
    else if (b.bytes > binding) reasons.push(`${b.name} ${shapeText(b)} is ${formatBytes(b.bytes)}, over this GPU's ${formatBytes(binding)} per-binding limit (maxStorageBufferBindingSize)`);
  }
  if (o.limits.memoryBytes !== undefined && total > o.limits.memoryBytes) reasons.push(`the step's peak, ${formatBytes(total)}, is over this GPU's ${formatBytes(o.limits.memoryBytes)} of memory`);
  if (seqLen > s.maxPositions) reasons.push(`${seqLen} tokens per row is more than the model's ${s.maxPositions} positions`);

  return {
    name: o.name ?? `${s.arch} ${s.nLayer} x ${d}`,
    options: o,
    headChunk,
    params: { base, lora, trainable: trainableCount },
    weights, trainable, gradients, adam,
    activations: { perBlock, perBlockNeeded, blockTensors: bt, final, kept, backward },
    head,
    optimizer,
    total,
    buffers,
    largest,
    verdict: { fits: reasons.length === 0, reasons },
  };
}

const count = (x: number): string => x.toLocaleString('en-US');

/** A short table of the plan, for a terminal or a page's <pre>. */
export function formatPlan(p: MemoryPlan): string {
  const o = p.options;
  const s = o.shape;
  const training = o.lora.rank === 0 ? 'full fine-tuning' : `LoRA r ${o.lora.rank} on ${o.lora.targets.join(', ')}`;
  const rowsOut: [string, number, string][] = [
    [`weights (frozen, ${o.weightBytes} B each)`, p.weights, ''],
    ['trainable (float32)', p.trainable, `${count(p.params.trainable)} parameters`],
    ['gradients', p.gradients, ''],
    ['AdamW m, v', p.adam, ''],
    ['activations kept', p.activations.kept, o.recompute ? `${s.nLayer} block inputs + final (recompute)` : `${s.nLayer} x ${formatBytes(p.activations.perBlock)} + final ${formatBytes(p.activations.final)}${p.activations.perBlock > p.activations.perBlockNeeded ? ` (gradients need ${formatBytes(p.activations.perBlockNeeded)} a block)` : ''}`],
    ['block backward', p.activations.backward, o.recompute ? 'one recomputed block + its gradients' : 'one block\'s gradients'],
    ['head + loss', p.head.total, `chunk ${p.headChunk} x ${count(s.vocabSize)}${p.head.embeddingGrad ? ', embedding gradient sums' : ''}`],
    ['optimizer step', p.optimizer, 'largest trainable tensor: new p, m, v'],
    ['peak', p.total, o.limits.memoryBytes !== undefined ? `budget ${formatBytes(o.limits.memoryBytes)}` : ''],
  ];
  const lines = [
    `${p.name}: ${count(p.params.base)} parameters, ${training}`,
    `  ${o.batch.rows} rows x ${o.batch.seqLen} tokens, head chunk ${p.headChunk}, recompute ${o.recompute ? 'on' : 'off'}`,
    ...rowsOut.map(([k, v, note]) => `  ${k.padEnd(26)}${formatBytes(v).padStart(10)}${note ? `   ${note}` : ''}`),
    `  largest buffer: ${p.largest.name} ${shapeText(p.largest)} ${formatBytes(p.largest.bytes)} (limits: binding ${formatBytes(o.limits.maxStorageBufferBindingSize)}, buffer ${formatBytes(o.limits.maxBufferSize)})`,
    `  fits: ${p.verdict.fits ? 'yes' : 'no'}`,
    ...p.verdict.reasons.map((r) => `    - ${r}`),
  ];
  return lines.join('\n');
}

/** LoRA on the attention projections, as each architecture names them. */
export function attentionTargets(arch: PlanArch): string[] {
  return arch === 'gpt2' ? ['c_attn', 'attn.c_proj'] : ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
}

/** Students we plan for, from their config.json (the script and the tests). */
export const REFERENCE_SHAPES: { name: string; params: number; shape: PlanShape }[] = [
  {
    name: 'GPT-2 124M',
    params: 124_439_808,
    shape: { arch: 'gpt2', vocabSize: 50_257, hiddenSize: 768, nLayer: 12, nHead: 12, nKvHead: 12, headDim: 64, intermediateSize: 3072, tieWordEmbeddings: true, qkvBias: true, maxPositions: 1024 },
  },
  {
    name: 'SmolLM2-135M',
    params: 134_515_008,
    shape: { arch: 'llama', vocabSize: 49_152, hiddenSize: 576, nLayer: 30, nHead: 9, nKvHead: 3, headDim: 64, intermediateSize: 1536, tieWordEmbeddings: true, qkvBias: false, maxPositions: 8192 },
  },
  {
    name: 'Qwen2.5-0.5B',
    params: 494_032_768,
    shape: { arch: 'qwen2', vocabSize: 151_936, hiddenSize: 896, nLayer: 24, nHead: 14, nKvHead: 2, headDim: 64, intermediateSize: 4864, tieWordEmbeddings: true, qkvBias: true, maxPositions: 32_768 },
  },
];
