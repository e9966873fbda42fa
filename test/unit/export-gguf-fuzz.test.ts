// Property-based fuzzing of the GGUF writer's inputs (fast-check, seeded):
// a tokenizer.json from a model folder turned into llama.cpp's vocabulary
// (ggufVocab), and arbitrary typed metadata and tensors (writeGguf). Every
// input gives a file or the export's own refusal (ExportError; the writer's
// "GGUF ..." errors), never another exception; a file that is written reads
// back through an independent parser (@huggingface/gguf) with exactly the
// values given (a string that UTF-8 cannot carry, a number outside its
// type, is refused rather than changed); the work is counted: the file's
// bytes are linear in the input, never timed.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gguf } from '@huggingface/gguf';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ggufVocab, type GgufVocab } from '../../src/export/gguf-model';
import {
  f16BitsToF32,
  f32ToF16Bits,
  GgmlType,
  GgufType,
  kv,
  writeGguf,
  type GgufTensor,
  type GgufValue,
} from '../../src/export/gguf-writer';
import { ExportError } from '../../src/export/source';

const SEED = Number(process.env.FUZZ_SEED ?? 0x67677566); // "gguf"
const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const params = { seed: SEED, numRuns: RUNS };

const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-gguf-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** The file as @huggingface/gguf reads it (it reads local files only). */
async function readBack(bytes: Uint8Array) {
  const file = path.join(dir, `f${files++}.gguf`);
  writeFileSync(file, bytes);
  try {
    return await gguf(file, { allowLocalFile: true, typedMetadata: true });
  } finally {
    rmSync(file, { force: true });
  }
}

/** A refusal without its particulars (quoted text, lists, numbers), to count kinds. */
const shortly = (msg: string): string =>
  msg
    .replace(/^GGUF (metadata|tensor) (?!name|key)[^:]*?(:| is)/, 'GGUF $1 …$2')
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\[[^\]]*\]/g, '[…]')
    .replace(/-?\d[\d.e+-]*/g, 'N')
    .slice(0, 60);

/** Outcomes of a property's runs: it must reach files and several refusals. */
function tally(): { add: (o: string) => void; seen: Map<string, number> } {
  const seen = new Map<string, number>();
  return { add: (o) => void seen.set(o, (seen.get(o) ?? 0) + 1), seen };
}

/** Code units of any kind, lone surrogates included (what a JSON file may hold). */
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a', 'b', ' ', 'Ġ', 'é', '中', '🙂', '<', '>', '0') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
);
const text = (maxLength: number) => fc.string({ unit, maxLength });
const token = fc.oneof(
  { weight: 6, arbitrary: text(4) },
  { weight: 1, arbitrary: fc.constantFrom('\uD800', '\uDC00', 'x\uD83D', '<0x41>', '[PAD3]', '__proto__', 'constructor', '') },
);

const tokenizerJson = fc.record(
  {
    model: fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record(
          {
            type: fc.oneof({ weight: 8, arbitrary: fc.constant('BPE') }, fc.constantFrom('WordPiece', 'Unigram', 7)),
            vocab: fc.oneof(
              // distinct ids mostly (a real vocabulary), sometimes a clash or a bad id
              { weight: 8, arbitrary: fc.uniqueArray(token, { maxLength: 10 }).map((ts) => Object.fromEntries(ts.map((x, i) => [x, i]))) },
              fc.dictionary(token, fc.oneof(fc.integer({ min: 0, max: 24 }), fc.constantFrom(-1, 1.5, '3', null, 1e20)), { maxKeys: 24 }),
              fc.jsonValue({ maxDepth: 1 }),
            ),
            merges: fc.oneof(
              fc.array(
                fc.oneof(
                  fc.tuple(token, token).map(([a, b]) => `${a} ${b}`),
                  fc.tuple(token, token),
                  fc.jsonValue({ maxDepth: 1 }),
                ),
                { maxLength: 8 },
              ),
              fc.jsonValue({ maxDepth: 1 }),
            ),
            byte_fallback: fc.boolean(),
            unk_token: token,
          },
          { requiredKeys: ['type', 'vocab'] },
        ),
      },
      fc.jsonValue({ maxDepth: 2 }),
    ),
    added_tokens: fc.array(
      fc.record(
        {
          id: fc.oneof(fc.integer({ min: -1, max: 12 }), fc.jsonValue({ maxDepth: 0 })),
          content: fc.oneof(token, fc.jsonValue({ maxDepth: 0 })),
          special: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 4 },
    ),
    pre_tokenizer: fc.oneof(
      fc.constantFrom(
        { type: 'ByteLevel' },
        { type: 'ByteLevel', use_regex: false },
        { type: 'Digits', individual_digits: true },
        { type: 'Whitespace' },
      ),
      fc.record({ type: fc.constant('Split'), pattern: fc.record({ Regex: text(12) }) }),
      fc.record({
        type: fc.constant('Sequence'),
        pretokenizers: fc.array(fc.constantFrom({ type: 'ByteLevel' }, { type: 'Digits', individual_digits: true }), { maxLength: 3 }),
      }),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    post_processor: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: ['model'] },
);

/** The vocabulary's metadata, as ggufMetadata writes it. */
function vocabMetadata(v: GgufVocab): [string, GgufValue][] {
  return [
    ['tokenizer.ggml.model', kv.str(v.model)],
    ['tokenizer.ggml.tokens', kv.strs(v.tokens)],
    ['tokenizer.ggml.token_type', kv.i32s(v.types)],
    ...(v.scores ? [['tokenizer.ggml.scores', kv.f32s(v.scores)] as [string, GgufValue]] : []),
    ...(v.merges ? [['tokenizer.ggml.merges', kv.strs(v.merges)] as [string, GgufValue]] : []),
  ];
}

const utf8 = (s: string): number => new TextEncoder().encode(s).length;

describe('fuzz: a tokenizer.json to a GGUF vocabulary', () => {
  it('gives a vocabulary that reads back exactly (every token distinct as bytes too), or an ExportError', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        tokenizerJson,
        fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 12, max: 30 }) }, fc.integer({ min: 1, max: 11 })),
        async (tj, vocabSize) => {
          let v: GgufVocab;
          try {
            v = ggufVocab(tj, vocabSize);
          } catch (e) {
            if (!(e instanceof ExportError)) throw new Error(`not an ExportError: ${String(e)}`);
            t.add(shortly(e.message));
            return;
          }
          t.add('ok');
          expect(v.tokens).toHaveLength(vocabSize);
          expect(v.types).toHaveLength(vocabSize);
          // llama.cpp maps each token's bytes to its id: the bytes must differ
          const bytes = v.tokens.map((x) => Buffer.from(x, 'utf8').toString('hex'));
          expect(new Set(bytes).size).toBe(vocabSize);
          const merges = (tj.model as { merges?: unknown }).merges;
          expect(v.merges?.length ?? 0).toBeLessThanOrEqual(Array.isArray(merges) ? merges.length : 0);
          const file = writeGguf(vocabMetadata(v), []);
          const back = (await readBack(file)).typedMetadata as unknown as Record<string, { value: unknown }>;
          expect(back['tokenizer.ggml.tokens'].value).toEqual(v.tokens);
          expect(back['tokenizer.ggml.token_type'].value).toEqual(v.types);
          if (v.merges) expect(back['tokenizer.ggml.merges'].value).toEqual(v.merges);
          // linear: each string is its UTF-8 bytes and an 8-byte length
          const strings = [...v.tokens, ...(v.merges ?? [])].reduce((n, s) => n + 8 + utf8(s), 0);
          expect(file.length).toBeLessThanOrEqual(512 + strings + 12 * vocabSize); // types and scores: 4 bytes each
        },
      ),
      params,
    );
    expect(t.seen.get('ok') ?? 0, JSON.stringify([...t.seen])).toBeGreaterThan(RUNS / 10);
    expect(t.seen.size, JSON.stringify([...t.seen])).toBeGreaterThanOrEqual(4);
    console.log(JSON.stringify({ ggufVocab: Object.fromEntries(t.seen) }));
  });
});

// ---- the writer on arbitrary metadata and tensors -----------------------

const NUMBER_TYPES = [
  GgufType.UINT8,
  GgufType.INT8,
  GgufType.UINT16,
  GgufType.INT16,
  GgufType.UINT32,
  GgufType.INT32,
  GgufType.FLOAT32,
  GgufType.FLOAT64,
] as const;
const number = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 127 }) },
  fc.integer({ min: -70000, max: 70000 }),
  fc.constantFrom(0, -1, 255, 256, -129, 65535, 2 ** 31, 2 ** 32, -(2 ** 31) - 1, 0.5, 1e40, Number.NaN, Number.POSITIVE_INFINITY, -0),
  fc.double(),
);
const big = fc.oneof(
  fc.bigInt({ min: -(2n ** 65n), max: 2n ** 65n }),
  fc.constantFrom(0n, -1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 63n)),
);
const value: fc.Arbitrary<GgufValue> = fc.oneof(
  fc.record({ type: fc.constantFrom(...NUMBER_TYPES), value: number }) as fc.Arbitrary<GgufValue>,
  fc.record({ type: fc.constantFrom(GgufType.UINT64, GgufType.INT64), value: big }) as fc.Arbitrary<GgufValue>,
  fc.boolean().map((b) => kv.bool(b)),
  text(10).map((s) => kv.str(s)),
  fc.array(text(6), { maxLength: 5 }).map((xs) => kv.strs(xs)),
  fc
    .tuple(fc.constantFrom(GgufType.INT32, GgufType.UINT32, GgufType.FLOAT32), fc.array(number, { maxLength: 5 }))
    .map(([of, xs]) => ({ type: GgufType.ARRAY, of, value: xs }) as GgufValue),
);
const tensor: fc.Arbitrary<GgufTensor> = fc
  .record({
    name: fc.oneof(text(8), fc.constantFrom('token_embd.weight', 'output.weight')),
    shape: fc.oneof(
      { weight: 8, arbitrary: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }) },
      fc.array(fc.constantFrom(-1, 1.5, 0, 2, 2 ** 53), { maxLength: 5 }),
    ),
    type: fc.constantFrom(GgmlType.F32, GgmlType.F16),
    extra: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, fc.constantFrom(1, -1)),
    values: fc.array(fc.oneof(fc.float({ noNaN: false }), fc.constantFrom(65504, 70000, -1e30, 1e-8)), { maxLength: 64 }),
  })
  .map(({ name, shape, type, extra, values }) => {
    const n = Math.max(0, Math.min(64, shape.reduce((a, x) => a * x, 1) + extra));
    return {
      name,
      shape,
      type,
      data: Float32Array.from({ length: Number.isInteger(n) ? n : 0 }, (_, i) => values[i % Math.max(1, values.length)] ?? 0),
    };
  });

/** A metadata entry; general.alignment now and then, valid or not. */
const entry: fc.Arbitrary<[string, GgufValue]> = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(fc.oneof(text(8), fc.constant('general.name')), value) },
  fc.tuple(fc.constant('general.alignment'), fc.oneof(fc.constantFrom(8, 64, 256).map(kv.u32), value)),
);

/** A value as @huggingface/gguf gives it back, for comparison. */
function expected(v: GgufValue): unknown {
  switch (v.type) {
    case GgufType.FLOAT32:
      return Math.fround(v.value);
    case GgufType.ARRAY:
      return v.of === GgufType.FLOAT32 ? Array.from(v.value as ArrayLike<number>, Math.fround) : Array.from(v.value as ArrayLike<unknown>);
    default:
      return v.value;
  }
}

describe('fuzz: writeGguf on arbitrary metadata and tensors', () => {
  it('writes exactly what it is given (an independent parser reads it back) or refuses with "GGUF ..."; bytes linear in the input', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 6, arbitrary: fc.uniqueArray(entry, { selector: ([k]) => k, maxLength: 6 }) },
          fc.array(entry, { maxLength: 3 }),
        ),
        fc.oneof(
          { weight: 6, arbitrary: fc.uniqueArray(tensor, { selector: (x) => x.name, maxLength: 4 }) },
          fc.array(tensor, { maxLength: 3 }),
        ),
        async (meta, tensors) => {
          let file: Uint8Array;
          try {
            file = writeGguf(meta, tensors);
          } catch (e) {
            if (!(e instanceof Error) || !e.message.startsWith('GGUF ')) throw new Error(`not the writer's refusal: ${String(e)}`);
            t.add(shortly(e.message));
            return;
          }
          t.add('ok');
          // linear: per entry a bounded header, each string 8 + 3 bytes a code unit, each value <= 8 bytes
          const chars = meta.reduce(
            (n, [k, v]) =>
              n +
              k.length +
              (v.type === GgufType.STRING
                ? v.value.length
                : v.type === GgufType.ARRAY && v.of === GgufType.STRING
                  ? (v.value as string[]).reduce((a, s) => a + 8 + s.length, 0)
                  : 0),
            0,
          );
          const entries = meta.reduce((n, [, v]) => n + (v.type === GgufType.ARRAY ? v.value.length : 1), 0);
          const data = tensors.reduce((n, x) => n + x.name.length + 4 * x.data.length + 64, 0);
          const alignment = 32 * (meta.find(([k]) => k === 'general.alignment') ? 8 : 1);
          expect(file.length).toBeLessThanOrEqual(
            64 + 32 * meta.length + 3 * chars + 8 * entries + 3 * data + alignment * (tensors.length + 1) * 64,
          );
          const back = await readBack(file);
          const m = back.typedMetadata as unknown as Record<string, { value: unknown; type: number }>;
          for (const [k, v] of meta) {
            expect(m[k]?.type, k).toBe(v.type);
            expect(m[k].value, k).toEqual(expected(v));
          }
          expect(back.tensorInfos.map((x) => x.name)).toEqual(tensors.map((x) => x.name));
          back.tensorInfos.forEach((info, i) => {
            expect(info.shape.map(Number)).toEqual([...tensors[i].shape].reverse());
            const view = new DataView(file.buffer, file.byteOffset + Number(back.tensorDataOffset + info.offset));
            const got = Array.from(tensors[i].data, (_, j) =>
              tensors[i].type === GgmlType.F16 ? f16BitsToF32(view.getUint16(2 * j, true)) : view.getFloat32(4 * j, true),
            );
            const want = Array.from(tensors[i].data, (x) => (tensors[i].type === GgmlType.F16 ? f16BitsToF32(f32ToF16Bits(x)) : x));
            expect(got).toEqual(want);
          });
        },
      ),
      params,
    );
    expect(t.seen.get('ok') ?? 0, JSON.stringify([...t.seen])).toBeGreaterThan(RUNS / 10);
    expect(t.seen.size, JSON.stringify([...t.seen])).toBeGreaterThanOrEqual(4);
    console.log(JSON.stringify({ writeGguf: Object.fromEntries(t.seen) }));
  });
});
