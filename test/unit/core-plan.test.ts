// The memory planner (src/core/plan.ts): exact figures for a tiny model
// worked out by hand, the activations measured on WebGPU, monotonicity, the
// real students' parameter counts, and their plans at 4 questions (8 rows) x
// 256 tokens with LoRA r 8 (printed).
import { describe, expect, it } from 'vitest';
import { ConfigRangeError, DEFAULT_LORA_TARGETS, archOf, countParams, countTrainable, type ModelConfig } from '../../src/core/config';
import {
  blockTensors,
  finalTensors,
  formatPlan,
  klTensors,
  planMemory,
  REFERENCE_MODELS,
  suggestHeadChunk,
  type PlanOptions,
} from '../../src/core/plan';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const BIG = { maxBufferSize: GiB, maxStorageBufferBindingSize: GiB };
const bytes = (ts: { bytes: number }[]): number => ts.reduce((a, t) => a + t.bytes, 0);

// V 10, d 4, 1 layer, 2 heads of 2, MLP 16, 8 positions, tied
const TINY: ModelConfig = { arch: 'gpt2', vocabSize: 10, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 4, layerNormEps: 1e-5 };

function tiny(o: Partial<PlanOptions> = {}): PlanOptions {
  return { config: TINY, batch: { rows: 2, seqLen: 3 }, headChunk: 2, limits: BIG, ...o };
}

describe('plan: a tiny GPT-2 by hand', () => {
  // parameters: wte 10*4 = 40, wpe 8*4 = 32, ln_1 4+4, c_attn 4*12+12 = 60,
  // attn.c_proj 4*4+4 = 20, ln_2 8, c_fc 4*16+16 = 80, mlp.c_proj 16*4+4 = 68,
  // ln_f 8: 324
  // one block, N = 2*3 = 6 tokens ([N, d] = 24 floats), scores 2*2*3*3 = 36
  // floats: 30 [N, d] + 2 scores = 720 + 72 = 792 floats = 3168 bytes, of
  // which the gradients need 16 [N, d] + the probabilities = 420 floats
  // final: token rows 24, position rows 3*4 = 12, ln_f input 24, output 24,
  //   lse and per-token CE 12 = 96 floats = 384 bytes
  // block backward: max(2*36 + 2*24, 3*6*16 + 2*24) = 336 floats = 1344 bytes
  // head, chunk 2: 3*2*10 + dh pieces and concat 2*24 = 108 floats = 432 bytes
  it('full fine-tuning', () => {
    const p = planMemory(tiny());
    expect(p.params).toEqual({ base: 324, lora: 0, trainable: 324 });
    expect(p.headTrains).toBe(true);
    expect(p.weights).toBe(0);
    expect(p.trainable).toBe(1296);
    expect(p.gradients).toBe(1296);
    expect(p.adam).toBe(2592);
    expect(p.activations.perBlock).toBe(3168);
    expect(p.activations.perBlockNeeded).toBe(1680);
    expect(p.activations.final).toBe(384);
    expect(p.activations.kl).toBe(0);
    expect(p.activations.kept).toBe(3552);
    expect(p.activations.backward).toBe(1344);
    expect(p.head.chunkLogits).toBe(80);
    expect(p.head.transient).toBe(432);
    expect(p.head.embeddingGrad).toBe(320); // 2 * 10 * 4 floats: the embedding trains
    expect(p.head.total).toBe(752);
    expect(p.optimizer).toBe(3 * 64 * 4); // the largest tensor, c_fc [4, 16]
    // the end of the backward, where tfjs still holds every gradient (about
    // the saved bytes again): 1296 + 1296 + 2592 + 2 * 3552 + 1344 = 13632
    expect(p.activations.gradientsKept).toBe(3552);
    expect(p.total).toBe(13632);
    // informational: 6 x 4 block inputs + final, their gradients, one
    // recomputed block, its gradients and its backward
    expect(p.withRecompute).toEqual({ kept: 96 + 384, gradientsKept: 96 + 384, total: 5184 + 480 + 480 + 2 * 3168 + 1344 });
    expect(p.largest.shape).toEqual([6, 16]); // 384 bytes
    expect(p.verdict).toEqual({ fits: true, reasons: [] });
  });

  it('LoRA r 2 on c_attn', () => {
    const p = planMemory(tiny({ config: { ...TINY, lora: { rank: 2, alpha: 4, targets: ['c_attn'] } } }));
    // A [2, 4] + B [12, 2] = 32
    expect(p.params).toEqual({ base: 324, lora: 32, trainable: 32 });
    expect(p.headTrains).toBe(false);
    expect(p.weights).toBe(1296);
    expect(p.trainable).toBe(128);
    expect(p.gradients).toBe(128);
    expect(p.adam).toBe(256);
    // + x A^T [6, 2] needed; (x A^T) B^T, its scaled copy, the base output 3 * [6, 12] and the scale by tfjs
    expect(p.activations.perBlockNeeded).toBe(1680 + 48);
    expect(p.activations.perBlock).toBe(3168 + 48 + 864 + 4);
    expect(p.activations.kept).toBe(4084 + 384);
    expect(p.head.total).toBe(432); // the frozen embedding gets no gradient
    expect(p.optimizer).toBe(3 * 24 * 4); // B [12, 2]
    // 1296 + 128 + 128 + 256 + 2 * 4468 + 1344 = 12088
    expect(p.total).toBe(12088);
  });

  it('the KL rows and the unchunked head', () => {
    const p = planMemory(tiny({ klRows: 3 }));
    // 9 [3, 10] + 2 [3, 4] + 2 [3] floats
    expect(p.activations.kl).toBe((270 + 24 + 6) * 4);
    expect(p.head.klBackward).toBe(4 * 30 * 4);
    const whole = planMemory(tiny({ headChunk: 0 }));
    expect(whole.headChunk).toBe(0);
    expect(whole.activations.final).toBe(384 + 3 * 6 * 10 * 4); // the [N, V] logits, z - max and exp stay
    expect(whole.activations.gradientsKept).toBe(whole.activations.kept + 2 * 6 * 10 * 4); // and 2 [N, V] gradients
    expect(whole.head.chunkLogits).toBe(6 * 10 * 4);
  });

  it('flags buffers over the limits, the budget and too long rows', () => {
    const p = planMemory(
      tiny({ batch: { rows: 2, seqLen: 9 }, limits: { maxBufferSize: 300, maxStorageBufferBindingSize: 200 }, memoryBytes: 1000 }),
    );
    expect(p.verdict.fits).toBe(false);
    const r = p.verdict.reasons.join('\n');
    expect(r).toMatch(/c_fc product before its bias \[18, 16\] is 1\.1 KB, over this GPU's 300 B buffer limit \(maxBufferSize\)/);
    expect(r).toMatch(
      /transformer\.h\.\*\.mlp\.c_fc\.weight \[4, 16\] is 256 B, over this GPU's 200 B per-binding limit \(maxStorageBufferBindingSize\)/,
    );
    expect(r).toMatch(
      /attention scores \(Reshape before the fused softmax\) \[2, 2, 9, 9\] is 1\.3 KB, over this GPU's 300 B buffer limit/,
    );
    expect(r).not.toMatch(/wte/); // [10, 4] is 160 B: under both
    expect(r).toMatch(/over the 1000 B of memory/);
    expect(r).toMatch(/9 tokens per row is more than the model's 8 positions/);
    // one reason per distinct shape
    expect(new Set(p.verdict.reasons).size).toBe(p.verdict.reasons.length);
    // no limits (cpu, wasm): only the budget and the positions
    const free = planMemory(tiny({ batch: { rows: 2, seqLen: 9 }, limits: undefined, memoryBytes: 1000 }));
    expect(free.verdict.reasons).toHaveLength(2);
  });

  it('refuses bad options', () => {
    expect(() => planMemory(tiny({ config: { ...TINY, lora: { rank: 4, alpha: 8, targets: ['q_proj'] } } }))).toThrow(ConfigRangeError);
    expect(() => planMemory(tiny({ config: { ...TINY, lora: { rank: 4, alpha: 8, targets: ['attn.c_proj'] } } }))).toThrow(
      /not a projection of a gpt2 model/,
    ); // short names only
    expect(() => planMemory(tiny({ config: { ...TINY, lora: { rank: 4, alpha: 8, targets: [] } } }))).toThrow(/at least one/);
    expect(() => planMemory(tiny({ headChunk: -1 }))).toThrow(/head chunk/);
    expect(() => planMemory(tiny({ klRows: 1.5 }))).toThrow(/klRows/);
    expect(() => planMemory(tiny({ batch: { rows: 0, seqLen: 3 } }))).toThrow(/batch.rows/);
  });
});

// What the tape kept, measured on WebGPU (Dawn + SwiftShader, fused kernels
// on): the saved tensors at the start of the backward of
// headCrossEntropy(forwardHidden(...)) (chunks of 64, the head frozen for
// LoRA), as unique buffers without the variables and the inputs; a block is
// 2 layers less 1 (and 3 less 2: the same), `final` is 1 layer less a block.
describe('plan: the activations as measured on WebGPU', () => {
  const llama: ModelConfig = {
    arch: 'llama',
    vocabSize: 256,
    blockSize: 128,
    nLayer: 1,
    nHead: 4,
    nKvHead: 2,
    nEmbd: 64,
    layerNormEps: 1e-5,
    intermediateSize: 176,
    ropeTheta: 10_000,
  };
  const qwen2: ModelConfig = {
    arch: 'qwen2',
    vocabSize: 256,
    blockSize: 128,
    nLayer: 1,
    nHead: 4,
    nKvHead: 1,
    nEmbd: 64,
    layerNormEps: 1e-6,
    intermediateSize: 160,
    ropeTheta: 1e6,
    tieWordEmbeddings: false,
  };
  const gpt2: ModelConfig = { arch: 'gpt2', vocabSize: 256, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 64, layerNormEps: 1e-5 };
  const qwen3: ModelConfig = {
    arch: 'qwen3',
    vocabSize: 256,
    blockSize: 128,
    nLayer: 1,
    nHead: 4,
    nKvHead: 2,
    nEmbd: 48,
    headDim: 16,
    layerNormEps: 1e-6,
    intermediateSize: 160,
    ropeTheta: 1e6,
  };
  const cases: { name: string; config: ModelConfig; rows: number; seqLen: number; block: number; final: number }[] = [
    { name: 'gpt2, full', config: gpt2, rows: 4, seqLen: 32, block: 1_048_576, final: 107_520 },
    { name: 'gpt2, full', config: gpt2, rows: 4, seqLen: 64, block: 2_228_224, final: 215_040 },
    {
      name: 'gpt2, LoRA c_attn, c_proj',
      config: { ...gpt2, lora: { rank: 4, alpha: 8, targets: ['c_attn', 'c_proj'] } },
      rows: 4,
      seqLen: 32,
      block: 1_546_252,
      final: 107_520,
    },
    {
      name: 'gpt2, LoRA c_attn, c_proj',
      config: { ...gpt2, lora: { rank: 4, alpha: 8, targets: ['c_attn', 'c_proj'] } },
      rows: 4,
      seqLen: 64,
      block: 3_223_564,
      final: 215_040,
    },
    { name: 'llama, full', config: llama, rows: 4, seqLen: 32, block: 1_387_528, final: 137_732 },
    { name: 'llama, full', config: llama, rows: 4, seqLen: 64, block: 3_037_192, final: 275_460 },
    {
      name: 'llama, LoRA q, k, v, o',
      config: { ...llama, lora: { rank: 4, alpha: 8, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] } },
      rows: 4,
      seqLen: 32,
      block: 1_690_648,
      final: 137_732,
    },
    {
      name: 'llama, LoRA q, k, v, o',
      config: { ...llama, lora: { rank: 4, alpha: 8, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] } },
      rows: 4,
      seqLen: 64,
      block: 3_643_416,
      final: 275_460,
    },
    {
      name: 'llama without GQA, LoRA v, down',
      config: { ...llama, nKvHead: 4, tieWordEmbeddings: false, lora: { rank: 2, alpha: 4, targets: ['v_proj', 'down_proj'] } },
      rows: 4,
      seqLen: 32,
      block: 1_668_112,
      final: 137_732,
    },
    {
      name: 'llama without GQA, LoRA v, down',
      config: { ...llama, nKvHead: 4, tieWordEmbeddings: false, lora: { rank: 2, alpha: 4, targets: ['v_proj', 'down_proj'] } },
      rows: 4,
      seqLen: 64,
      block: 3_598_352,
      final: 275_460,
    },
    {
      name: 'qwen2, LoRA on all 7',
      config: {
        ...qwen2,
        lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      },
      rows: 4,
      seqLen: 32,
      block: 2_186_276,
      final: 137_732,
    },
    {
      name: 'qwen2, LoRA on all 7',
      config: {
        ...qwen2,
        lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      },
      rows: 4,
      seqLen: 64,
      block: 4_634_660,
      final: 275_460,
    },
    // Qwen3: head_dim 16 x 4 heads = 64 != hidden 48, the per-head q/k norms (measured as above)
    { name: 'qwen3, full', config: qwen3, rows: 4, seqLen: 32, block: 1_421_328, final: 104_964 },
    { name: 'qwen3, full', config: qwen3, rows: 4, seqLen: 64, block: 3_104_784, final: 209_924 },
    {
      name: 'qwen3, LoRA q, k, v, o',
      config: { ...qwen3, lora: { rank: 4, alpha: 8, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] } },
      rows: 4,
      seqLen: 32,
      block: 1_699_872,
      final: 104_964,
    },
    {
      name: 'qwen3, LoRA q, k, v, o',
      config: { ...qwen3, lora: { rank: 4, alpha: 8, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] } },
      rows: 4,
      seqLen: 64,
      block: 3_661_856,
      final: 209_924,
    },
    {
      name: 'qwen3 head_dim 8, 1 kv head, untied, LoRA on all 7',
      config: {
        ...qwen3,
        nKvHead: 1,
        headDim: 8,
        tieWordEmbeddings: false,
        lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      },
      rows: 4,
      seqLen: 32,
      block: 1_800_748,
      final: 102_916,
    },
    {
      name: 'qwen3 head_dim 8, 1 kv head, untied, LoRA on all 7',
      config: {
        ...qwen3,
        nKvHead: 1,
        headDim: 8,
        tieWordEmbeddings: false,
        lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      },
      rows: 4,
      seqLen: 64,
      block: 3_863_596,
      final: 205_828,
    },
    // the reference students' widths (vocabulary 1,024), LoRA r 8 on their default targets, 2 rows x 48
    {
      name: 'SmolLM2 widths',
      config: {
        ...REFERENCE_MODELS[1].config,
        vocabSize: 1024,
        blockSize: 256,
        lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
      },
      rows: 2,
      seqLen: 48,
      block: 10_152_216,
      final: 911_236,
    },
    {
      name: 'Qwen2.5-0.5B widths',
      config: {
        ...REFERENCE_MODELS[2].config,
        vocabSize: 1024,
        blockSize: 256,
        lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
      },
      rows: 2,
      seqLen: 48,
      block: 19_994_904,
      final: 1_402_756,
    },
    {
      name: 'GPT-2 124M widths',
      config: {
        ...REFERENCE_MODELS[0].config,
        vocabSize: 1024,
        blockSize: 256,
        lora: { rank: 8, alpha: 16, targets: ['c_attn', 'c_proj'] },
      },
      rows: 2,
      seqLen: 48,
      block: 13_722_636,
      final: 1_032_960,
    },
  ];
  for (const k of cases) {
    it(`${k.name}, ${k.rows} x ${k.seqLen}: a block ${k.block.toLocaleString('en-US')} B`, () => {
      expect(bytes(blockTensors(k.config, k.rows, k.seqLen))).toBe(k.block);
      expect(bytes(finalTensors(k.config, k.rows, k.seqLen, 64))).toBe(k.final);
    });
  }

  it('the KL rows: 155,796 B measured for 16 rows, V 256, d 64 (the scalars are left out)', () => {
    const kl = bytes(klTensors(gpt2, 16));
    expect(kl).toBe(155_776);
    expect(Math.abs(kl - 155_796) / 155_796).toBeLessThan(0.001);
  });
});

describe('plan: monotonicity', () => {
  const c = REFERENCE_MODELS[1].config;
  const lora = (rank: number, targets = [...DEFAULT_LORA_TARGETS[archOf(c)]]): ModelConfig => ({
    ...c,
    lora: { rank, alpha: 2 * rank, targets },
  });
  const at = (o: Partial<PlanOptions>): PlanOptions => ({ config: lora(8), batch: { rows: 8, seqLen: 256 }, limits: BIG, ...o });
  it('more rows or tokens keep more activations; recomputation keeps fewer', () => {
    let prev = 0;
    for (const rows of [2, 4, 8, 16]) {
      const a = planMemory(at({ batch: { rows, seqLen: 256 } })).activations.kept;
      expect(a).toBeGreaterThan(prev);
      prev = a;
    }
    expect(planMemory(at({ batch: { rows: 8, seqLen: 512 } })).activations.kept).toBeGreaterThan(planMemory(at({})).activations.kept);
    const p = planMemory(at({}));
    expect(p.withRecompute.kept).toBeLessThan(p.activations.kept / 5);
    expect(p.withRecompute.total).toBeLessThan(p.total);
    expect(formatPlan(p)).toMatch(/with recomputation \(--recompute\): peak/);
    expect(formatPlan({ ...p, options: { ...p.options, recompute: true } })).toMatch(/recomputation on/);
    // asked for, recomputation's figures are the plan's: what fits changes
    const on = planMemory(at({ recompute: true }));
    expect(on.total).toBe(p.withRecompute.total);
    const budget = (p.total + on.total) / 2;
    expect(planMemory(at({ memoryBytes: budget })).verdict.fits).toBe(false);
    expect(planMemory(at({ memoryBytes: budget, recompute: true })).verdict.fits).toBe(true);
  });

  it('a larger rank or more targets train more; without LoRA everything trains', () => {
    const r8 = planMemory(at({})).params.trainable;
    expect(planMemory(at({ config: lora(16) })).params.trainable).toBe(2 * r8);
    expect(
      planMemory(at({ config: lora(8, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']) })).params.trainable,
    ).toBeGreaterThan(r8);
    // a small batch: at 8 x 256 the adapter's saved tensors and their
    // gradients (3 [N, out] a module each) outweigh the trained base's
    // gradient and moments
    const small = { batch: { rows: 2, seqLen: 128 } };
    const full = planMemory(at({ config: c, ...small }));
    expect(full.params.trainable).toBe(full.params.base);
    expect(full.headTrains).toBe(true);
    expect(full.total).toBeGreaterThan(planMemory(at(small)).total);
  });

  it('suggests the largest power-of-two head chunk under the binding limit', () => {
    const lim = { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 128 * MiB };
    expect(suggestHeadChunk(151_936, lim, 2048)).toBe(128); // 128 * 151936 * 4 = 74.2 MiB; 256 rows would be 148 MiB
    expect(suggestHeadChunk(50_257, lim, 2048)).toBe(512); // 98 MiB
    expect(suggestHeadChunk(50_257, lim, 300)).toBe(300); // every row at once
    expect(suggestHeadChunk(50_257, lim, 2048, 32 * MiB)).toBe(128);
    expect(suggestHeadChunk(50_257, undefined, 2048)).toBe(2048); // no limits
    expect(suggestHeadChunk(1e9, lim, 10)).toBe(1);
    for (const { config } of REFERENCE_MODELS) {
      const k = suggestHeadChunk(config.vocabSize, lim, 2048);
      expect(k * config.vocabSize * 4).toBeLessThanOrEqual(128 * MiB);
      expect(2 * k * config.vocabSize * 4).toBeGreaterThan(128 * MiB);
    }
  });
});

describe('plan: the pretrained students at 4 questions x 256 tokens, LoRA r 8 on the default targets', () => {
  const withLora = (c: ModelConfig): ModelConfig => ({ ...c, lora: { rank: 8, alpha: 16, targets: [...DEFAULT_LORA_TARGETS[archOf(c)]] } });
  it('counts the known parameters (config.ts), the adapters by PEFT matching', () => {
    for (const { name, params, config } of REFERENCE_MODELS) expect(countParams(config), name).toBe(params);
    const [gpt2, smol, qwen] = REFERENCE_MODELS.map((r) => withLora(r.config));
    // r * (in + out) per adapted module and layer; GPT-2's c_proj is attn.c_proj and mlp.c_proj
    expect(countTrainable(gpt2)).toBe(12 * 8 * (768 + 2304 + 768 + 768 + 3072 + 768));
    expect(countTrainable(smol)).toBe(30 * 8 * (1152 + 768 + 768 + 1152));
    expect(countTrainable(qwen)).toBe(24 * 8 * (1792 + 1024 + 1024 + 1792));
    for (const c of [gpt2, smol, qwen])
      expect(planMemory({ config: c, batch: { rows: 8, seqLen: 256 } }).params.trainable).toBe(countTrainable(c));
  });

  it('plans them (printed)', () => {
    const limits = { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 128 * MiB };
    const out: string[] = [];
    for (const { name, config } of REFERENCE_MODELS) {
      const p = planMemory({ name, config: withLora(config), batch: { rows: 8, seqLen: 256 }, limits, memoryBytes: 4 * GiB, klRows: 32 });
      out.push(formatPlan(p));
      expect(p.headChunk * config.vocabSize * 4).toBeLessThanOrEqual(128 * MiB);
      // a frozen tied embedding of more than 128 MiB is held in row blocks;
      // one that trains (every weight) cannot be bound whole
      const emb = config.vocabSize * config.nEmbd * 4;
      expect(p.verdict.reasons.some((r) => /embed_tokens|wte/.test(r))).toBe(false);
      expect(p.buffers.some((b) => /row blocks/.test(b.name))).toBe(emb > 128 * MiB);
      const full = planMemory({ name, config, batch: { rows: 8, seqLen: 256 }, limits });
      expect(full.verdict.reasons.some((r) => /embed_tokens|wte/.test(r))).toBe(emb > 128 * MiB);
    }
    console.log(out.join('\n\n'));
    const qwen = planMemory({ name: 'Qwen2.5-0.5B', config: REFERENCE_MODELS[2].config, batch: { rows: 8, seqLen: 256 }, limits });
    expect(qwen.verdict.reasons[0]).toBe(
      "model.embed_tokens.weight (tied output head) [151936, 896] is 519.3 MB, over this GPU's 128.0 MB per-binding limit (maxStorageBufferBindingSize)",
    );
    expect(qwen.largest.name).toMatch(/embed_tokens/);
  });
});
