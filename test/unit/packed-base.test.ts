// Packing a frozen base for the WebGPU kernels (src/core/fused/pack.ts) and
// choosing its dtype (src/core/base-dtype.ts), on the host: the word
// layout the WGSL programs read, f16 rounding to nearest even, int8
// symmetric per-output-channel scales, F16 / BF16 bits packed without a
// float32 detour, and the refusals. The kernels themselves run on Dawn in
// packed-webgpu.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args';
import { floatToHalfBits } from '../../src/checkpoint/safetensors';
import {
  BaseDtypeError,
  checkBaseDtype,
  createBaseVariables,
  defaultBaseDtype,
  packableName,
  packedMatrices,
  packedTableName,
  projectionBytes,
  tableBytes,
} from '../../src/core/base-dtype';
import { checkLora, paramShapes, type ModelConfig } from '../../src/core/config';
import { tinyLlamaConfig } from './core-helpers';
import { formatPlan, planMemory } from '../../src/core/plan';
import { packBf16Bits, packF16, packF16Bits, packInt8, unpackMatrix } from '../../src/core/fused/pack';
import { StudentModel } from '../../src/core/inference';
import { initParams } from '../../src/core/model';
import { Rng } from '../../src/shared/rng';

const words = (p: { words: Int32Array }): number[] => Array.from(p.words, (w) => w >>> 0);

describe('f16 packing', () => {
  it('puts element 2j in the low half of word j (unpack2x16float .x), pads an odd row with +0 and rounds to nearest even', () => {
    // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: even wins (1); 1 + 3 * 2^-11 rounds up to 1 + 2^-9
    const p = packF16(Float32Array.of(1, -2, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 0.1), [2, 3], 'out-in');
    expect(p.wordsPerRow).toBe(2);
    expect(words(p)).toEqual([
      ((0xc000 << 16) | 0x3c00) >>> 0, // -2 | 1
      0x3c00, // 1 (tie to even) | padding
      ((0x7bff << 16) | 0x3c02) >>> 0, // 65504 | 1 + 2^-9
      floatToHalfBits(0.1), // 0x2e66 | padding
    ]);
    expect(Array.from(unpackMatrix(p))).toEqual([1, -2, 1, 1 + 2 ** -9, 65504, Math.fround(0.0999755859375)]);
  });

  it('transposes a GPT-2 Conv1D weight [in, out] to rows of output channels', () => {
    const w = Float32Array.from({ length: 6 }, (_, i) => i); // [in 3, out 2]: element (i, o) = 2i + o
    const p = packF16(w, [3, 2], 'in-out');
    expect([p.rows, p.cols]).toEqual([2, 3]);
    expect(Array.from(unpackMatrix(p))).toEqual([0, 2, 4, 1, 3, 5]); // row o = column o of the source
  });

  it('refuses a finite value beyond the half range, naming where it is', () => {
    expect(() => packF16(Float32Array.of(0, 70000), [1, 2], 'out-in')).toThrow(/70000 at \[0, 1\] is beyond half precision's range/);
    expect(() => packF16(Float32Array.of(65519), [1, 1], 'out-in')).not.toThrow(); // rounds down to 65504
  });

  it('F16 bits pack as they are and BF16 bits as their rounded value: the same words as from float32', () => {
    const rng = new Rng(3);
    const xs = Float32Array.from({ length: 7 * 5 }, () => rng.normal() * 3);
    const half = Uint16Array.from(xs, (x) => floatToHalfBits(x));
    const fromHalf = Float32Array.from(unpackMatrix(packF16Bits(half, [7, 5], 'out-in')));
    expect(words(packF16Bits(half, [7, 5], 'out-in'))).toEqual(words(packF16(fromHalf, [7, 5], 'out-in')));
    // bf16: the top 16 bits of the float32
    const bf = Uint16Array.from(xs, (x) => new Uint32Array(Float32Array.of(x).buffer)[0] >>> 16);
    const bfValues = Float32Array.from(bf, (b) => new Float32Array(Uint32Array.of(b << 16).buffer)[0]);
    expect(words(packBf16Bits(bf, [7, 5], 'in-out'))).toEqual(words(packF16(bfValues, [7, 5], 'in-out')));
  });
});

describe('int8 packing', () => {
  it('one scale per output row (max |w| / 127), q rounded half to even, four per word from the lowest byte', () => {
    // row 0: max 127 s with s = 2^-6 (exact), so w / s is exact: 2.5 -> 2 and -3.5 -> -4 and 63.5 -> 64 (even)
    const s = 2 ** -6;
    const p = packInt8(Float32Array.of(127 * s, 2.5 * s, -3.5 * s, -127 * s, 63.5 * s, 0, 0, 0, 0, 0), [2, 5], 'out-in');
    expect(p.wordsPerRow).toBe(2);
    expect(Array.from(p.scales!)).toEqual([s, 0]); // an all-zero row: scale 0
    const q0 = [127, 2, -4, -127, 64];
    const byte = (q: number): number => q & 0xff;
    expect(words(p)).toEqual([(byte(q0[0]) | (byte(q0[1]) << 8) | (byte(q0[2]) << 16) | (byte(q0[3]) << 24)) >>> 0, byte(q0[4]), 0, 0]);
    expect(Array.from(unpackMatrix(p).slice(0, 5))).toEqual(q0.map((q) => Math.fround(q * s)));
  });

  it('dequantizes within half a step of every weight and exactly at each row maximum', () => {
    const rng = new Rng(9);
    const [rows, cols] = [13, 21];
    const w = Float32Array.from({ length: rows * cols }, () => rng.normal());
    const p = packInt8(w, [cols, rows], 'in-out');
    const back = unpackMatrix(p);
    for (let o = 0; o < rows; o++) {
      let m = 0;
      for (let i = 0; i < cols; i++) {
        const src = w[i * rows + o];
        m = Math.max(m, Math.abs(src));
        expect(Math.abs(back[o * cols + i] - src)).toBeLessThanOrEqual(p.scales![o] / 2 + 1e-6);
      }
      expect(Math.max(...Array.from(back.slice(o * cols, (o + 1) * cols), Math.abs))).toBeCloseTo(m, 6);
    }
  });

  it('refuses a non-finite weight', () => {
    expect(() => packInt8(Float32Array.of(1, NaN), [1, 2], 'out-in')).toThrow(/NaN at \[0, 1\] cannot be quantized/);
  });
});

const llama = tinyLlamaConfig;

describe('the base dtype', () => {
  it('defaults to f16 on webgpu and f32 elsewhere; f16 and int8 are refused off webgpu, naming the flag', () => {
    expect(defaultBaseDtype('webgpu')).toBe('f16');
    expect(defaultBaseDtype('wasm')).toBe('f32');
    expect(() => checkBaseDtype('int8', 'wasm', '--base-dtype')).toThrow(
      new BaseDtypeError(
        '--base-dtype int8 needs the webgpu backend (the packed base runs in its WGSL kernels); on wasm use --base-dtype f32',
      ),
    );
    expect(() => checkBaseDtype('f32', 'cpu')).not.toThrow();
    // the model itself refuses as well (on the cpu backend of this test)
    const s = {
      modelConfig: llama,
      weights: initParams(llama, 1),
      tokenizer: {} as never,
      base: { arch: 'llama' as const, name: 'x', fingerprint: 'f' },
    };
    const n = tf.memory().numTensors;
    expect(() => StudentModel.fromStudent(s, { baseDtype: 'f16' })).toThrow(/baseDtype f16 needs the webgpu backend/);
    expect(tf.memory().numTensors).toBe(n);
  });

  it('packs the projections only: not the embedding, the head, the positions or the norms', () => {
    const names = paramShapes(llama)
      .filter(([n, s]) => packableName(n, s))
      .map(([n]) => n.split('.').slice(-2)[0]);
    expect(names.sort()).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    expect(packableName('transformer.wpe.weight', [16, 8])).toBe(false);
    expect(packableName('transformer.wte.weight', [50, 8])).toBe(false);
    expect(packableName('lm_head.weight', [50, 8])).toBe(false);
    expect(packableName('transformer.h.0.attn.c_attn.weight', [8, 24])).toBe(true);
  });

  it("packs the token tables on their own (embedding, untied lm_head), not GPT-2's positions", () => {
    expect(
      paramShapes(llama)
        .filter(([n, s]) => packedTableName(n, s))
        .map(([n]) => n),
    ).toEqual(['model.embed_tokens.weight', 'lm_head.weight']);
    expect(packedTableName('transformer.wte.weight', [50, 8])).toBe(true);
    expect(packedTableName('transformer.wpe.weight', [16, 8])).toBe(false);
    expect(packedTableName('model.layers.0.mlp.up_proj.weight', [12, 8])).toBe(false);
    // [V, d] rows of tokens: f16 d / 2 words a row, int8 d / 4 words and a scale
    expect(tableBytes(paramShapes(llama), 'f32')).toBe(2 * 50 * 8 * 4);
    expect(tableBytes(paramShapes(llama), 'f16')).toBe(2 * 50 * 4 * 4);
    expect(tableBytes(paramShapes(llama), 'int8')).toBe(2 * (50 * 2 * 4 + 50 * 4));
  });

  it('halves the projections with f16 and about quarters them with int8 (a scale a row)', () => {
    const t = paramShapes(llama);
    const f32 = projectionBytes(t, 'out-in', 'f32');
    expect(projectionBytes(t, 'out-in', 'f16')).toBe(f32 / 2);
    // rows: q 8, k 4, v 4, o 8, gate 12, up 12, down 8 = 56 scales
    expect(projectionBytes(t, 'out-in', 'int8')).toBe(f32 / 4 + 56 * 4);
  });

  it("the planner counts a LoRA run's packed projections and tables, and nothing for a full fine-tune", () => {
    const t = paramShapes(llama);
    const mc: ModelConfig = { ...llama, lora: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] } };
    const plan = (c: ModelConfig, d?: 'f32' | 'f16' | 'int8') =>
      planMemory({ config: c, batch: { rows: 2, seqLen: 8 }, ...(d ? { baseDtype: d } : {}) });
    const f32 = plan(mc).weights;
    expect(plan(mc, 'f32').weights).toBe(f32);
    expect(f32 - plan(mc, 'f16').weights).toBe(projectionBytes(t, 'out-in', 'f32') / 2 + tableBytes(t, 'f32') / 2);
    expect(f32 - plan(mc, 'int8').weights).toBe(
      projectionBytes(t, 'out-in', 'f32') - projectionBytes(t, 'out-in', 'int8') + tableBytes(t, 'f32') - tableBytes(t, 'int8'),
    );
    expect(formatPlan(plan(mc, 'int8'))).toMatch(/weights \(frozen, int8 projections and tables\)/);
    // the packed table's words are a buffer of their own: [V, d / 4] int32, in row blocks past the binding
    const limited = planMemory({
      config: mc,
      batch: { rows: 2, seqLen: 8 },
      baseDtype: 'int8',
      limits: { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 64 },
    });
    expect(limited.buffers.find((b) => b.name.startsWith('model.embed_tokens.weight'))).toMatchObject({
      name: 'model.embed_tokens.weight, frozen, packed int8 words, in 7 row blocks',
      shape: [8, 2],
      bytes: 64,
    });
    expect(plan(llama, 'int8').weights).toBe(0); // every weight trains: float32, counted as trainable
    expect(plan(llama, 'int8').total).toBe(plan(llama).total);
  });

  it('createBaseVariables holds each projection as int32 words (and int8 scales) under its module name', () => {
    const vs = createBaseVariables(initParams(llama, 1), paramShapes(llama), 'out-in', 'int8');
    const pre = 'model.layers.0.mlp.down_proj';
    expect(vs.has(`${pre}.weight`)).toBe(false);
    expect(vs.get(`${pre}.weight.packed`)!.dtype).toBe('int32');
    expect(vs.get(`${pre}.weight.packed`)!.shape).toEqual([8, 3]); // [out, ceil(12 / 4)]
    expect(vs.get(`${pre}.weight.scale`)!.shape).toEqual([8]);
    expect([...vs.values()].every((v) => !v.trainable)).toBe(true);
    for (const v of vs.values()) v.dispose();
  });

  it('createBaseVariables packs the embedding and an untied head [V, d] by rows of tokens, in row blocks past the binding', () => {
    const weights = initParams(llama, 1);
    const n = tf.memory().numTensors;
    const whole = createBaseVariables(weights, paramShapes(llama), 'out-in', 'int8');
    for (const pre of ['model.embed_tokens', 'lm_head']) {
      expect(whole.has(`${pre}.weight`)).toBe(false);
      expect(whole.get(`${pre}.weight.packed`)!.shape).toEqual([50, 2]); // [V, ceil(8 / 4)]
      expect(whole.get(`${pre}.weight.scale`)!.shape).toEqual([50]);
    }
    // tables split at 64 bytes (the GPU's binding by default): 8 rows of 2
    // words a block, 7 blocks, the same words and scales as the whole table
    const split = createBaseVariables(weights, paramShapes(llama), 'out-in', 'int8', { partBytes: 64 });
    const pre = 'model.embed_tokens.weight';
    expect(split.has(`${pre}.packed`)).toBe(false);
    const blocks = [0, 1, 2, 3, 4, 5, 6].map((k) => split.get(`${pre}.packed@${k}`)!);
    expect(blocks.map((b) => b.shape[0])).toEqual([8, 8, 8, 8, 8, 8, 2]);
    expect(split.has(`${pre}.packed@7`)).toBe(false);
    const joined = tf.tidy(() => [tf.concat(blocks), tf.concat([0, 1, 2, 3, 4, 5, 6].map((k) => split.get(`${pre}.scale@${k}`)!))]);
    expect(joined[0].arraySync()).toEqual(whole.get(`${pre}.packed`)!.arraySync());
    expect(joined[1].arraySync()).toEqual(whole.get(`${pre}.scale`)!.arraySync());
    tf.dispose(joined);
    for (const v of [...whole.values(), ...split.values()]) v.dispose();
    expect(tf.memory().numTensors).toBe(n);
  });

  it('a LoRA adapter on a packed table is refused, naming the field (the packed gather has no gradient)', () => {
    for (const t of ['embed_tokens', 'lm_head'])
      expect(() => checkLora({ ...llama, lora: { rank: 4, alpha: 8, targets: [t] } })).toThrow(
        new RegExp(`lora\\.targets: "${t}" is not a projection of a llama model`),
      );
  });

  it('refuses a packed table whose single row is wider than the GPU binds', () => {
    const n = tf.memory().numTensors;
    expect(() => createBaseVariables(initParams(llama, 1), paramShapes(llama), 'out-in', 'f16', { partBytes: 8 })).toThrow(
      new BaseDtypeError('model.embed_tokens.weight packed in f16 has rows of 16 bytes, more than this GPU binds (8)'),
    );
    expect(tf.memory().numTensors).toBe(n);
  });

  it('refuses a projection larger than the GPU binds, disposing what it made', () => {
    const n = tf.memory().numTensors;
    expect(() =>
      createBaseVariables(initParams(llama, 1), paramShapes(llama), 'out-in', 'f16', {
        limits: { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 40 },
      }),
    ).toThrow(/model\.layers\.0\.self_attn\.q_proj\.weight packed in f16 takes 128 bytes, more than this GPU binds \(40\)/);
    expect(tf.memory().numTensors).toBe(n);
  });
});

describe('--base-dtype on the CLI', () => {
  it('score, generate, eval and train refuse f16 / int8 off webgpu and an unknown value, naming the flag, before reading a folder', async () => {
    const { runScore, runGenerate } = await import('../../src/cli/student');
    const { runTrain } = await import('../../src/cli/train');
    const missing = '/nonexistent/mcckd-base-dtype';
    await expect(runScore(['--student', missing, '--ids', '1,2', '--base-dtype', 'f16'])).rejects.toThrow(
      new UsageError('--base-dtype f16 needs the webgpu backend (the packed base runs in its WGSL kernels); on cpu use --base-dtype f32'),
    );
    await expect(runGenerate(['--student', missing, '--prompt', 'x', '--backend', 'cpu', '--base-dtype', 'int8'])).rejects.toThrow(
      /--base-dtype int8 needs the webgpu backend/,
    );
    await expect(runScore(['--student', missing, '--ids', '1', '--base-dtype', 'bf16'])).rejects.toThrow(
      new UsageError('--base-dtype must be one of f32, f16, int8, got "bf16"'),
    );
    // f32 and the default (f32 on cpu) get as far as the folder
    await expect(runScore(['--student', missing, '--ids', '1', '--base-dtype', 'f32'])).rejects.toThrow(/mcckd-base-dtype/);
    await expect(runScore(['--student', missing, '--ids', '1'])).rejects.toThrow(/mcckd-base-dtype/);
    const { runEval } = await import('../../src/cli/evaluate');
    const evalFile = path.join(mkdtempSync(path.join(tmpdir(), 'mcckd-base-dtype-')), 'eval.jsonl');
    writeFileSync(evalFile, `${JSON.stringify({ question: 'What is 1 + 1?', answer: '2' })}\n`);
    await expect(runEval(['--run', missing, '--data', evalFile, '--base-dtype', 'int8'])).rejects.toThrow(
      /--base-dtype int8 needs the webgpu backend/,
    );
    rmSync(path.dirname(evalFile), { recursive: true });
    // a from-scratch run has no frozen base
    await expect(runTrain(['--data', 'package.json', '--base-dtype', 'f16'])).rejects.toThrow(
      new UsageError('--base-dtype needs a pretrained student (--student DIR): a student from scratch has no frozen base'),
    );
  });
});

describe('packedMatrices (the list a reference rounds: support/hf_ref.py --round-names)', () => {
  it("lists exactly the matrices the packing packs, each with the family's layout", () => {
    const t = paramShapes(llama);
    const tables = t.filter(([n, s]) => packedTableName(n, s)).map(([n]) => n);
    expect(tables.length).toBeGreaterThan(0); // the embedding (and an untied head)
    expect(packedMatrices(t, 'out-in')).toEqual(t.filter(([n, s]) => packableName(n, s) || tables.includes(n)).map(([n]) => [n, 'out-in']));
    const gpt2: [string, number[]][] = [
      ['transformer.wte.weight', [50, 8]],
      ['transformer.wpe.weight', [16, 8]],
      ['transformer.h.0.attn.c_attn.weight', [8, 24]],
      ['transformer.h.0.attn.c_attn.bias', [24]],
      ['transformer.ln_f.weight', [8]],
    ];
    // the token table is [vocab, d] rows whatever the family; GPT-2's Conv1D projections are [in, out]
    expect(packedMatrices(gpt2, 'in-out')).toEqual([
      ['transformer.wte.weight', 'out-in'],
      ['transformer.h.0.attn.c_attn.weight', 'in-out'],
    ]);
  });
});
