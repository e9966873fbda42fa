// The memory planner (src/core/plan.ts): exact figures for a tiny model
// worked out by hand, monotonicity, the real students' parameter counts, and
// their plans at 4 questions (8 rows) x 256 tokens with LoRA r 8 (printed).
import { describe, expect, it } from 'vitest';
import { attentionTargets, baseParamCount, formatPlan, loraParamCount, planMemory, REFERENCE_SHAPES, suggestHeadChunk, type PlanOptions, type PlanShape } from '../../src/core/plan';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const BIG = { maxBufferSize: GiB, maxStorageBufferBindingSize: GiB };

// V 10, d 4, 1 layer, 2 heads of 2, MLP 16, 8 positions, tied
const TINY: PlanShape = { arch: 'gpt2', vocabSize: 10, hiddenSize: 4, nLayer: 1, nHead: 2, nKvHead: 2, headDim: 2, intermediateSize: 16, tieWordEmbeddings: true, qkvBias: true, maxPositions: 8 };

function tiny(o: Partial<PlanOptions> = {}): PlanOptions {
  return { shape: TINY, lora: { rank: 0, targets: [] }, batch: { rows: 2, seqLen: 3 }, headChunk: 2, recompute: false, weightBytes: 4, limits: BIG, ...o };
}

describe('plan: a tiny GPT-2 by hand', () => {
  // parameters: wte 10*4 = 40, wpe 8*4 = 32, ln_1 4+4, c_attn 4*12+12 = 60,
  // attn.c_proj 4*4+4 = 20, ln_2 8, c_fc 4*16+16 = 80, mlp.c_proj 16*4+4 = 68,
  // ln_f 8: 324
  // one block, N = 2*3 = 6 tokens, scores 2*2*3*3 = 36 floats. Needed by the
  // gradients: x 24, ln_1 stats 12, ln_1 out 24, q/k/v 72, scores 36,
  //   probs 36, merged 24, x+attn 24, ln_2 stats 12, ln_2 out 24,
  //   MLP pre 96, hidden 96 = 480 floats = 1920 bytes
  // kept by tfjs's Add/Reshape: c_attn pre-bias 72, q/k/v before the
  //   transpose 72, attn.c_proj pre-bias 24, attention out 24, c_fc pre-bias
  //   96, mlp.c_proj pre-bias 24, MLP out 24 = 336 floats = 1344 bytes
  // final: norm input 24, stats 12, output 24, token rows 24 = 336 bytes
  // block backward: max(2*36 + 2*24, 3*6*16 + 2*24) = 336 floats = 1344 bytes
  // head, chunk 2: 3*2*10 + dh 24 + lse 6 = 90 floats = 360 bytes
  it('full fine-tuning', () => {
    const p = planMemory(tiny());
    expect(p.params).toEqual({ base: 324, lora: 0, trainable: 324 });
    expect(p.weights).toBe(0);
    expect(p.trainable).toBe(1296);
    expect(p.gradients).toBe(1296);
    expect(p.adam).toBe(2592);
    expect(p.activations.perBlockNeeded).toBe(1920);
    expect(p.activations.perBlock).toBe(1920 + 1344);
    expect(p.activations.final).toBe(336);
    expect(p.activations.kept).toBe(3600);
    expect(p.activations.backward).toBe(1344);
    expect(p.head.chunkLogits).toBe(80);
    expect(p.head.transient).toBe(360);
    expect(p.head.embeddingGrad).toBe(320); // 2 * 10 * 4 floats: the embedding trains
    expect(p.head.total).toBe(680);
    expect(p.optimizer).toBe(3 * 64 * 4); // the largest tensor, c_fc [4, 16]
    // backward phase: 1296 + 1296 + 2592 + 3600 + max(680, 1344) = 10128
    expect(p.total).toBe(10128);
    expect(p.largest.name).toMatch(/MLP hidden/); // [6, 16] = 384 bytes
    expect(p.largest.bytes).toBe(384);
    expect(p.verdict).toEqual({ fits: true, reasons: [] });
  });

  it('what the gradients need only (tfjsKeeps false)', () => {
    const p = planMemory(tiny({ tfjsKeeps: false }));
    expect(p.activations.perBlock).toBe(1920);
    expect(p.activations.final).toBe(240);
    expect(p.activations.kept).toBe(2160);
    expect(p.total).toBe(1296 + 1296 + 2592 + 2160 + 1344);
  });

  it('LoRA r 2 on c_attn', () => {
    const p = planMemory(tiny({ lora: { rank: 2, targets: ['c_attn'] } }));
    // A [2, 4] + B [12, 2] = 32
    expect(p.params).toEqual({ base: 324, lora: 32, trainable: 32 });
    expect(p.weights).toBe(1296);
    expect(p.trainable).toBe(128);
    expect(p.gradients).toBe(128);
    expect(p.adam).toBe(256);
    // + x @ A [6, 2] needed; + (x A) B, its scaled copy, the base output 3 * [6, 12] by tfjs
    expect(p.activations.perBlockNeeded).toBe(1920 + 48);
    expect(p.activations.perBlock).toBe(3264 + 48 + 864);
    expect(p.activations.kept).toBe(4176 + 336);
    expect(p.head.total).toBe(360); // the frozen embedding gets no gradient
    expect(p.optimizer).toBe(3 * 24 * 4); // B [12, 2]
    // 1296 + 128 + 128 + 256 + 4512 + max(360, 1344) = 7664
    expect(p.total).toBe(7664);
  });

  it('recompute keeps the block inputs and recomputes one block', () => {
    const p = planMemory(tiny({ recompute: true }));
    expect(p.activations.kept).toBe(6 * 4 * 4 + 336);
    expect(p.activations.backward).toBe(3264 + 1344);
    // 1296 + 1296 + 2592 + 432 + 4608
    expect(p.total).toBe(10224);
  });

  it('flags buffers over the limits, the budget and too long rows', () => {
    const p = planMemory(tiny({ batch: { rows: 2, seqLen: 9 }, limits: { maxBufferSize: 300, maxStorageBufferBindingSize: 200, memoryBytes: 1000 } }));
    expect(p.verdict.fits).toBe(false);
    const r = p.verdict.reasons.join('\n');
    expect(r).toMatch(/the MLP hidden states \[18, 16\] is 1\.1 KB, over this GPU's 300 B buffer limit \(maxBufferSize\)/);
    expect(r).toMatch(/a layer's mlp\.c_fc weight \[4, 16\] is 256 B, over this GPU's 200 B per-binding limit \(maxStorageBufferBindingSize\)/);
    expect(r).not.toMatch(/token embedding/); // [10, 4] is 160 B: under both
    expect(p.verdict.reasons).toHaveLength(5);
    expect(r).toMatch(/the attention scores \[2, 2, 9, 9\] is 1\.3 KB, over this GPU's 300 B buffer limit/);
    expect(r).toMatch(/over this GPU's 1000 B of memory/);
    expect(r).toMatch(/9 tokens per row is more than the model's 8 positions/);
  });

  it('refuses bad options', () => {
    expect(() => planMemory(tiny({ lora: { rank: 4, targets: ['q_proj'] } }))).toThrow(/LoRA target "q_proj" is no module of a gpt2 layer/);
    expect(() => planMemory(tiny({ lora: { rank: 4, targets: [] } }))).toThrow(/at least one target/);
    expect(() => planMemory(tiny({ headChunk: 0 }))).toThrow(/head chunk/);
    expect(() => planMemory(tiny({ batch: { rows: 0, seqLen: 3 } }))).toThrow(/batch.rows/);
  });
});

describe('plan: monotonicity', () => {
  const s = REFERENCE_SHAPES[1].shape;
  const at = (o: Partial<PlanOptions>): PlanOptions => ({ shape: s, lora: { rank: 8, targets: attentionTargets(s.arch) }, batch: { rows: 8, seqLen: 256 }, recompute: false, weightBytes: 4, limits: BIG, ...o });
  it('more rows or tokens keep more activations; recompute keeps fewer', () => {
    let prev = 0;
    for (const rows of [2, 4, 8, 16]) {
      const a = planMemory(at({ batch: { rows, seqLen: 256 } })).activations.kept;
      expect(a).toBeGreaterThan(prev);
      prev = a;
    }
    expect(planMemory(at({ batch: { rows: 8, seqLen: 512 } })).activations.kept).toBeGreaterThan(planMemory(at({})).activations.kept);
    const plain = planMemory(at({}));
    const re = planMemory(at({ recompute: true }));
    expect(re.activations.kept).toBeLessThan(plain.activations.kept / 5);
    expect(re.total).toBeLessThan(plain.total);
  });

  it('a larger rank or more targets train more; full fine-tuning trains everything', () => {
    const r8 = planMemory(at({})).params.trainable;
    expect(planMemory(at({ lora: { rank: 16, targets: attentionTargets(s.arch) } })).params.trainable).toBe(2 * r8);
    expect(planMemory(at({ lora: { rank: 8, targets: [...attentionTargets(s.arch), 'gate_proj', 'up_proj', 'down_proj'] } })).params.trainable).toBeGreaterThan(r8);
    const full = planMemory(at({ lora: { rank: 0, targets: [] } }));
    expect(full.params.trainable).toBe(full.params.base);
    expect(full.total).toBeGreaterThan(planMemory(at({})).total);
  });

  it('suggests the largest power-of-two head chunk under the binding limit', () => {
    const lim = { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 128 * MiB };
    expect(suggestHeadChunk(151_936, lim, 2048)).toBe(128); // 128 * 151936 * 4 = 74.2 MiB; 256 rows would be 148 MiB
    expect(suggestHeadChunk(50_257, lim, 2048)).toBe(512); // 98 MiB
    expect(suggestHeadChunk(50_257, lim, 300)).toBe(300); // every row at once
    expect(suggestHeadChunk(50_257, lim, 2048, 32 * MiB)).toBe(128);
    expect(suggestHeadChunk(1e9, lim, 10)).toBe(1);
    for (const { shape } of REFERENCE_SHAPES) {
      const c = suggestHeadChunk(shape.vocabSize, lim, 2048);
      expect(c * shape.vocabSize * 4).toBeLessThanOrEqual(128 * MiB);
      expect(2 * c * shape.vocabSize * 4).toBeGreaterThan(128 * MiB);
    }
  });
});

describe('plan: the pretrained students at 4 questions x 256 tokens, LoRA r 8 on attention', () => {
  it('counts the known parameters', () => {
    for (const { name, params, shape } of REFERENCE_SHAPES) expect(baseParamCount(shape), name).toBe(params);
    const [gpt2, smol, qwen] = REFERENCE_SHAPES.map((r) => r.shape);
    // r * (in + out) per adapted module and layer
    expect(loraParamCount(gpt2, { rank: 8, targets: attentionTargets('gpt2') })).toBe(12 * 8 * (768 + 2304 + 768 + 768));
    expect(loraParamCount(gpt2, { rank: 8, targets: ['c_proj'] })).toBe(12 * 8 * (768 + 768 + 3072 + 768)); // PEFT: both c_proj
    expect(loraParamCount(smol, { rank: 8, targets: attentionTargets('llama') })).toBe(30 * 8 * (1152 + 768 + 768 + 1152));
    expect(loraParamCount(qwen, { rank: 8, targets: attentionTargets('qwen2') })).toBe(24 * 8 * (1792 + 1024 + 1024 + 1792));
  });

  it('plans them (printed)', () => {
    const limits = { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 128 * MiB, memoryBytes: 4 * GiB };
    const out: string[] = [];
    for (const { name, shape } of REFERENCE_SHAPES) {
      for (const recompute of [false, true]) {
        const p = planMemory({ name, shape, lora: { rank: 8, targets: attentionTargets(shape.arch) }, batch: { rows: 8, seqLen: 256 }, recompute, weightBytes: 4, limits });
        out.push(formatPlan(p));
        expect(p.headChunk * shape.vocabSize * 4).toBeLessThanOrEqual(128 * MiB);
        // a tied embedding of more than 128 MiB cannot be bound whole
        const emb = shape.vocabSize * shape.hiddenSize * 4;
        expect(p.verdict.reasons.some((r) => r.startsWith('the token embedding'))).toBe(emb > 128 * MiB);
      }
    }
    console.log(out.join('\n\n'));
    const qwen = planMemory({ name: 'Qwen2.5-0.5B', shape: REFERENCE_SHAPES[2].shape, lora: { rank: 8, targets: attentionTargets('qwen2') }, batch: { rows: 8, seqLen: 256 }, recompute: false, weightBytes: 4, limits });
    expect(qwen.verdict.reasons[0]).toBe("the token embedding (tied output head) [151936, 896] is 519.3 MB, over this GPU's 128.0 MB per-binding limit (maxStorageBufferBindingSize)");
    expect(qwen.largest.name).toMatch(/token embedding/);
  });
});
