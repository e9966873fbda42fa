// Property-based fuzzing (fast-check, seeded) of the Hugging Face folder
// reader and the PEFT adapter reader (issue 22): mutations of valid tiny
// folders (config.json fields set to hostile values, safetensors bytes
// flipped, length fields changed, files cut or extended, tensors renamed,
// reshaped, dropped or added, adapter settings changed) give a folder that
// keeps what acceptance promises, or the reader's own HfConfigError; never
// another exception kind. The work is counted, not timed: the bytes the
// reader asks of its source and the values it produces stay linear in the
// folder's size. FUZZ_SEED / FUZZ_RUNS explore further by hand.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../src/checkpoint/safetensors';
import { checkModelRanges, LORA_MODULES, loraShapes, type ModelConfig } from '../../src/core/config';
import type { TensorMap } from '../../src/core/state';
import { HfConfigError, hfTensorShapes, studentConfig } from '../../src/hf/config';
import { readHfFolder, type FolderSource } from '../../src/hf/folder';
import { PEFT_PREFIX, readPeftAdapter } from '../../src/hf/peft';
import { regexHazard } from '../../src/hf/regex-check';
import { TINY_GPT2, tinyAdapterFiles, tinyGpt2Files, tinyGpt2Model } from './hf-tiny-files';

const SEED = Number(process.env.FUZZ_SEED ?? 0x68663232); // "hf22"
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const params = { seed: SEED, numRuns: RUNS };

const TINY_LLAMA = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 16,
  hidden_size: 8,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  num_hidden_layers: 1,
  intermediate_size: 16,
  max_position_embeddings: 16,
  tie_word_embeddings: false,
};
const BASES = { gpt2: tinyGpt2Files(), llama: tinyGpt2Files(TINY_LLAMA) };
type Base = keyof typeof BASES;

/** Files in memory as a folder source that counts the bytes it hands out. */
function memFolder(files: Map<string, Uint8Array>): { src: FolderSource; read: () => number } {
  let read = 0;
  const src: FolderSource = {
    has: (name) => files.has(name),
    size: async (name) => files.get(name)!.length,
    async read(name, range) {
      const f = files.get(name);
      if (!f) throw new Error(`the reader asked for ${name}, which has() did not give`);
      const out = range ? f.slice(range.offset, range.offset + range.length) : f.slice();
      read += out.length;
      return out;
    },
  };
  return { src, read: () => read };
}

const totalBytes = (files: Map<string, Uint8Array>): number => [...files.values()].reduce((s, b) => s + b.length, 0);
const values = (m: TensorMap): number => Object.values(m).reduce((n, t) => n + t.data.length, 0);
const safetensorsBytes = (files: Map<string, Uint8Array>): number =>
  [...files].filter(([n]) => n.endsWith('.safetensors')).reduce((s, [, b]) => s + b.length, 0);

/** 'ok', or which check refused. */
type Outcome = string;

function tally(opts: { ok: boolean; kinds: number }): { add: (o: Outcome) => void; check: () => void } {
  const n = new Map<Outcome, number>();
  return {
    add: (o) => void n.set(o, (n.get(o) ?? 0) + 1),
    check: () => {
      const refusals = [...n.keys()].filter((k) => k !== 'ok');
      if (process.env.FUZZ_SHOW) console.log(JSON.stringify([...n])); // the outcomes, by hand
      expect(refusals.length, JSON.stringify([...n])).toBeGreaterThanOrEqual(opts.kinds);
      if (opts.ok) expect(n.get('ok') ?? 0, JSON.stringify([...n])).toBeGreaterThan(0);
    },
  };
}

function refused(e: unknown): Outcome {
  if (!(e instanceof HfConfigError))
    throw new Error(`not the reader's error: ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
  // the message's first words, without quoted names and numbers
  return e.message
    .replace(/"[^"]*"/g, '""')
    .replace(/\d+/g, 'N')
    .split(/\s+/)
    .slice(0, 4)
    .join(' ')
    .slice(0, 48);
}

/** Reads a folder; checks the work and, when accepted, what acceptance promises. */
async function loadFolder(files: Map<string, Uint8Array>): Promise<Outcome> {
  const { src, read } = memFolder(files);
  const size = totalBytes(files);
  let outcome: Outcome = 'ok';
  try {
    const f = await readHfFolder(src);
    // one set of limits: what the reader accepts, the trainer accepts
    checkModelRanges(studentConfig(f.spec));
    const table = hfTensorShapes(f.spec);
    if (Object.getPrototypeOf(f.weights) !== null) throw new Error('accepted: weights with a prototype');
    expect(Object.keys(f.weights).sort()).toEqual(table.map(([n]) => n).sort());
    for (const [name, shape] of table) {
      expect(f.weights[name].shape, name).toEqual(shape);
      expect(f.weights[name].data.length, name).toBe(shape.reduce((a, b) => a * b, 1));
    }
    // each value takes at least 2 bytes (F16 / BF16) of a weight file
    if (values(f.weights) > safetensorsBytes(files) / 2) throw new Error(`work: ${values(f.weights)} values from ${size} bytes`);
  } catch (e) {
    outcome = refused(e);
  }
  // each header is read twice (its length, then itself); tensors once
  if (read() > 2 * size) throw new Error(`work: ${read()} bytes read from a folder of ${size}`);
  return outcome;
}

async function loadAdapter(files: Map<string, Uint8Array>, model: ModelConfig): Promise<Outcome> {
  const { src, read } = memFolder(files);
  const size = totalBytes(files);
  let outcome: Outcome = 'ok';
  try {
    const { lora, weights } = await readPeftAdapter(src, model);
    expect(Number.isInteger(lora.rank) && lora.rank >= 1 && lora.rank <= 4096).toBe(true);
    expect(Number.isFinite(lora.alpha) && lora.alpha > 0).toBe(true);
    for (const t of lora.targets) expect(LORA_MODULES.gpt2).toContain(t);
    const want = loraShapes({ ...model, lora });
    expect(Object.keys(weights).sort()).toEqual(want.map(([n]) => n).sort());
    for (const [name, shape] of want) expect(weights[name].shape, name).toEqual(shape);
    if (values(weights) > safetensorsBytes(files) / 2) throw new Error(`work: ${values(weights)} values from ${size} bytes`);
  } catch (e) {
    outcome = refused(e);
  }
  if (read() > 2 * size) throw new Error(`work: ${read()} bytes read from a folder of ${size}`);
  return outcome;
}

// ---- mutations -------------------------------------------------------------

const nested = (n: number): unknown => (n === 0 ? 0 : [nested(n - 1)]);
/** Values that probe the limits and the types, besides arbitrary JSON. */
const nasty = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1,
    1.5,
    2,
    4,
    8,
    16,
    1e-30,
    1e-12,
    0.1,
    1e9,
    1e300,
    127,
    128,
    129,
    130,
    8192,
    8193,
    9000,
    262144,
    262145,
    2 ** 53,
    '1',
    '',
    null,
    true,
    false,
    [],
    {},
    '__proto__',
    ['GPT2LMHeadModel'],
    ['LlamaForCausalLM'],
    'llama',
    'gpt2',
    nested(80),
  ),
  fc.jsonValue({ maxDepth: 3 }),
);
const CONFIG_KEYS = [
  ...new Set([...Object.keys(TINY_GPT2), ...Object.keys(TINY_LLAMA)]),
  'rope_theta',
  'rms_norm_eps',
  'head_dim',
  'rope_scaling',
  'n_inner',
  'activation_function',
  'hidden_act',
  'attention_bias',
  '__proto__',
  'constructor',
];

/** config.json fields that the core's limits bound, in both families' names. */
const LIMITED_KEYS = [
  'rope_theta',
  'rms_norm_eps',
  'layer_norm_epsilon',
  'n_positions',
  'max_position_embeddings',
  'n_layer',
  'num_hidden_layers',
  'n_head',
  'num_attention_heads',
  'num_key_value_heads',
  'n_embd',
  'hidden_size',
  'intermediate_size',
  'vocab_size',
];

type Edit =
  | { kind: 'set'; key: string; value: unknown }
  | { kind: 'delete'; key: string }
  | { kind: 'limit'; key: string; value: number }
  | { kind: 'text'; text: string }
  | { kind: 'flip'; file: string; pos: number; xor: number }
  | { kind: 'length'; file: string; value: bigint }
  | { kind: 'cut'; file: string; keep: number }
  | { kind: 'extend'; file: string; bytes: Uint8Array }
  | { kind: 'tensors'; file: string; op: 'rename' | 'remove' | 'reshape' | 'add' | 'f16'; pick: number; name: string; n: number }
  | { kind: 'add-file'; name: string; text: string };

/** JSON nested deeper than any stack walks: a value of a known field, or the whole file. */
const DEEP = 100_000;
const deepText = (inner: string): string => `${'['.repeat(DEEP)}${inner}${']'.repeat(DEEP)}`;
const jsonText = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom(
    deepText('0'),
    `{"architectures": ${deepText('1')}}`,
    `{"weight_map": {"a": ${deepText('"x"')}}}`,
    `{"peft_type": ${deepText('1')}}`,
  ),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
  fc.constant(`{"weight_map": {"a": "model.safetensors"}}`),
  fc.constant(`{"weight_map": {"x": "../config.json"}}`),
  fc.constant(`{"weight_map": {"x": "model-00002-of-00002.safetensors"}}`),
);

function edits(jsonFile: string, weightFile: string, keys: string[]): fc.Arbitrary<Edit[]> {
  const file = fc.constantFrom(jsonFile, weightFile);
  const tensorName = fc.oneof(
    fc.constantFrom(
      '__proto__',
      'constructor',
      'toString',
      'lm_head.weight',
      'transformer.h.1.ln_1.weight',
      'model.layers.1.mlp.up_proj.weight',
    ),
    fc.string({ maxLength: 10 }),
  );
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.constantFrom(...keys), value: nasty }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...keys) }) },
    // the sizes and constants at and past the core's limits (MODEL_LIMITS)
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('limit' as const),
        key: fc.constantFrom(...LIMITED_KEYS),
        value: fc.constantFrom(0, 1e-30, 1e-13, 1e-12, 0.1, 0.5, 2, 1e9, 1e10, 1e300, 127, 128, 129, 4096, 8192, 8193, 9000, 65537),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('text' as const), text: jsonText }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('flip' as const), file, pos: fc.nat(400), xor: fc.integer({ min: 1, max: 255 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('length' as const),
        file: fc.constant(weightFile),
        value: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.nat(2000).map(BigInt)),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), file, keep: fc.nat(4000) }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('extend' as const), file, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('tensors' as const),
        file: fc.constant(weightFile),
        op: fc.constantFrom('rename' as const, 'remove' as const, 'reshape' as const, 'add' as const, 'f16' as const),
        pick: fc.nat(1000),
        name: tensorName,
        n: fc.nat(40),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('add-file' as const),
        name: fc.constantFrom('model.safetensors.index.json', 'tokenizer.json', 'generation_config.json', 'tokenizer_config.json'),
        text: jsonText,
      }),
    },
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 });
}

const define = (o: Record<string, unknown>, key: string, value: unknown): void =>
  void Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });

function retensor(bytes: Uint8Array, e: Extract<Edit, { kind: 'tensors' }>): Uint8Array {
  let d: ReturnType<typeof decode>;
  try {
    d = decode(bytes.slice());
  } catch {
    return bytes; // an earlier edit broke the file: leave it so
  }
  const names = Object.keys(d.tensors);
  const from = names[e.pick % Math.max(1, names.length)];
  const t = d.tensors[from];
  if (e.op === 'add') define(d.tensors, e.name, { shape: [e.n], data: new Float32Array(e.n) });
  else if (t && e.op === 'remove') delete d.tensors[from];
  else if (t && e.op === 'rename') {
    delete d.tensors[from];
    define(d.tensors, e.name, t);
  } else if (t && e.op === 'reshape') {
    const n = t.data.length;
    const a = [1, 2, 4, 8, n][e.n % 5];
    d.tensors[from] = { shape: n % a === 0 ? [a, n / a] : [n, 1], data: t.data };
  }
  try {
    return encode(d.tensors, d.metadata, e.op === 'f16' ? { dtype: 'F16' } : {});
  } catch {
    return bytes; // a name encode() itself refuses
  }
}

function apply(base: Map<string, Uint8Array>, jsonFile: string, list: Edit[]): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>([...base].map(([k, v]) => [k, v.slice()]));
  const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
  for (const e of list) {
    if (e.kind === 'set' || e.kind === 'delete' || e.kind === 'limit') {
      let o: unknown;
      try {
        o = JSON.parse(new TextDecoder().decode(files.get(jsonFile)));
        if (typeof o !== 'object' || o === null || Array.isArray(o)) continue;
        if (e.kind !== 'delete') define(o as Record<string, unknown>, e.key, e.value);
        else delete (o as Record<string, unknown>)[e.key];
        files.set(jsonFile, enc(o));
      } catch {
        // not JSON, or too deep for JSON.stringify here: the edit does not apply
      }
    } else if (e.kind === 'text') files.set(jsonFile, new TextEncoder().encode(e.text));
    else if (e.kind === 'add-file') files.set(e.name, new TextEncoder().encode(e.text));
    else {
      const b = files.get(e.file)!;
      if (e.kind === 'flip') {
        if (b.length > 0) b[e.pos % b.length] ^= e.xor;
      } else if (e.kind === 'length') {
        if (b.length >= 8) new DataView(b.buffer, b.byteOffset).setBigUint64(0, e.value, true);
      } else if (e.kind === 'cut') files.set(e.file, b.subarray(0, e.keep % (b.length + 1)));
      else if (e.kind === 'extend') {
        const longer = new Uint8Array(b.length + e.bytes.length);
        longer.set(b);
        longer.set(e.bytes, b.length);
        files.set(e.file, longer);
      } else files.set(e.file, retensor(b, e));
    }
  }
  return files;
}

// ---- properties --------------------------------------------------------------

describe('fuzz: readHfFolder on mutations of tiny GPT-2 and LLaMA folders', () => {
  it('the unmutated folders load', async () => {
    for (const b of Object.keys(BASES) as Base[]) expect(await loadFolder(BASES[b]), b).toBe('ok');
  });

  it('config.json, weight file and extra file edits: a folder that keeps its promises, or an HfConfigError', async () => {
    const seen = tally({ ok: true, kinds: 6 });
    const input = fc.tuple(fc.constantFrom(...(Object.keys(BASES) as Base[])), edits('config.json', 'model.safetensors', CONFIG_KEYS));
    await fc.assert(
      fc.asyncProperty(input, async ([b, list]) => seen.add(await loadFolder(apply(BASES[b], 'config.json', list)))),
      { ...params, numRuns: 2 * RUNS },
    );
    seen.check();
  });

  it('random bytes as model.safetensors, a random index, a missing file', async () => {
    const seen = tally({ ok: false, kinds: 2 });
    const files = fc.record({
      weights: fc.option(fc.uint8Array({ maxLength: 300 })),
      index: fc.option(jsonText),
      config: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(files, async (f) => {
        const m = new Map<string, Uint8Array>();
        if (f.config) m.set('config.json', BASES.gpt2.get('config.json')!);
        if (f.weights) m.set('model.safetensors', f.weights);
        if (f.index !== null) m.set('model.safetensors.index.json', new TextEncoder().encode(f.index));
        seen.add(await loadFolder(m));
      }),
      params,
    );
    seen.check();
  });
});

describe('fuzz: readPeftAdapter on mutations of a tiny adapter', () => {
  const model = tinyGpt2Model();
  const base = tinyAdapterFiles();
  const KEYS = [
    'peft_type',
    'task_type',
    'r',
    'lora_alpha',
    'target_modules',
    'use_rslora',
    'use_dora',
    'bias',
    'modules_to_save',
    'rank_pattern',
    '__proto__',
  ];

  it('the unmutated adapter loads', async () => {
    expect(await loadAdapter(base, model)).toBe('ok');
  });

  it('adapter_config.json and adapter_model.safetensors edits: an adapter that fits the model, or an HfConfigError', async () => {
    const seen = tally({ ok: true, kinds: 5 });
    const targets = fc.constantFrom(['c_attn'], ['c_attn', 'c_proj'], ['c_fc'], ['q_proj'], 'c_attn', [], [PEFT_PREFIX]);
    const list = fc.oneof(
      edits('adapter_config.json', 'adapter_model.safetensors', KEYS),
      targets.map((t): Edit[] => [{ kind: 'set', key: 'target_modules', value: t }]),
    );
    await fc.assert(
      fc.asyncProperty(list, async (l) => seen.add(await loadAdapter(apply(base, 'adapter_config.json', l), model))),
      { ...params, numRuns: 2 * RUNS },
    );
    seen.check();
  });
});

describe('fuzz: regexHazard', () => {
  // pieces of patterns, so that random ones reach the parser's cases
  const PIECES = [
    '(',
    ')',
    '(?:',
    '(?i:',
    '(?=',
    '(?!',
    '(?<=',
    '[',
    ']',
    '[^',
    '|',
    '*',
    '+',
    '?',
    '{2}',
    '{1,3}',
    '{2,}',
    '.',
    'a',
    'b',
    ' ',
    '\\s',
    '\\S',
    '\\d',
    '\\p{L}',
    '\\p{N}',
    '\\P{L}',
    '\\r\\n',
    '\\1',
    '\\',
    '-',
    '^',
    '$',
    '\\x{41}',
    '\\u0041',
  ];
  it('any pattern gets a verdict: undefined or a reason, never an exception', () => {
    const pattern = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.array(fc.constantFrom(...PIECES), { maxLength: 24 }).map((a) => a.join('')),
    );
    let accepted = 0;
    fc.assert(
      fc.property(pattern, (p) => {
        const v = regexHazard(p);
        if (v === undefined) accepted++;
        else expect(typeof v).toBe('string');
      }),
      { ...params, numRuns: 4 * RUNS },
    );
    expect(accepted).toBeGreaterThan(0);
  });
});
