// The GGUF export read back by another implementation (@huggingface/gguf's
// parser): metadata, tensor names, shapes (ggml's reversed dims), types and
// aligned offsets, and the bytes of every tensor against our weights as
// llama.cpp wants them (Conv1D transposed, LLaMA's Q/K rows permuted, F16
// rounding). The half-float conversion and the Q/K permutation are checked
// against numpy (Debian's python3), the permutation also against the RoPE
// math it exists for. llama.cpp itself runs these files in
// test/e2e/gguf-wllama.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gguf, GGMLQuantizationType } from '@huggingface/gguf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { familyOf } from '../../src/core/arch';
import { dimsOf } from '../../src/core/config';
import { Tokenizer } from '../../src/core/tokenizer';
import { Trainer } from '../../src/core/trainer';
import { ggufFile } from '../../src/export/gguf';
import { ggufVocab, permuteRope, TokenType } from '../../src/export/gguf-model';
import { f16BitsToF32, f32ToF16Bits, GgufType, kv, writeGguf, GgmlType } from '../../src/export/gguf-writer';
import { ExportError, exportModel, type ExportModel } from '../../src/export/source';
import { GGUF_CASES, hasPython, makeTinyFolders, PY, trainedExport } from '../e2e/gguf-students';
import { tinyConfig, toyGroups } from './core-helpers';

let dir = '';
const exports: Record<string, ExportModel> = {};

async function parse(bytes: Uint8Array, name: string) {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return gguf(file, { allowLocalFile: true, typedMetadata: true });
}

function numpy(script: string, input: unknown): unknown {
  const r = spawnSync(PY, ['-c', `import json, sys, numpy as np\ninp = json.load(sys.stdin)\n${script}`], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

/** Tensor data as float32, read from the file's bytes at the parser's offsets. */
function tensorData(bytes: Uint8Array, dataStart: bigint, t: { offset: bigint; shape: bigint[]; dtype: number }): Float32Array {
  const n = t.shape.reduce((a, x) => a * Number(x), 1);
  const view = new DataView(bytes.buffer, bytes.byteOffset + Number(dataStart + t.offset));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++)
    out[i] = t.dtype === GGMLQuantizationType.F16 ? f16BitsToF32(view.getUint16(2 * i, true)) : view.getFloat32(4 * i, true);
  return out;
}

const roundHalf = (x: ArrayLike<number>): Float32Array => Float32Array.from(x, (v) => f16BitsToF32(f32ToF16Bits(v)));
const transpose = (w: ArrayLike<number>, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mcckd-gguf-unit-'));
  if (!hasPython) return;
  makeTinyFolders(dir);
  for (const c of GGUF_CASES) exports[c.name] = (await trainedExport(dir, c.name, { steps: 2, asciiHead: false })).model;
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('half floats', () => {
  it('every half round-trips, and halfway cases round to even', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16BitsToF32(h);
      if (Number.isNaN(x)) expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(x)))).toBe(true);
      else expect(f32ToF16Bits(x), `half 0x${h.toString(16)}`).toBe(h);
    }
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and its successor: even (1)
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway above an odd one: up
    expect(f32ToF16Bits(65519)).toBe(0x7bff); // below the halfway point to 65536: 65504
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // halfway: even, which is infinity
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // half the smallest subnormal: even (0)
    expect(f32ToF16Bits(3 * 2 ** -26)).toBe(1);
  });

  it.skipIf(!hasPython)("equals numpy's astype(float16) on values of every magnitude", () => {
    const xs: number[] = [];
    let s = 12345;
    const rnd = (): number => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 20_000; i++) xs.push((rnd() - 0.5) * 2 ** Math.floor(rnd() * 50 - 30));
    const f32 = Array.from(Float32Array.from(xs));
    const theirs = numpy('print(json.dumps(np.array(inp, dtype=np.float32).astype(np.float16).view(np.uint16).tolist()))', f32) as number[];
    expect(f32.map(f32ToF16Bits)).toEqual(theirs);
  });
});

describe("LLaMA's Q/K row permutation", () => {
  const heads = 3;
  const hd = 8;
  const cols = 5;
  const w = Float32Array.from({ length: heads * hd * cols }, (_, i) => Math.sin(i * 1.7) + i / 100);

  it.skipIf(!hasPython)("is convert_hf_to_gguf.py's reshape / swapaxes, and its inverse undoes it", () => {
    const theirs = numpy(
      `w = np.array(inp, dtype=np.float32).reshape(${heads * hd}, ${cols})
print(json.dumps(w.reshape(${heads}, 2, ${hd / 2}, ${cols}).swapaxes(1, 2).reshape(w.shape).ravel().tolist()))`,
      Array.from(w),
    ) as number[];
    const p = permuteRope(w, heads, cols);
    expect(Array.from(p)).toEqual(Array.from(Float32Array.from(theirs)));
    expect(Array.from(p)).not.toEqual(Array.from(w));
    // the inverse: rows [heads, hd/2, 2] back to [heads, 2, hd/2]
    const back = new Float32Array(w.length);
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < hd / 2; i++)
        for (let j = 0; j < 2; j++)
          back.set(p.subarray((h * hd + 2 * i + j) * cols, (h * hd + 2 * i + j + 1) * cols), (h * hd + j * (hd / 2) + i) * cols);
    expect(Array.from(back)).toEqual(Array.from(w));
  });

  it("turns Hugging Face's rotate_half RoPE into ggml's interleaved RoPE", () => {
    const x = Float32Array.from({ length: cols }, (_, i) => Math.cos(i + 0.3));
    const proj = (m: Float32Array): Float64Array => {
      const out = new Float64Array(heads * hd);
      for (let r = 0; r < heads * hd; r++) for (let c = 0; c < cols; c++) out[r] += m[r * cols + c] * x[c];
      return out;
    };
    const pos = 7;
    const angle = (i: number): number => pos * 10000 ** (-(2 * i) / hd);
    const hf = proj(w); // rotate_half: pairs (i, i + hd/2)
    const gg = proj(permuteRope(w, heads, cols)); // ggml mode 0: pairs (2i, 2i + 1)
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < hd / 2; i++) {
        const [a, b] = [hf[h * hd + i], hf[h * hd + i + hd / 2]];
        const [c, d] = [gg[h * hd + 2 * i], gg[h * hd + 2 * i + 1]];
        const t = angle(i);
        expect(c * Math.cos(t) - d * Math.sin(t)).toBeCloseTo(a * Math.cos(t) - b * Math.sin(t), 12);
        expect(c * Math.sin(t) + d * Math.cos(t)).toBeCloseTo(a * Math.sin(t) + b * Math.cos(t), 12);
      }
    }
  });
});

describe('the GGUF writer', () => {
  it('writes typed metadata and aligned tensors that @huggingface/gguf reads back', async () => {
    const a = Float32Array.from({ length: 6 }, (_, i) => i - 2.5);
    const b = Float32Array.from({ length: 3 }, (_, i) => i / 3);
    const bytes = writeGguf(
      [
        ['general.architecture', kv.str('llama')],
        ['t.u32', kv.u32(4_000_000_000)],
        ['t.i32', kv.i32(-7)],
        ['t.f32', kv.f32(0.25)],
        ['t.bool', kv.bool(true)],
        ['t.strs', kv.strs(['a b', 'ü', ''])],
        ['t.i32s', kv.i32s([1, -2, 3])],
        ['t.f32s', kv.f32s([0.5, -1])],
      ],
      [
        { name: 'x', shape: [2, 3], type: GgmlType.F32, data: a },
        { name: 'y', shape: [3], type: GgmlType.F16, data: b },
      ],
    );
    const r = await parse(bytes, 'writer.gguf');
    const m = r.typedMetadata as unknown as Record<string, { value: unknown; type: number; subType?: number }>;
    expect(m['general.alignment']).toMatchObject({ value: 32, type: GgufType.UINT32 });
    expect(m['t.u32']).toMatchObject({ value: 4_000_000_000, type: GgufType.UINT32 });
    expect(m['t.i32']).toMatchObject({ value: -7, type: GgufType.INT32 });
    expect(m['t.f32']).toMatchObject({ value: 0.25, type: GgufType.FLOAT32 });
    expect(m['t.bool']).toMatchObject({ value: true, type: GgufType.BOOL });
    expect(m['t.strs']).toMatchObject({ value: ['a b', 'ü', ''], type: GgufType.ARRAY, subType: GgufType.STRING });
    expect(m['t.i32s']).toMatchObject({ value: [1, -2, 3], subType: GgufType.INT32 });
    expect(m['t.f32s']).toMatchObject({ value: [0.5, -1], subType: GgufType.FLOAT32 });
    expect(r.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype, Number(t.offset)])).toEqual([
      ['x', [3, 2], GGMLQuantizationType.F32, 0],
      ['y', [3], GGMLQuantizationType.F16, 32],
    ]);
    expect(Number(r.tensorDataOffset) % 32).toBe(0);
    expect(bytes.length).toBe(Number(r.tensorDataOffset) + 32 + 32); // each tensor padded to the alignment
    expect(Array.from(tensorData(bytes, r.tensorDataOffset, r.tensorInfos[0]))).toEqual(Array.from(a));
    expect(Array.from(tensorData(bytes, r.tensorDataOffset, r.tensorInfos[1]))).toEqual(Array.from(roundHalf(b)));
  });

  it('refuses what it cannot write', () => {
    expect(() => writeGguf([['a', kv.u32(-1)]], [])).toThrow(/not an integer in/);
    expect(() =>
      writeGguf(
        [
          ['a', kv.u32(1)],
          ['a', kv.u32(2)],
        ],
        [],
      ),
    ).toThrow(/given twice/);
    expect(() => writeGguf([], [{ name: 'x', shape: [2, 2], type: GgmlType.F32, data: new Float32Array(3) }])).toThrow(/holds 4 values/);
    expect(() => writeGguf([], [{ name: 'x', shape: [2], type: GgmlType.F16, data: Float32Array.of(1, 70000) }])).toThrow(
      /70000 does not fit in F16/,
    );
  });
});

/** What each of our weights becomes in the file (name -> [row-major shape, data]). */
function expected(m: ExportModel, name: string, dtype: 'F32' | 'F16'): Map<string, [number[], Float32Array]> {
  const c = m.modelConfig;
  const { d, headDim, nKvHead, inner, tied } = dimsOf(c);
  const W = (n: string): Float32Array => Float32Array.from(m.weights[n].data);
  const out = new Map<string, [number[], Float32Array]>();
  const put = (n: string, shape: number[], data: Float32Array): void =>
    void out.set(n, [shape, dtype === 'F16' && shape.length > 1 ? roundHalf(data) : data]);
  const V = c.vocabSize;
  if (name.startsWith('gpt2')) {
    put('token_embd.weight', [V, d], W('transformer.wte.weight'));
    put('position_embd.weight', [c.blockSize, d], W('transformer.wpe.weight'));
    for (let l = 0; l < c.nLayer; l++) {
      const h = `transformer.h.${l}`;
      put(`blk.${l}.attn_norm.weight`, [d], W(`${h}.ln_1.weight`));
      put(`blk.${l}.attn_norm.bias`, [d], W(`${h}.ln_1.bias`));
      put(`blk.${l}.attn_qkv.weight`, [3 * d, d], transpose(W(`${h}.attn.c_attn.weight`), d, 3 * d));
      put(`blk.${l}.attn_qkv.bias`, [3 * d], W(`${h}.attn.c_attn.bias`));
      put(`blk.${l}.attn_output.weight`, [d, d], transpose(W(`${h}.attn.c_proj.weight`), d, d));
      put(`blk.${l}.attn_output.bias`, [d], W(`${h}.attn.c_proj.bias`));
      put(`blk.${l}.ffn_norm.weight`, [d], W(`${h}.ln_2.weight`));
      put(`blk.${l}.ffn_norm.bias`, [d], W(`${h}.ln_2.bias`));
      put(`blk.${l}.ffn_up.weight`, [inner, d], transpose(W(`${h}.mlp.c_fc.weight`), d, inner));
      put(`blk.${l}.ffn_up.bias`, [inner], W(`${h}.mlp.c_fc.bias`));
      put(`blk.${l}.ffn_down.weight`, [d, inner], transpose(W(`${h}.mlp.c_proj.weight`), inner, d));
      put(`blk.${l}.ffn_down.bias`, [d], W(`${h}.mlp.c_proj.bias`));
    }
    put('output_norm.weight', [d], W('transformer.ln_f.weight'));
    put('output_norm.bias', [d], W('transformer.ln_f.bias'));
    put('output.weight', [V, d], W(tied ? 'transformer.wte.weight' : 'lm_head.weight'));
    return out;
  }
  if (name.startsWith('gemma3')) {
    // llama.cpp multiplies by the norm weight; Gemma's gain is 1 + w
    const N = (n: string): Float32Array => W(n).map((x) => x + 1);
    const q = c.nHead * headDim;
    const kvw = nKvHead * headDim;
    put('token_embd.weight', [V, d], W('model.embed_tokens.weight'));
    for (let l = 0; l < c.nLayer; l++) {
      const p = `model.layers.${l}`;
      put(`blk.${l}.attn_norm.weight`, [d], N(`${p}.input_layernorm.weight`));
      put(`blk.${l}.attn_q.weight`, [q, d], W(`${p}.self_attn.q_proj.weight`)); // NeoX rope: not permuted
      put(`blk.${l}.attn_k.weight`, [kvw, d], W(`${p}.self_attn.k_proj.weight`));
      put(`blk.${l}.attn_v.weight`, [kvw, d], W(`${p}.self_attn.v_proj.weight`));
      put(`blk.${l}.attn_output.weight`, [d, q], W(`${p}.self_attn.o_proj.weight`));
      put(`blk.${l}.attn_q_norm.weight`, [headDim], N(`${p}.self_attn.q_norm.weight`));
      put(`blk.${l}.attn_k_norm.weight`, [headDim], N(`${p}.self_attn.k_norm.weight`));
      put(`blk.${l}.post_attention_norm.weight`, [d], N(`${p}.post_attention_layernorm.weight`));
      put(`blk.${l}.ffn_norm.weight`, [d], N(`${p}.pre_feedforward_layernorm.weight`));
      put(`blk.${l}.ffn_gate.weight`, [inner, d], W(`${p}.mlp.gate_proj.weight`));
      put(`blk.${l}.ffn_up.weight`, [inner, d], W(`${p}.mlp.up_proj.weight`));
      put(`blk.${l}.ffn_down.weight`, [d, inner], W(`${p}.mlp.down_proj.weight`));
      put(`blk.${l}.post_ffw_norm.weight`, [d], N(`${p}.post_feedforward_layernorm.weight`));
    }
    put('output_norm.weight', [d], N('model.norm.weight'));
    if (!tied) put('output.weight', [V, d], W('lm_head.weight'));
    return out;
  }
  const llama = name.startsWith('llama');
  const qwen3 = name.startsWith('qwen3'); // no q/k/v biases; per-head q/k norm gains
  put('token_embd.weight', [V, d], W('model.embed_tokens.weight'));
  for (let l = 0; l < c.nLayer; l++) {
    const p = `model.layers.${l}`;
    const q = c.nHead * headDim;
    const kvw = nKvHead * headDim;
    put(`blk.${l}.attn_norm.weight`, [d], W(`${p}.input_layernorm.weight`));
    put(
      `blk.${l}.attn_q.weight`,
      [q, d],
      llama ? permuteRope(W(`${p}.self_attn.q_proj.weight`), c.nHead, d) : W(`${p}.self_attn.q_proj.weight`),
    );
    put(
      `blk.${l}.attn_k.weight`,
      [kvw, d],
      llama ? permuteRope(W(`${p}.self_attn.k_proj.weight`), nKvHead, d) : W(`${p}.self_attn.k_proj.weight`),
    );
    put(`blk.${l}.attn_v.weight`, [kvw, d], W(`${p}.self_attn.v_proj.weight`));
    if (qwen3) {
      put(`blk.${l}.attn_q_norm.weight`, [headDim], W(`${p}.self_attn.q_norm.weight`));
      put(`blk.${l}.attn_k_norm.weight`, [headDim], W(`${p}.self_attn.k_norm.weight`));
    } else if (!llama) {
      put(`blk.${l}.attn_q.bias`, [q], W(`${p}.self_attn.q_proj.bias`));
      put(`blk.${l}.attn_k.bias`, [kvw], W(`${p}.self_attn.k_proj.bias`));
      put(`blk.${l}.attn_v.bias`, [kvw], W(`${p}.self_attn.v_proj.bias`));
    }
    put(`blk.${l}.attn_output.weight`, [d, q], W(`${p}.self_attn.o_proj.weight`));
    put(`blk.${l}.ffn_norm.weight`, [d], W(`${p}.post_attention_layernorm.weight`));
    put(`blk.${l}.ffn_gate.weight`, [inner, d], W(`${p}.mlp.gate_proj.weight`));
    put(`blk.${l}.ffn_up.weight`, [inner, d], W(`${p}.mlp.up_proj.weight`));
    put(`blk.${l}.ffn_down.weight`, [d, inner], W(`${p}.mlp.down_proj.weight`));
  }
  put('output_norm.weight', [d], W('model.norm.weight'));
  if (!tied) put('output.weight', [V, d], W('lm_head.weight'));
  return out;
}

describe.skipIf(!hasPython)('GGUF files of tiny students LoRA-trained a few steps', () => {
  for (const c of GGUF_CASES) {
    for (const dtype of ['F32', 'F16'] as const) {
      it(`${c.name} ${dtype}: metadata, tensors and bytes as llama.cpp reads them`, async () => {
        const m = exports[c.name];
        // the adapter trained: its B is no longer zero, so the merged weights moved
        expect(Object.entries(m.adapter!.tensors).some(([k, t]) => k.endsWith('lora_B.weight') && t.data.some((x) => x !== 0))).toBe(true);
        const bytes = ggufFile(m, { dtype });
        const r = await parse(bytes, `${c.name}.${dtype}.gguf`);
        const md = r.metadata as unknown as Record<string, unknown>;
        const mc = m.modelConfig;
        const arch = c.name.split('-')[0];
        const { headDim, nKvHead, inner, ropeTheta } = dimsOf(mc);
        expect(md['general.architecture']).toBe(arch);
        expect(md['general.name']).toBe(c.name);
        expect(md['general.file_type']).toBe(dtype === 'F16' ? 1 : 0);
        expect(md[`${arch}.context_length`]).toBe(mc.blockSize);
        expect(md[`${arch}.embedding_length`]).toBe(mc.nEmbd);
        expect(md[`${arch}.block_count`]).toBe(mc.nLayer);
        expect(md[`${arch}.feed_forward_length`]).toBe(inner);
        expect(md[`${arch}.attention.head_count`]).toBe(mc.nHead);
        if (arch === 'gpt2') {
          expect(md['gpt2.attention.layer_norm_epsilon']).toBeCloseTo(mc.layerNormEps, 10);
        } else {
          expect(md[`${arch}.attention.head_count_kv`]).toBe(nKvHead);
          expect(md[`${arch}.rope.dimension_count`]).toBe(headDim);
          expect(md[`${arch}.rope.freq_base`]).toBe(ropeTheta);
          expect(md[`${arch}.attention.layer_norm_rms_epsilon`]).toBeCloseTo(mc.layerNormEps, 10);
          // Qwen3's head size is its own (16 here, hidden / heads 12): llama.cpp must be told
          if (arch === 'qwen3') {
            expect(headDim).not.toBe(mc.nEmbd / mc.nHead);
            expect([md['qwen3.attention.key_length'], md['qwen3.attention.value_length']]).toEqual([headDim, headDim]);
          } else if (arch !== 'gemma3') expect(md[`${arch}.attention.key_length`]).toBeUndefined(); // gemma3's: below
        }
        if (arch === 'gemma3') {
          expect(md['gemma3.attention.key_length']).toBe(headDim);
          expect(md['gemma3.attention.value_length']).toBe(headDim);
          expect(md['gemma3.attention.sliding_window']).toBe(mc.slidingWindow);
          expect(md['gemma3.final_logit_softcapping']).toBeUndefined();
        }
        // the tokenizer: every id of the embedding, its text as tokenizer.json has it
        const tj = m.tokenizerJson as {
          model: { vocab: Record<string, number>; merges: string[] };
          added_tokens: { id: number; content: string }[];
        };
        const tokens = md['tokenizer.ggml.tokens'] as string[];
        expect(md['tokenizer.ggml.model']).toBe('gpt2');
        expect(md['tokenizer.ggml.pre']).toBe(c.style === 'gpt2' ? 'gpt-2' : 'llama-bpe');
        expect(tokens.length).toBe(mc.vocabSize);
        for (const [t, id] of Object.entries(tj.model.vocab)) expect(tokens[id]).toBe(t);
        const types = md['tokenizer.ggml.token_type'] as number[];
        for (const a of tj.added_tokens) expect([tokens[a.id], types[a.id]]).toEqual([a.content, TokenType.CONTROL]);
        expect(types.filter((t) => t === TokenType.NORMAL).length).toBe(mc.vocabSize - tj.added_tokens.length);
        expect(md['tokenizer.ggml.merges']).toEqual(tj.model.merges);
        expect(md['tokenizer.ggml.eos_token_id']).toBe(m.eosTokenIds[0]);
        expect(md['tokenizer.ggml.bos_token_id']).toBe(m.bosTokenId ?? m.eosTokenIds[0]);
        expect(md['tokenizer.ggml.add_bos_token']).toBe(false);

        const want = expected(m, c.name, dtype);
        expect(r.tensorInfos.map((t) => t.name).sort()).toEqual([...want.keys()].sort());
        let end = 0;
        for (const t of r.tensorInfos) {
          const [shape, data] = want.get(t.name)!;
          expect(t.shape.map(Number), t.name).toEqual(shape.slice().reverse());
          expect(t.dtype, t.name).toBe(dtype === 'F16' && shape.length > 1 ? GGMLQuantizationType.F16 : GGMLQuantizationType.F32);
          expect(Number(t.offset) % 32, t.name).toBe(0);
          expect(Number(t.offset)).toBeGreaterThanOrEqual(end);
          end = Number(t.offset) + data.length * (t.dtype === GGMLQuantizationType.F16 ? 2 : 4);
          expect(Array.from(tensorData(bytes, r.tensorDataOffset, t)), t.name).toEqual(Array.from(data));
        }
        expect(Number(r.tensorDataOffset) + end).toBeLessThanOrEqual(bytes.length);
        // a tied LLaMA-family head is no tensor of its own (llama.cpp reads token_embd)
        if (arch !== 'gpt2') expect(want.has('output.weight')).toBe(!dimsOf(mc).tied);
      });
    }
  }
});

describe.skipIf(!hasPython)('Gemma3 configs llama.cpp would compute differently are refused, naming the field', () => {
  it('layer kinds off its pattern of 6, another local RoPE base, query_pre_attn_scalar != head_dim, soft-caps it does not apply', () => {
    const m = exports['gemma3-gguf'];
    const mc = m.modelConfig;
    expect(() => ggufFile(m)).not.toThrow();
    const refused = (patch: Partial<ExportModel['modelConfig']>, msg: RegExp): void => {
      expect(() => ggufFile({ ...m, modelConfig: { ...mc, ...patch } }), JSON.stringify(patch)).toThrow(msg);
    };
    refused(
      { layerTypes: ['sliding', 'full'] },
      /GGUF export: llama.cpp's gemma3 would compute this model differently: layer_types: layer 1 is full/,
    );
    refused({ layerTypes: undefined }, /layer_types: layer 0 is full/);
    refused({ ropeLocalTheta: 5000 }, /rope_local_base_freq 5000/);
    refused({ attnScale: 1 / Math.sqrt(24) }, /query_pre_attn_scalar 24\b/);
    refused({ finalSoftcap: 30 }, /final_logit_softcapping/);
    refused({ attnSoftcap: 50 }, /attn_logit_softcapping/);
    // 7 layers: the seventh slides again (6 % 6 = 0 < 5), the sixth is full
    const seven = { ...mc, nLayer: 7, layerTypes: ['sliding', 'sliding', 'sliding', 'sliding', 'sliding', 'full', 'sliding'] as const };
    expect(familyOf(seven).gguf.refuse!({ ...seven, layerTypes: [...seven.layerTypes] })).toBeUndefined();
  });
});

describe('the tokenizer as llama.cpp vocabulary', () => {
  it('our from-scratch BPE: pad and end are control tokens, the closest pre-tokenizer is named', async () => {
    const groups = toyGroups(4);
    const t = await Trainer.create({ groups, trainConfig: tinyConfig({ steps: 1 }), datasetFingerprint: 'x' });
    try {
      await t.trainStep();
      const m = exportModel(await t.snapshot(), { facts: { name: 'scratch' } });
      const v = ggufVocab(m.tokenizerJson, m.modelConfig.vocabSize, m.tokenizerConfig);
      const tok = Tokenizer.fromJSON((await t.snapshot()).tokenizer);
      expect(v.model).toBe('gpt2');
      // our chunks split digits one by one, as Qwen2's regex does; its other rules differ
      expect([v.pre, v.preExact]).toEqual(['qwen2', false]);
      expect(v.tokens.length).toBe(tok.vocabSize);
      expect([v.types[0], v.types[1]]).toEqual([TokenType.CONTROL, TokenType.CONTROL]);
      expect(v.merges!.length).toBe(tok.vocabSize - 258);
      const r = await parse(ggufFile(m), 'scratch.gguf');
      const md = r.metadata as unknown as Record<string, unknown>;
      expect([md['tokenizer.ggml.eos_token_id'], md['tokenizer.ggml.padding_token_id']]).toEqual([1, 0]);
      expect(r.tensorInfos.some((x) => x.name === 'output.weight')).toBe(true);
    } finally {
      t.dispose();
    }
  });

  it('ids the tokenizer leaves unused become unused [PAD<id>] entries', () => {
    const v = ggufVocab(
      {
        model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 3 }, merges: ['a b'] },
        added_tokens: [{ id: 5, content: '<e>', special: true }],
        pre_tokenizer: { type: 'ByteLevel' },
      },
      6,
    );
    expect(v.tokens).toEqual(['a', 'b', '[PAD2]', 'ab', '[PAD4]', '<e>']);
    expect(v.types).toEqual([1, 1, TokenType.UNUSED, 1, TokenType.UNUSED, TokenType.CONTROL]);
    expect([v.pre, v.preExact]).toEqual(['gpt-2', true]);
  });

  it("names llama.cpp's pre-tokenizer only when it splits as the tokenizer.json does", () => {
    const bpe = (pre: unknown): ReturnType<typeof ggufVocab> =>
      ggufVocab({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, pre_tokenizer: pre }, 1);
    const digits = { type: 'Digits', individual_digits: true };
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, use_regex: true };
    expect(bpe({ type: 'Sequence', pretokenizers: [digits, byteLevel] })).toMatchObject({ pre: 'smollm', preExact: true });
    expect(bpe({ type: 'Sequence', pretokenizers: [byteLevel, digits] })).toMatchObject({ preExact: false });
    expect(bpe({ type: 'Sequence', pretokenizers: [{ type: 'Punctuation' }, byteLevel] })).toMatchObject({ pre: 'gpt-2', preExact: false });
  });

  it('a SentencePiece-style BPE (byte fallback) becomes the "llama" vocabulary with scores and byte tokens', () => {
    const v = ggufVocab(
      {
        model: {
          type: 'BPE',
          byte_fallback: true,
          unk_token: '<unk>',
          vocab: { '<unk>': 0, '<s>': 1, '</s>': 2, '<0x0A>': 3, '▁a': 4 },
          merges: [],
        },
        added_tokens: [
          { id: 1, content: '<s>', special: true },
          { id: 2, content: '</s>', special: true },
        ],
      },
      5,
    );
    expect(v.model).toBe('llama');
    expect(v.types).toEqual([TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.BYTE, TokenType.NORMAL]);
    expect(Array.from(v.scores!)).toEqual([0, 0, 0, 0, -4]);
    expect(v.addBos).toBe(true);
  });

  it('refuses what llama.cpp could not load, naming the problem', () => {
    expect(() => ggufVocab({ model: { type: 'WordPiece', vocab: {} } }, 4)).toThrow(ExportError);
    expect(() => ggufVocab({ model: { type: 'Unigram', vocab: [] } }, 4)).toThrow(/model type "Unigram" is not supported/);
    expect(() => ggufVocab({ model: { type: 'BPE', vocab: { a: 0, b: 7 }, merges: [] }, pre_tokenizer: { type: 'ByteLevel' } }, 4)).toThrow(
      /id 7, beyond the model's 4 embedding rows/,
    );
    expect(() =>
      ggufVocab(
        {
          model: { type: 'BPE', vocab: { a: 0 }, merges: [] },
          added_tokens: [{ id: 1, content: 'a', special: true }],
          pre_tokenizer: { type: 'ByteLevel' },
        },
        2,
      ),
    ).toThrow(/ids 0 and 1 are both the token "a"/);
    expect(() =>
      ggufVocab({ model: { type: 'BPE', vocab: { a: 0 }, merges: ['a b c'] }, pre_tokenizer: { type: 'ByteLevel' } }, 2),
    ).toThrow(/merge "a b c"/);
  });

  it.skipIf(!hasPython)('refuses a model whose weights disagree with its config', () => {
    const m = exports['llama-gqa'];
    const { ['model.layers.1.mlp.up_proj.weight']: _gone, ...rest } = m.weights;
    expect(() => ggufFile({ ...m, weights: rest })).toThrow(/model\.layers\.1\.mlp\.up_proj\.weight is missing/);
    expect(() => ggufFile({ ...m, eosTokenIds: [9999] })).toThrow(/eos token id 9999 is outside the vocabulary/);
  });
});
