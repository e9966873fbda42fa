// A pretrained student stored F16 / BF16 is packed for the GPU without a
// float32 detour (issue 23, item 2): the matrices a packed base packs stay
// in their 16-bit patterns on the host (src/core/half-tensor.ts), the packed
// words and scales are bit-identical to the float32 path's, the base
// fingerprint is the float32 path's (so runs saved before resume), and no
// float array (float32 or float64) of a packed matrix's size is ever made on the way. On the tiny
// models of scripts/hf/make_tiny.py (gpt2-tiny: Conv1D [in, out]; llama-gqa:
// [out, in], untied head), re-saved F16 and BF16 here, and F32 copies that
// hold the same rounded values.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../src/checkpoint/safetensors';
import { createBaseVariables, packableName, packedMatrices, packedTableName, packWeight } from '../../src/core/base-dtype';
import { paramShapes } from '../../src/core/config';
import { packF16, packInt8, type PackedMatrix, type SourceLayout } from '../../src/core/fused/pack';
import { packedKey, scaleKey } from '../../src/core/fused/packed';
import { halfTensor, isHalfTensor } from '../../src/core/half-tensor';
import type { TensorMap } from '../../src/core/state';
import { canonicalName, isIgnoredTensor, parseHfConfig } from '../../src/hf/config';
import { readHfFolder, readSafetensors, readSafetensorsLayout } from '../../src/hf/folder';
import { loadStudent } from '../../src/hf/student';
import { nodeFolder } from '../../src/node/folder';
import { floatToHalfBits } from '../../src/shared/half';
import { PY, pythonHas, tinyModels } from '../../support/cli';

const hasNumpy = pythonHas('numpy');
if (!hasNumpy) console.warn(`packed-direct: skipped, ${PY} cannot import numpy (support/python.ts)`);

const CASES = [
  ['gpt2-tiny', 'in-out'],
  ['llama-gqa', 'out-in'],
] as const;
const DTYPES = ['F16', 'BF16'] as const;

/** The float32 path as it was: every tensor of the folder's one file read
 * as float32, under our names. */
async function readF32(dir: string): Promise<TensorMap> {
  const src = nodeFolder(dir);
  const spec = parseHfConfig(JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')));
  const layout = await readSafetensorsLayout(src, 'model.safetensors');
  const raw = await readSafetensors(src, 'model.safetensors', layout, (n) => !isIgnoredTensor(n, spec));
  const out: TensorMap = Object.create(null) as TensorMap;
  for (const [n, t] of Object.entries(raw)) out[canonicalName(n, spec)] = t;
  return out;
}

/** `dir`'s folder re-saved with its weights in `dtype` (rounded to nearest even). */
function resave(from: string, to: string, dtype: 'F16' | 'BF16' | 'F32', weights?: TensorMap): void {
  mkdirSync(to, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'generation_config.json']) copyFileSync(path.join(from, f), path.join(to, f));
  const tensors = weights ?? decode(readFileSync(path.join(from, 'model.safetensors'))).tensors;
  writeFileSync(path.join(to, 'model.safetensors'), encode(tensors, { format: 'pt' }, { dtype }));
}

/** The old path's pack of one matrix: its float32 values through packF16 / packInt8. */
const oldPack = (data: Float32Array, shape: number[], layout: SourceLayout, dtype: 'f16' | 'int8'): PackedMatrix =>
  dtype === 'f16' ? packF16(data, shape, layout) : packInt8(data, shape, layout);

/** The lengths of the float arrays (Float32Array, Float64Array) allocated
 * while `f` runs (a view over a buffer allocates nothing), by standing in
 * for the global constructors. */
async function floatAllocations(f: () => Promise<void>): Promise<number[]> {
  const real = { Float32Array: globalThis.Float32Array, Float64Array: globalThis.Float64Array };
  const made: number[] = [];
  const spy = <T extends object>(C: T): T =>
    new Proxy(C, {
      construct(target, args: unknown[], newTarget) {
        const a = Reflect.construct(target as unknown as new (...x: unknown[]) => { length: number }, args, newTarget);
        if (!(args[0] instanceof ArrayBuffer) && !(args[0] instanceof SharedArrayBuffer)) made.push(a.length);
        return a;
      },
    });
  globalThis.Float32Array = spy(real.Float32Array);
  globalThis.Float64Array = spy(real.Float64Array);
  try {
    await f();
  } finally {
    Object.assign(globalThis, real);
  }
  return made;
}

describe.skipIf(!hasNumpy)('F16 / BF16 checkpoints packed without a float32 detour', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'packed-direct-'));
  const at = (...p: string[]): string => path.join(tmp, ...p);
  beforeAll(() => {
    tinyModels(at('m'), [
      ['gpt2-tiny', 'gpt2'],
      ['llama-gqa', 'llama3'],
      ['qwen2-tiny', 'gpt2'],
    ]); // cli-student's fixture: made once, then copied
    for (const [c] of CASES) for (const d of DTYPES) resave(at('m', c), at(d, c), d);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('keeps the matrices a packed base packs in their 16-bit patterns, and the rest float32', async () => {
    for (const [c] of CASES)
      for (const d of DTYPES) {
        const f = await readHfFolder(nodeFolder(at(d, c)));
        const f32 = await readF32(at(d, c));
        expect(f.dtypes).toEqual([d]);
        let halves = 0;
        for (const [name, shape] of paramShapes((await loadStudent(nodeFolder(at(d, c)), c)).student.modelConfig)) {
          const t = f.weights[name];
          const packed = packableName(name, shape) || packedTableName(name, shape);
          expect(isHalfTensor(t), `${c} ${d} ${name}`).toBe(packed);
          if (isHalfTensor(t)) {
            halves++;
            expect(t.half).toBe(d);
            expect(t.bits.length).toBe(shape[0] * shape[1]);
          }
          const values = t.data; // read as float32 where a caller wants it (an f32 base, an export)
          expect(values).toBeInstanceOf(Float32Array);
          expect(Array.from(values)).toEqual(Array.from(f32[name].data));
        }
        expect(halves, `${c} ${d}`).toBeGreaterThan(4);
      }
  });

  it('packs F16 and BF16 matrices to the same words (and int8 scales) as the float32 path, in createBaseVariables too', async () => {
    for (const [c, layout] of CASES)
      for (const d of DTYPES) {
        const dir = at(d, c);
        const { student } = await loadStudent(nodeFolder(dir), c);
        const f32 = await readF32(dir);
        const table = paramShapes(student.modelConfig);
        const shapes = new Map(table);
        for (const dtype of ['f16', 'int8'] as const) {
          const vs = createBaseVariables(student.weights, table, layout, dtype);
          try {
            for (const [name, lay] of packedMatrices(table, layout)) {
              const shape = shapes.get(name)!;
              expect(isHalfTensor(student.weights[name])).toBe(true);
              const want = oldPack(f32[name].data, shape, lay, dtype);
              const got = packWeight(student.weights[name], shape, lay, dtype);
              expect(got.wordsPerRow, `${c} ${d} ${dtype} ${name}`).toBe(want.wordsPerRow);
              expect(Buffer.from(got.words.buffer).equals(Buffer.from(want.words.buffer)), `${c} ${d} ${dtype} ${name}`).toBe(true);
              if (dtype === 'int8') expect(Array.from(got.scales!)).toEqual(Array.from(want.scales!));
              // what the GPU is given: the variables hold the same words
              const pre = name.slice(0, -'.weight'.length);
              const v = vs.get(packedKey(pre))!;
              expect(Array.from(v.dataSync()), `${c} ${d} ${dtype} ${name} variable`).toEqual(Array.from(want.words));
              if (dtype === 'int8') expect(Array.from(vs.get(scaleKey(pre))!.dataSync())).toEqual(Array.from(want.scales!));
            }
          } finally {
            for (const v of vs.values()) v.dispose();
          }
        }
      }
  });

  it('keeps the fingerprint of the float32 path: an F16 or BF16 file and an F32 copy of its values agree, F16 and BF16 do not', async () => {
    for (const [c] of CASES) {
      const fp: Record<string, string> = {};
      for (const d of DTYPES) {
        const { student } = await loadStudent(nodeFolder(at(d, c)), c);
        fp[d] = student.base.fingerprint;
        // the same values stored F32 (its tensors are read as float32)
        resave(at(d, c), at(`${d}-as-f32`, c), 'F32', decode(readFileSync(at(d, c, 'model.safetensors'))).tensors);
        const copy = await loadStudent(nodeFolder(at(`${d}-as-f32`, c)), c);
        expect(Object.values(copy.student.weights).some(isHalfTensor)).toBe(false);
        expect(copy.student.base.fingerprint, `${c} ${d}`).toBe(fp[d]);
        // packing the base, in any dtype, leaves the host's student as it was
        for (const dtype of ['f32', 'f16', 'int8'] as const) {
          const vs = createBaseVariables(student.weights, paramShapes(student.modelConfig), c === 'gpt2-tiny' ? 'in-out' : 'out-in', dtype);
          for (const v of vs.values()) v.dispose();
        }
        expect((await loadStudent(nodeFolder(at(d, c)), c)).student.base.fingerprint).toBe(fp[d]);
      }
      expect(fp.F16).not.toBe(fp.BF16); // different roundings, different values
    }
  });

  it('makes no float array of a packed matrix’s size while loading and packing an F16 / BF16 base', async () => {
    for (const [c, layout] of CASES) {
      const f32 = await readF32(at('F16', c));
      const table = paramShapes((await loadStudent(nodeFolder(at('F16', c)), c)).student.modelConfig);
      const packed = new Set(packedMatrices(table, layout).map(([n]) => n));
      const smallest = Math.min(...[...packed].map((n) => f32[n].data.length));
      // as large as a packed matrix: only the float32 tensors read as before
      // (GPT-2's positions), once each
      const big = (lengths: number[]): number[] => lengths.filter((n) => n >= smallest).sort((a, b) => a - b);
      const unpacked = big(table.filter(([n]) => !packed.has(n)).map(([n]) => f32[n].data.length));
      const tensors = tf.memory().numTensors;
      for (const d of DTYPES)
        for (const dtype of ['f16', 'int8'] as const) {
          const made = await floatAllocations(async () => {
            const { student } = await loadStudent(nodeFolder(at(d, c)), c);
            const vs = createBaseVariables(student.weights, table, layout, dtype);
            for (const v of vs.values()) v.dispose();
          });
          expect(big(made), `${c} ${d} ${dtype}`).toEqual(unpacked);
        }
      expect(tf.memory().numTensors).toBe(tensors);
      // the count sees them where they are made: the float32 path, and an f32 base
      const all = big(table.map(([n]) => f32[n].data.length));
      expect(big(await floatAllocations(async () => void (await readF32(at('F16', c)))))).toEqual(all);
      const f32Base = await floatAllocations(async () => {
        const { student } = await loadStudent(nodeFolder(at('BF16', c)), c);
        for (const v of createBaseVariables(student.weights, table, layout, 'f32').values()) v.dispose();
      });
      expect(big(f32Base)).toEqual(all);
    }
  });

  it('packs every layout and row length from the bits as from float32; a BF16 value past the half range is refused', () => {
    const bits = (n: number, k: number): Uint16Array =>
      Uint16Array.from({ length: n }, (_, i) => floatToHalfBits(((i * 7 + k) % 13) / 8 - 0.7));
    for (const shape of [
      [4, 6],
      [4, 5],
      [5, 4],
      [3, 3],
    ])
      for (const layout of ['out-in', 'in-out'] as const) {
        const h = halfTensor(shape, 'F16', bits(shape[0] * shape[1], shape[1]));
        for (const dtype of ['f16', 'int8'] as const) {
          const want = oldPack(h.data, shape, layout, dtype);
          const got = packWeight(h, shape, layout, dtype);
          expect(Array.from(got.words), `${shape} ${layout} ${dtype}`).toEqual(Array.from(want.words));
          expect(got.scales && Array.from(got.scales)).toEqual(want.scales && Array.from(want.scales));
        }
      }
    const big = halfTensor([1, 2], 'BF16', Uint16Array.from([0x47c3, 0x3f80])); // 99840, 1
    expect(() =>
      createBaseVariables({ 'model.layers.0.mlp.up_proj.weight': big }, [['model.layers.0.mlp.up_proj.weight', [1, 2]]], 'out-in', 'f16'),
    ).toThrow(/cannot hold model\.layers\.0\.mlp\.up_proj\.weight in f16: value 99840/);
    const q = packWeight(big, [1, 2], 'out-in', 'int8');
    expect(q.scales![0]).toBe(Math.fround(99840 / 127));
  });
});
