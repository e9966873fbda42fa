// Hostile checkpoints: files whose checksum is VALID (recomputed after the
// tampering, the checksum only covers tensor bytes) but whose metadata or
// tensor names would crash or mislead whatever loads them (`mcckd eval`, the
// worker's Import). Every one must be refused with the module's own error
// type and a message naming the problem, before any large work is done.

import { describe, expect, it, vi } from 'vitest';
import type * as ConfigModule from '../../src/core/config';
import { MODEL_LIMITS, TRAIN_LIMITS, paramCountOf, countParams, type ModelConfig } from '../../src/core/config';
import {
  CheckpointFormatError,
  checkpointChecksum,
  metadataChecksum,
  safetensorsToState,
  stateToSafetensors,
} from '../../src/checkpoint/format';
import { SafetensorsError, decode, encode } from '../../src/checkpoint/safetensors';
import { Tokenizer, TokenizerError } from '../../src/core/tokenizer';
import type { TrainState } from '../../src/core/state';
import { ARCH_NAMES } from '../../src/core/arch';
import { TINY, rawFile, tinyState } from './ckpt-fixtures';

// Work counter around the one parameter table: counts calls, and reads of
// nLayer (paramShapes reads it once per layer), and stops a runaway loop
// with an error of its own instead of running out of memory.
const work = vi.hoisted(() => ({ calls: 0, layerReads: 0, budget: 10_000 }));
vi.mock('../../src/core/config', async (importOriginal) => {
  const orig = await importOriginal<typeof ConfigModule>();
  return {
    ...orig,
    paramShapes: (c: ModelConfig) => {
      work.calls++;
      const counted = new Proxy(c, {
        get(t, k, r) {
          if (k === 'nLayer' && ++work.layerReads > work.budget) {
            throw new Error(`work budget exceeded: paramShapes went through more than ${work.budget} layers`);
          }
          return Reflect.get(t, k, r) as unknown;
        },
      });
      return orig.paramShapes(counted);
    },
  };
});

function resetWork(): void {
  work.calls = 0;
  work.layerReads = 0;
}

function refusal(fn: () => unknown): CheckpointFormatError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof CheckpointFormatError)) throw new Error(`expected a CheckpointFormatError, got ${String(e)}`);
    return e;
  }
  throw new Error('expected a refusal, the checkpoint was accepted');
}

function decodeRefusal(fn: () => unknown): SafetensorsError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw new Error(`expected a SafetensorsError, got ${String(e)}`);
    return e;
  }
  throw new Error('expected a refusal, the file was accepted');
}

/** A valid file re-encoded after `edit`, with the checksum recomputed. */
function tampered(edit: (t: ReturnType<typeof decode>) => void, state: TrainState = tinyState()): Uint8Array {
  const d = decode(stateToSafetensors(state));
  edit(d);
  d.metadata.checksum = checkpointChecksum(d.tensors);
  d.metadata.metadata_checksum = metadataChecksum(d.metadata);
  return encode(d.tensors, d.metadata);
}

const withModel = (patch: Record<string, unknown>): Uint8Array =>
  tampered((d) => {
    d.metadata.model_config = JSON.stringify({ ...TINY, ...patch });
  });

const withTrain = (patch: Record<string, unknown>): Uint8Array =>
  tampered((d) => {
    d.metadata.train_config = JSON.stringify({ ...JSON.parse(d.metadata.train_config), ...patch });
  });

const withTokenizer = (tok: unknown, state?: TrainState): Uint8Array =>
  tampered((d) => {
    d.metadata.tokenizer = JSON.stringify(tok);
  }, state);

/** `n` merges each joining the previous token with itself: token 258 + r
 * is 2^(r+1) bytes long, all of them together 2^(n+2) - 4 bytes. */
const chainedMerges = (n: number): [number, number][] => Array.from({ length: n }, (_, r) => (r === 0 ? [2, 2] : [257 + r, 257 + r]));

const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);

describe('hostile model_config (checksum valid)', () => {
  it('refuses nLayer: 1e9 at once, without building the parameter table', () => {
    const file = withModel({ nLayer: 1e9 });
    resetWork();
    const e = refusal(() => safetensorsToState(file));
    expect(e.problem).toBe('config');
    expect(e.message).toBe(`model_config: nLayer must be an integer in [1, ${MODEL_LIMITS.nLayer.max}], got 1000000000`);
    expect(work.calls).toBe(0);
  });

  it('bounds every model config field, naming the field and the range', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ vocabSize: 1e9 }, /^model_config: vocabSize must be an integer in \[1, 262144\], got 1000000000$/],
      [{ arch: 'bert' }, new RegExp(`^model_config: arch must be one of ${ARCH_NAMES.join(', ')}, got "bert"$`)],
      [{ nKvHead: 1 }, /^model_config: a gpt2 model has no grouped-query attention/],
      [{ intermediateSize: 1e9 }, /^model_config: intermediateSize must be an integer in \[1, 65536\], got 1000000000$/],
      [{ tieWordEmbeddings: 'yes' }, /^model_config: tieWordEmbeddings must be true or false$/],
      [{ lora: { rank: 4, alpha: 8, targets: ['q_proj'] } }, /^model_config: lora.targets: "q_proj" is not a projection of a gpt2 model/],
      [
        { lora: { rank: 1e9, alpha: 8, targets: ['c_attn'] } },
        /^model_config: lora.rank must be an integer in \[1, 4096\], got 1000000000$/,
      ],
      [{ arch: 'llama' }, /^model_config: a llama model must name its pretrained base/],
      [{ blockSize: 1e7 }, /^model_config: blockSize must be an integer in \[1, 8192\], got 10000000$/],
      [{ nHead: 1e6, nEmbd: 1e6 }, /^model_config: nHead must be an integer in \[1, 128\], got 1000000$/],
      [{ nEmbd: 1 << 20 }, /^model_config: nEmbd must be an integer in \[1, 8192\], got 1048576$/],
      [{ layerNormEps: 1e-40 }, /^model_config: layerNormEps must be a number in \[1e-12, 0\.1\], got 1e-40$/],
      [{ layerNormEps: 5 }, /^model_config: layerNormEps must be a number in \[1e-12, 0\.1\], got 5$/],
    ];
    for (const [patch, msg] of cases) {
      const file = withModel(patch);
      resetWork();
      const e = refusal(() => safetensorsToState(file));
      expect(e.message).toMatch(msg);
      expect(work.calls).toBe(0);
    }
  });

  it('refuses a config implying more parameters than the file holds, before building the table', () => {
    const huge = { vocabSize: 65536, blockSize: 8192, nLayer: 128, nHead: 128, nEmbd: 8192, layerNormEps: 1e-5 };
    const file = withModel(huge);
    resetWork();
    const e = refusal(() => safetensorsToState(file));
    const inFile = 3 * countParams(TINY);
    const d = huge.nEmbd;
    const implied = huge.vocabSize * d + huge.blockSize * d + huge.nLayer * (12 * d * d + 13 * d) + 2 * d;
    expect(e.message).toBe(
      `model_config describes ${implied} parameters, but the file's tensors hold only ${inFile} values in all (the config does not belong to these tensors)`,
    );
    expect(work.calls).toBe(0);
    // a weights-only file holds the parameters once
    const wo = decode(stateToSafetensors(tinyState(), { weightsOnly: true }));
    wo.metadata.model_config = JSON.stringify({ ...TINY, nLayer: 2 });
    wo.metadata.metadata_checksum = metadataChecksum(wo.metadata);
    const woFile = encode(wo.tensors, wo.metadata);
    resetWork();
    expect(refusal(() => safetensorsToState(woFile)).message).toMatch(
      /^model_config describes 1952 parameters, but the file's tensors hold only 1080 values in all/,
    );
    expect(work.calls).toBe(0);
  });

  it('paramCountOf (closed form, no table) equals countParams (the table)', () => {
    for (const c of [TINY, { ...TINY, nLayer: 7, nEmbd: 24, nHead: 3, vocabSize: 300, blockSize: 33 }])
      expect(paramCountOf(c)).toBe(countParams(c));
  });
});

describe('hostile tokenizer metadata (checksum valid)', () => {
  const big = { ...TINY, vocabSize: 300 };
  const bigState = (): TrainState => tinyState({ config: big });

  it('refuses 27 chained merges (256 MiB of token bytes) without building them', () => {
    const e = refusal(() =>
      safetensorsToState(withTokenizer({ type: 'byte-bpe/1', vocabSize: 300, merges: chainedMerges(27) }, bigState())),
    );
    expect(e.problem).toBe('config');
    expect(e.message).toBe('tokenizer: token 268 would be 2048 bytes long (limit 1024): merges chain into oversized tokens');
  });

  it('Tokenizer.fromJSON refuses chained merges before allocating them', () => {
    // 22 merges: 8 MiB if built; the check computes lengths as numbers
    const j = { type: 'byte-bpe/1', vocabSize: 300, merges: chainedMerges(22) };
    expect(() => Tokenizer.fromJSON(j)).toThrow(TokenizerError);
    expect(() => Tokenizer.fromJSON(j)).toThrow(
      'tokenizer: token 268 would be 2048 bytes long (limit 1024): merges chain into oversized tokens',
    );
    // a short chain is fine
    expect(Tokenizer.fromJSON({ type: 'byte-bpe/1', vocabSize: 300, merges: chainedMerges(9) }).decode([266])).toBe('\0'.repeat(512));
  });

  it('refuses more merges than the vocabulary holds, and merges of ids that do not exist', () => {
    const many = refusal(() =>
      safetensorsToState(withTokenizer({ type: 'byte-bpe/1', vocabSize: 16, merges: Array.from({ length: 17 }, () => [2, 3]) })),
    );
    expect(many.message).toBe('tokenizer: 17 merges but a vocabulary of 16 tokens');
    const dangling = refusal(() => safetensorsToState(withTokenizer({ type: 'byte-bpe/1', vocabSize: 16, merges: [[5, 999]] })));
    expect(dangling.message).toBe('tokenizer: merge 0 is not a pair of earlier token ids ([5,999])');
    const notInt = refusal(() => safetensorsToState(withTokenizer({ type: 'byte-bpe/1', vocabSize: 16, merges: [[1.5, 2]] })));
    expect(notInt.message).toMatch(/^tokenizer: merge 0 is not a pair of earlier token ids/);
    const noMerges = refusal(() => safetensorsToState(withTokenizer({ type: 'byte-bpe/1', vocabSize: 16 })));
    expect(noMerges.message).toMatch(/^tokenizer: expected \{"type": "byte-bpe\/1", "vocabSize", "merges"\}/);
  });

  it('refuses a tokenizer whose vocabulary differs from model_config.vocabSize', () => {
    const e = refusal(() => safetensorsToState(withTokenizer({ type: 'byte-bpe/1', vocabSize: 17, merges: [[2, 3]] })));
    expect(e.problem).toBe('config');
    expect(e.message).toBe(
      'tokenizer has a vocabulary of 17 tokens but model_config.vocabSize is 16 (token ids would fall outside the embedding)',
    );
    const smaller = refusal(() => safetensorsToState(withTokenizer({ type: 'byte-bpe/1', vocabSize: 15, merges: [] })));
    expect(smaller.message).toMatch(/vocabulary of 15 tokens but model_config.vocabSize is 16/);
  });
});

describe('hostile train_config (checksum valid)', () => {
  it('refuses values outside TRAIN_LIMITS, naming the field and the allowed range', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ batchSize: 1e9 }, 'batchSize must be an integer in [1, 4096], got 1000000000'],
      [{ batchSize: 2.5 }, 'batchSize must be an integer in [1, 4096], got 2.5'],
      [{ temperature: 1e-40 }, 'temperature must be a number in [0.05, 100], got 1e-40'],
      [{ lr: 1e30 }, 'lr must be a number in (0, 1], got 1e+30'],
      [{ lr: 0 }, 'lr must be a number in (0, 1], got 0'],
      [{ minLr: -1 }, 'minLr must be a number in [0, 1], got -1'],
      [{ alpha: 1e9 }, 'alpha must be a number in [0, 100], got 1000000000'],
      [{ steps: 1e12 }, 'steps must be an integer in [1, 10000000], got 1000000000000'],
      [{ epochs: 1e12 }, 'epochs must be a number in (0, 1000000], got 1000000000000'],
      [{ k: 1e6 }, 'k must be an integer in [1, 64], got 1000000'],
      [{ warmupSteps: -1 }, 'warmupSteps must be a number in [0, 10000000], got -1'],
      [{ weightDecay: 2 }, 'weightDecay must be a number in [0, 1], got 2'],
      [{ beta1: 1 }, 'beta1 must be a number in [0, 1), got 1'],
      [{ beta2: -0.5 }, 'beta2 must be a number in [0, 1), got -0.5'],
      [{ eps: 0 }, 'eps must be a number in (0, 1], got 0'],
      [{ gradClip: -1 }, 'gradClip must be a number in [0, 1000000], got -1'],
      [{ logEvery: 0 }, 'logEvery must be an integer in [1, 10000000], got 0'],
      [{ vocabSize: 1e9 }, 'vocabSize must be an integer in [1, 65536], got 1000000000'],
    ];
    for (const [patch, msg] of cases) {
      const e = refusal(() => safetensorsToState(withTrain(patch)));
      expect(e.problem).toBe('config');
      expect(e.message).toBe(`train_config: ${msg}`);
    }
    // JSON has no Infinity, but 1e400 parses to it
    const inf = tampered((d) => {
      d.metadata.train_config = d.metadata.train_config.replace(/"seed":\s*-?[0-9.e+-]+/, '"seed":1e400');
    });
    expect(refusal(() => safetensorsToState(inf)).message).toMatch(/^train_config: seed must be a finite number/);
  });

  it('every limit admits the defaults', () => {
    expect(TRAIN_LIMITS.batchSize.max).toBe(4096);
    expect(() => safetensorsToState(stateToSafetensors(tinyState()))).not.toThrow();
  });
});

describe('tensor names that are Object.prototype members (checksum valid)', () => {
  const one = (): { shape: number[]; data: Float32Array } => ({ shape: [1], data: new Float32Array(1) });

  it('refuses optimizer.exp_avg.__proto__ instead of reaching the prototype of the moments', () => {
    const file = tampered((d) => {
      d.tensors['optimizer.exp_avg.__proto__'] = one();
    });
    const e = refusal(() => safetensorsToState(file));
    expect(e.problem).toBe('tensors');
    expect(e.message).toBe('unexpected optimizer moment "optimizer.exp_avg.__proto__" (not part of the model config)');
  });

  it('refuses parameters named constructor, toString, hasOwnProperty', () => {
    for (const name of ['constructor', 'toString', 'optimizer.exp_avg_sq.hasOwnProperty', 'optimizer.exp_avg.valueOf']) {
      const file = tampered((d) => {
        d.tensors[name] = one();
      });
      expect(refusal(() => safetensorsToState(file)).message).toMatch(new RegExp(`^unexpected (param|optimizer moment) "${name}"`));
    }
  });

  it('decode keeps names in null-prototype maps: "constructor" is data, "toString" is absent', () => {
    const file = rawFile(
      {
        __metadata__: { constructor: 'x' },
        constructor: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
        hasOwnProperty: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
      },
      8,
    );
    const { tensors, metadata } = decode(file);
    expect(Object.getPrototypeOf(tensors)).toBe(null);
    expect(Object.getPrototypeOf(metadata)).toBe(null);
    expect(Object.keys(tensors).sort()).toEqual(['constructor', 'hasOwnProperty']);
    expect((tensors['constructor'] as unknown as { shape: number[] }).shape).toEqual([1]);
    expect(tensors.toString).toBeUndefined();
    expect(metadata.valueOf).toBeUndefined();
    expect(metadata['constructor'] as unknown).toBe('x');
    decodeRefusal(() => decode(rawFile('{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', 4)));
    decodeRefusal(() => decode(rawFile('{"__metadata__": {"__proto__": "x"}}')));
  });
});

describe('deeply nested JSON', () => {
  const n = 100_000;

  it('decode refuses a deeply nested header with a SafetensorsError, not a RangeError', () => {
    for (const text of [
      `{"a": ${deep(n)}}`,
      deep(n),
      `{"__metadata__": ${deep(n)}}`,
      `{"a": {"dtype": "F32", "shape": ${deep(n)}, "data_offsets": [0, 0]}}`,
    ]) {
      const e = decodeRefusal(() => decode(rawFile(text)));
      expect(e.message).toMatch(/^header nests JSON more than 64 levels deep/);
    }
    // strings may hold brackets: they are not nesting
    const brackets = { __metadata__: { s: '['.repeat(1000) }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
    expect(decode(rawFile(brackets, 4)).metadata.s).toHaveLength(1000);
    const escaped = { __metadata__: { s: '\\"[[[[' + '['.repeat(100) }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
    expect(decode(rawFile(escaped, 4)).metadata.s).toBe(escaped.__metadata__.s);
  });

  it('safetensorsToState refuses deeply nested metadata JSON with a CheckpointFormatError', () => {
    const cases: [string, string][] = [
      ['model_config', JSON.stringify({ ...TINY }).replace('"nLayer":1', `"nLayer":${deep(n)}`)],
      ['train_config', `{"lr": ${deep(n)}}`],
      ['tokenizer', `{"type": "byte-bpe/1", "vocabSize": 16, "merges": ${deep(n)}}`],
      ['run_state', deep(n)],
    ];
    for (const [key, value] of cases) {
      const file = tampered((d) => {
        d.metadata[key] = value;
      });
      const e = refusal(() => safetensorsToState(file));
      expect(e.message).toBe(`metadata "${key}" nests JSON more than 64 levels deep`);
    }
  });
});
