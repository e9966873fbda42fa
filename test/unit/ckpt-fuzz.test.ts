// Property-based fuzzing of the checkpoint readers (fast-check, seeded, a
// few hundred runs each): random bytes, random headers, and mutations of a
// valid tiny checkpoint (header byte flips, length field changes,
// truncation, metadata JSON and tensor edits with the checksum recomputed).
// Every input must give a result or the module's own error (SafetensorsError,
// CheckpointFormatError; TokenizerError for the tokenizer), never another
// exception kind, and the work done must stay linear in the input: counted
// (parameter-table entries, values produced, token bytes), not timed.

import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type * as ConfigModule from '../../src/core/config';
import { checkModelRanges, checkTrainRanges, type ModelConfig } from '../../src/core/config';
import {
  CheckpointFormatError,
  checkpointChecksum,
  metadataChecksum,
  expectedParamShapes,
  safetensorsToState,
  stateToSafetensors,
} from '../../src/checkpoint/format';
import { SafetensorsError, decode, encode } from '../../src/checkpoint/safetensors';
import { TOKENIZER_LIMITS, Tokenizer, TokenizerError } from '../../src/core/tokenizer';
import type { TensorMap, TrainState } from '../../src/core/state';
import { TINY, dataStart, rawFile, tinyState } from './ckpt-fixtures';

// Counts the entries of every parameter table built (and stops a runaway
// loop over nLayer with an error of its own, which the properties report).
const work = vi.hoisted(() => ({ entries: 0, layerReads: 0 }));
vi.mock('../../src/core/config', async (importOriginal) => {
  const orig = await importOriginal<typeof ConfigModule>();
  return {
    ...orig,
    paramShapes: (c: ModelConfig) => {
      const counted = new Proxy(c, {
        get(t, k, r) {
          if (k === 'nLayer' && ++work.layerReads > 10_000)
            throw new Error('work budget exceeded: paramShapes went through more than 10000 layers');
          return Reflect.get(t, k, r) as unknown;
        },
      });
      const table = orig.paramShapes(counted);
      work.entries += table.length;
      return table;
    },
  };
});

// Seeded, so a failure replays; FUZZ_SEED / FUZZ_RUNS explore further by hand.
const SEED = Number(process.env.FUZZ_SEED ?? 0x6d63636b); // "mcck"
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const params = { seed: SEED, numRuns: RUNS };

/** A valid checkpoint whose tokenizer Tokenizer.fromJSON accepts too. */
function baseState(): TrainState {
  const config = { ...TINY, vocabSize: 260 };
  const s = tinyState({ config });
  s.tokenizer = {
    type: 'byte-bpe/1',
    vocabSize: 260,
    merges: [
      [106, 107],
      [258, 108],
    ],
  };
  return s;
}
const BASE = stateToSafetensors(baseState());
const HEADER_END = dataStart(BASE);

const values = (m: TensorMap): number => Object.values(m).reduce((n, t) => n + t.data.length, 0);

/** 'ok', or which check refused: the error's name and, for checkpoint
 * errors, its problem. */
type Outcome = string;

/** Outcomes of one property's runs: a mutating property must reach several
 * different checks (and, where `ok`, load some files too), or it is not
 * testing what it claims. */
function tally(opts: { ok: boolean; kinds: number }): { add: (o: Outcome) => void; check: () => void } {
  const n = new Map<Outcome, number>();
  return {
    add: (o) => void n.set(o, (n.get(o) ?? 0) + 1),
    check: () => {
      const refusals = [...n.keys()].filter((k) => k !== 'ok');
      expect(refusals.length, JSON.stringify([...n])).toBeGreaterThanOrEqual(opts.kinds);
      if (opts.ok) expect(n.get('ok') ?? 0, JSON.stringify([...n])).toBeGreaterThan(0);
    },
  };
}

/** What an accepted checkpoint guarantees to whoever uses it. */
function accepted(state: TrainState): void {
  const want = Object.keys(expectedParamShapes(state.modelConfig)).sort();
  for (const [label, map] of [
    ['params', state.params],
    ['m', state.optimizer.m],
    ['v', state.optimizer.v],
  ] as const) {
    const proto: unknown = Object.getPrototypeOf(map);
    if (proto !== Object.prototype && proto !== null) throw new Error(`accepted: ${label} has a foreign prototype`);
    const got = Object.keys(map).sort();
    if (got.join('\n') !== want.join('\n'))
      throw new Error(`accepted: ${label} holds ${got.length} tensors, the model config has ${want.length}`);
  }
  checkModelRanges(state.modelConfig);
  checkTrainRanges(state.trainConfig);
  const vocab = (state.tokenizer as { vocabSize?: unknown }).vocabSize;
  if (vocab !== state.modelConfig.vocabSize)
    throw new Error(`accepted: tokenizer vocabulary ${String(vocab)}, model ${state.modelConfig.vocabSize}`);
}

/** Runs the reader; returns how it ended, or throws a descriptive error
 * for another exception kind, for work beyond the linear bound, or for an
 * accepted file that breaks what acceptance promises. */
function load(bytes: Uint8Array): Outcome {
  work.entries = 0;
  work.layerReads = 0;
  let state: TrainState;
  try {
    state = safetensorsToState(bytes).state;
  } catch (e) {
    if (!(e instanceof SafetensorsError || e instanceof CheckpointFormatError)) {
      throw new Error(`not the module's error: ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
    }
    if (work.entries > bytes.length) throw new Error(`work: a parameter table of ${work.entries} entries for ${bytes.length} bytes`);
    return e instanceof CheckpointFormatError ? `${e.name}:${e.problem}` : e.name;
  }
  if (work.entries > bytes.length) throw new Error(`work: a parameter table of ${work.entries} entries for ${bytes.length} bytes`);
  accepted(state);
  // values produced: each takes >= 2 bytes of the file (F16), the zero
  // moments of a weights-only file double the parameters at most
  const produced = values(state.params) + values(state.optimizer.m) + values(state.optimizer.v);
  if (produced > 2 * bytes.length) throw new Error(`work: ${produced} values produced from ${bytes.length} bytes`);
  // what `mcckd eval` and Import do next: build the tokenizer
  let tok: Tokenizer;
  try {
    tok = Tokenizer.fromJSON(state.tokenizer);
  } catch (e) {
    if (e instanceof TokenizerError) return 'ok';
    throw new Error(`Tokenizer.fromJSON: not a TokenizerError: ${String(e)}`);
  }
  const learned = Math.min(tok.vocabSize, 258 + tok.toJSON().merges.length); // ids past the merges decode to nothing
  let tokenBytes = 0;
  for (let id = 0; id < learned; id++) tokenBytes += new TextEncoder().encode(tok.decode([id])).length;
  // linear in the merges (decode() turns an invalid byte into 3 bytes of U+FFFD at most)
  if (tokenBytes > 3 * (256 + TOKENIZER_LIMITS.maxTokenBytes * (learned - 258)))
    throw new Error(`work: ${tokenBytes} token bytes from ${learned - 258} merges`);
  return 'ok';
}

function decodeOnly(bytes: Uint8Array): Outcome {
  try {
    const { tensors } = decode(bytes);
    if (values(tensors) > bytes.length) throw new Error(`work: ${values(tensors)} values from ${bytes.length} bytes`);
    return 'ok';
  } catch (e) {
    if (!(e instanceof SafetensorsError))
      throw new Error(`not a SafetensorsError: ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
    return e.name;
  }
}

/** Re-encodes the base file after `edit`, checksum recomputed. */
function reencoded(edit: (d: ReturnType<typeof decode>) => void): Uint8Array | undefined {
  const d = decode(BASE.slice());
  edit(d);
  d.metadata.checksum = checkpointChecksum(d.tensors);
  d.metadata.metadata_checksum = metadataChecksum(d.metadata);
  try {
    return encode(d.tensors, d.metadata);
  } catch (e) {
    if (e instanceof SafetensorsError) return undefined; // the edit made something encode() itself refuses
    throw e;
  }
}

// Values that probe the limits, besides arbitrary JSON.
const nested = (n: number): unknown => (n === 0 ? 0 : [nested(n - 1)]);
const nasty = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1,
    1.5,
    2,
    1e-40,
    1e9,
    1e30,
    65536,
    65537,
    8192,
    8193,
    128,
    129,
    2 ** 53,
    -0,
    '1',
    null,
    true,
    [],
    {},
    '__proto__',
    nested(70),
  ),
  fc.jsonValue({ maxDepth: 3 }),
);
const KEYS = {
  model_config: ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'layerNormEps', '__proto__', 'constructor'],
  train_config: [
    'preset',
    'alpha',
    'temperature',
    'k',
    'steps',
    'epochs',
    'batchSize',
    'lr',
    'minLr',
    'warmupSteps',
    'weightDecay',
    'beta1',
    'beta2',
    'eps',
    'gradClip',
    'seed',
    'logEvery',
    'vocabSize',
    'backend',
    '__proto__',
  ],
  tokenizer: ['type', 'vocabSize', 'merges', '__proto__'],
  run_state: ['step', 'optimizerStep', 'rngState', 'cursor', 'datasetFingerprint', '__proto__'],
} as const;
type Field = keyof typeof KEYS;

describe('fuzz: safetensors decode', () => {
  it('random bytes give tensors or a SafetensorsError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => void decodeOnly(b)),
      params,
    );
  });

  it('random headers over random bodies give tensors or a SafetensorsError', () => {
    const entry = fc.record(
      {
        dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'toString'), fc.jsonValue({ maxDepth: 1 })),
        shape: fc.oneof(fc.array(fc.nat(6), { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 })),
        data_offsets: fc.oneof(fc.tuple(fc.nat(64), fc.nat(64)), fc.jsonValue({ maxDepth: 2 })),
      },
      { requiredKeys: [] },
    );
    const name = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('__proto__', 'constructor', 'toString', '__metadata__', 'hasOwnProperty'),
    );
    const header = fc.oneof(
      fc.dictionary(name, fc.oneof(entry, fc.jsonValue({ maxDepth: 2 })), { maxKeys: 6 }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    fc.assert(
      fc.property(header, fc.nat(96), (h, body) => void decodeOnly(rawFile(h, body))),
      params,
    );
  });
});

describe('fuzz: safetensorsToState on mutations of a valid tiny checkpoint', () => {
  it('the unmutated file loads, and its tokenizer too', () => {
    expect(load(BASE)).toBe('ok');
    expect(Tokenizer.fromJSON(safetensorsToState(BASE).state.tokenizer).vocabSize).toBe(260);
  });

  it('byte flips in the header (length field included)', () => {
    const flip = fc.record({ pos: fc.nat(HEADER_END - 1), xor: fc.integer({ min: 1, max: 255 }) });
    const seen = tally({ ok: false, kinds: 2 }); // a flipped byte rarely leaves valid JSON
    fc.assert(
      fc.property(fc.array(flip, { minLength: 1, maxLength: 8 }), (flips) => {
        const b = BASE.slice();
        for (const { pos, xor } of flips) b[pos] ^= xor;
        seen.add(load(b));
      }),
      params,
    );
    seen.check();
  });

  it('header length field set to anything', () => {
    const len = fc.oneof(
      fc.nat(BASE.length + 64).map(BigInt),
      fc.integer({ min: HEADER_END - 88, max: HEADER_END + 80 }).map(BigInt),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    );
    fc.assert(
      fc.property(len, (n) => {
        const b = BASE.slice();
        new DataView(b.buffer).setBigUint64(0, n, true);
        load(b);
      }),
      params,
    );
  });

  it('truncation and extension', () => {
    const seen = tally({ ok: true, kinds: 1 });
    fc.assert(
      fc.property(fc.nat(BASE.length), fc.uint8Array({ maxLength: 16 }), (cut, extra) => {
        seen.add(load(BASE.subarray(0, cut)));
        const longer = new Uint8Array(BASE.length + extra.length);
        longer.set(BASE);
        longer.set(extra, BASE.length);
        seen.add(load(longer));
      }),
      params,
    );
    seen.check();
  });

  it('metadata JSON edits with the checksum recomputed', () => {
    type Edit =
      | { kind: 'set'; key: string; value: unknown }
      | { kind: 'delete'; key: string }
      | { kind: 'text'; text: string }
      | { kind: 'merges'; merges: unknown[]; vocabSize: number };
    const editFor = (f: Field): fc.Arbitrary<Edit> => {
      const kinds: fc.WeightedArbitrary<Edit>[] = [
        // set or add one key: mostly the field's own keys
        {
          weight: 6,
          arbitrary: fc.record({
            kind: fc.constant('set' as const),
            key: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...KEYS[f]) }, fc.string({ maxLength: 6 })),
            value: nasty,
          }),
        },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...KEYS[f]) }) },
        // replace the whole field's text
        {
          weight: 1,
          arbitrary: fc.record({
            kind: fc.constant('text' as const),
            text: fc.oneof(
              fc.string({ maxLength: 40 }),
              fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
            ),
          }),
        },
      ];
      if (f === 'tokenizer') {
        // merges: random pairs, or chains of merges of the previous token with itself
        const merges = fc.oneof(
          fc.array(fc.tuple(fc.integer({ min: -2, max: 300 }), fc.integer({ min: -2, max: 300 })), { maxLength: 12 }),
          fc.integer({ min: 1, max: 24 }).map((n) => Array.from({ length: n }, (_, r) => (r === 0 ? [2, 2] : [257 + r, 257 + r]))),
        );
        const vocabSize = fc.constantFrom(16, 259, 260, 260, 261, 300, 65536, 1e9);
        kinds.push({ weight: 4, arbitrary: fc.record({ kind: fc.constant('merges' as const), merges, vocabSize }) });
      }
      return fc.oneof(...kinds);
    };
    const fieldAndEdits = fc
      .constantFrom(...(Object.keys(KEYS) as Field[]))
      .chain((f) => fc.tuple(fc.constant(f), fc.array(editFor(f), { minLength: 1, maxLength: 3 })));
    const seen = tally({ ok: true, kinds: 3 });
    fc.assert(
      fc.property(fieldAndEdits, ([f, edits]) => {
        const file = reencoded((d) => {
          for (const e of edits) {
            if (e.kind === 'text') {
              d.metadata[f] = e.text;
              continue;
            }
            let obj: unknown;
            try {
              obj = JSON.parse(d.metadata[f]);
            } catch {
              continue;
            }
            if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) continue;
            const o = obj as Record<string, unknown>;
            if (e.kind === 'set') Object.defineProperty(o, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
            else if (e.kind === 'delete') delete o[e.key];
            else {
              o.merges = e.merges;
              o.vocabSize = e.vocabSize;
            }
            d.metadata[f] = JSON.stringify(o);
          }
        });
        if (file) seen.add(load(file));
      }),
      { seed: SEED, numRuns: 2 * RUNS },
    );
    seen.check();
  });

  it('tensor renames, reshapes and removals with the checksum recomputed', () => {
    const names = Object.keys(decode(BASE.slice()).tensors);
    const name = fc.oneof(
      fc.constantFrom(
        'constructor',
        'toString',
        'optimizer.exp_avg.__proto__',
        'optimizer.exp_avg_sq.constructor',
        'optimizer.exp_avg.',
        'transformer.h.1.ln_1.weight',
        'transformer.h.-1.ln_1.weight',
      ),
      fc.string({ maxLength: 10 }),
      fc.constantFrom(...names),
    );
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('rename' as const), from: fc.constantFrom(...names), to: name }),
      fc.record({ kind: fc.constant('remove' as const), from: fc.constantFrom(...names) }),
      fc.record({ kind: fc.constant('reshape' as const), from: fc.constantFrom(...names), split: fc.nat(4) }),
      fc.record({ kind: fc.constant('add' as const), to: name, n: fc.nat(40) }),
    );
    const seen = tally({ ok: true, kinds: 1 });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 5 }), (edits) => {
        const file = reencoded((d) => {
          for (const e of edits) {
            if (e.kind === 'add') {
              Object.defineProperty(d.tensors, e.to, {
                value: { shape: [e.n], data: new Float32Array(e.n) },
                enumerable: true,
                writable: true,
                configurable: true,
              });
              continue;
            }
            const t = d.tensors[e.from];
            if (!t || !Object.hasOwn(d.tensors, e.from)) continue;
            delete d.tensors[e.from];
            if (e.kind === 'rename')
              Object.defineProperty(d.tensors, e.to, { value: t, enumerable: true, writable: true, configurable: true });
            if (e.kind === 'reshape') {
              const n = t.data.length;
              const a = [1, 2, 4, 8, n][e.split];
              d.tensors[e.from] = { shape: n % a === 0 ? [a, n / a] : [n], data: t.data };
            }
          }
        });
        if (file) seen.add(load(file));
      }),
      params,
    );
    seen.check();
  });
});
