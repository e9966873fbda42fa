import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN, PRESETS, countParams, modelConfigFor } from '../../src/core/config';
import {
  CheckpointFormatError,
  checkpointChecksum,
  metadataChecksum,
  expectedParamShapes,
  safetensorsToState,
  stateToSafetensors,
} from '../../src/checkpoint/format';
import { decode, encode } from '../../src/checkpoint/safetensors';
import { xxh32 } from '../../src/checkpoint/hash';
import { PY } from '../../support/python';
import { TINY, dataStart, expectSameTensors, tinyState } from './ckpt-fixtures';

function refusal(fn: () => unknown): CheckpointFormatError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointFormatError);
    return e as CheckpointFormatError;
  }
  throw new Error('expected a refusal');
}

/** Re-encodes a valid file after `edit` changed its tensors or metadata,
 * recomputing the checksums (the tensors' unless keepChecksum, the
 * metadata's always) so that only the intended problem remains. */
function tampered(edit: (t: ReturnType<typeof decode>) => void, opts: { keepChecksum?: boolean } = {}): Uint8Array {
  const d = decode(stateToSafetensors(tinyState()));
  edit(d);
  if (!opts.keepChecksum) d.metadata.checksum = checkpointChecksum(d.tensors);
  d.metadata.metadata_checksum = metadataChecksum(d.metadata);
  return encode(d.tensors, d.metadata);
}

describe('expectedParamShapes', () => {
  it("agrees with GPT-2's closed-form parameter count for every preset", () => {
    // Written out independently of the table both read: per block two
    // LayerNorms, c_attn, attn.c_proj, mlp.c_fc and mlp.c_proj with biases.
    const closedForm = (c: ReturnType<typeof modelConfigFor>): number => {
      const d = c.nEmbd;
      const block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d);
      return c.vocabSize * d + c.blockSize * d + c.nLayer * block + 2 * d;
    };
    for (const preset of Object.keys(PRESETS) as (keyof typeof PRESETS)[]) {
      const c = modelConfigFor(preset, 300);
      const total = Object.values(expectedParamShapes(c)).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
      expect(total).toBe(closedForm(c));
      expect(countParams(c)).toBe(closedForm(c));
    }
    // the README's table
    expect(countParams(modelConfigFor('tiny', 512))).toBe(149_248);
    expect(countParams(modelConfigFor('small', 1024))).toBe(957_184);
    expect(countParams(modelConfigFor('base', 4096))).toBe(12_417_024);
  });

  it('uses HF GPT-2 names with Conv1D [in, out] weights', () => {
    const s = expectedParamShapes(TINY);
    expect(s['transformer.wte.weight']).toEqual([16, 8]);
    expect(s['transformer.wpe.weight']).toEqual([8, 8]);
    expect(s['transformer.h.0.attn.c_attn.weight']).toEqual([8, 24]);
    expect(s['transformer.h.0.attn.c_proj.weight']).toEqual([8, 8]);
    expect(s['transformer.h.0.mlp.c_fc.weight']).toEqual([8, 32]);
    expect(s['transformer.h.0.mlp.c_fc.bias']).toEqual([32]);
    expect(s['transformer.h.0.mlp.c_proj.weight']).toEqual([32, 8]);
    expect(s['transformer.ln_f.bias']).toEqual([8]);
    expect(Object.keys(s)).toHaveLength(2 + 12 + 2);
    expect(s).not.toHaveProperty('lm_head.weight');
  });
});

describe('checkpoint file format', () => {
  it('round-trips a full TrainState', () => {
    const state = tinyState({ step: 7 });
    const file = stateToSafetensors(state);
    const { state: back, weightsOnly, checksum } = safetensorsToState(file);
    expect(weightsOnly).toBe(false);
    expectSameTensors(back.params, state.params);
    expectSameTensors(back.optimizer.m, state.optimizer.m);
    expectSameTensors(back.optimizer.v, state.optimizer.v);
    const { params: _p, optimizer: _o, ...rest } = back;
    const { params: _p2, optimizer: _o2, ...want } = state;
    expect(rest).toEqual(want);
    expect(back.optimizer.step).toBe(7);
    expect(checksum).toBe(checkpointChecksum(decode(file).tensors));
  });

  it('stores moments under optimizer.exp_avg(_sq) names and the contract metadata', () => {
    const { tensors, metadata } = decode(stateToSafetensors(tinyState()));
    expect(tensors).toHaveProperty(['optimizer.exp_avg.transformer.wte.weight']);
    expect(tensors).toHaveProperty(['optimizer.exp_avg_sq.transformer.h.0.mlp.c_fc.bias']);
    expect(Object.keys(metadata).sort()).toEqual(
      ['checksum', 'checksum_algorithm', 'format', 'metadata_checksum', 'model_config', 'run_state', 'tokenizer', 'train_config'].sort(),
    );
    expect(metadata.format).toBe('mcckd-run/1');
    expect(JSON.parse(metadata.run_state)).toEqual({
      step: 5,
      optimizerStep: 5,
      rngState: [1, 2, 3, 4],
      cursor: { epoch: 0, position: 5, order: [2, 0, 1] },
      datasetFingerprint: 'abcdef0123456789',
    });
  });

  it('checksum is xxh32 of the data section (tensor bytes in name order)', () => {
    const file = stateToSafetensors(tinyState());
    const { metadata } = decode(file);
    expect(metadata.checksum).toBe(
      xxh32(file.subarray(dataStart(file)))
        .toString(16)
        .padStart(8, '0'),
    );
  });

  it('weights-only export drops the moments; loading gives zero moments and a fresh AdamW step', () => {
    const state = tinyState({ step: 9 });
    const file = stateToSafetensors(state, { weightsOnly: true });
    expect(Object.keys(decode(file).tensors).some((n) => n.startsWith('optimizer.'))).toBe(false);
    expect(file.length).toBeLessThan(stateToSafetensors(state).length / 2);
    const { state: back, weightsOnly } = safetensorsToState(file);
    expect(weightsOnly).toBe(true);
    expectSameTensors(back.params, state.params);
    expect(back.step).toBe(9);
    expect(back.optimizer.step).toBe(0);
    expect(Object.keys(back.optimizer.m).sort()).toEqual(Object.keys(state.params).sort());
    expect(back.optimizer.v['transformer.wte.weight'].data.every((x) => x === 0)).toBe(true);
  });

  it('refuses a damaged file: checksum mismatch', () => {
    const file = stateToSafetensors(tinyState());
    file[dataStart(file) + 100] ^= 0x10;
    const e = refusal(() => safetensorsToState(file));
    expect(e.problem).toBe('checksum');
    expect(e.message).toMatch(/checksum mismatch: the file says [0-9a-f]{8}, its tensor bytes hash to [0-9a-f]{8} \(the file is damaged\)/);
  });

  it('refuses tensors whose shapes do not match the model config', () => {
    const bigger = tampered((d) => {
      d.metadata.model_config = JSON.stringify({ ...TINY, vocabSize: 17 });
    });
    expect(refusal(() => safetensorsToState(bigger)).message).toBe(
      'param "transformer.wte.weight" has shape [16, 8], the model config needs [17, 8]',
    );
    const deeper = tampered((d) => {
      d.metadata.model_config = JSON.stringify({ ...TINY, nLayer: 2 });
    });
    expect(refusal(() => safetensorsToState(deeper)).message).toMatch(/param "transformer.h.1.ln_1.weight" is missing/);
    const transposed = tampered((d) => {
      d.tensors['transformer.h.0.mlp.c_fc.weight'].shape = [32, 8];
    });
    expect(refusal(() => safetensorsToState(transposed)).message).toMatch(
      /"transformer.h.0.mlp.c_fc.weight" has shape \[32, 8\], the model config needs \[8, 32\]/,
    );
  });

  it('refuses missing, unexpected and half-present tensors', () => {
    const missing = tampered((d) => {
      delete d.tensors['transformer.ln_f.bias'];
    });
    expect(refusal(() => safetensorsToState(missing)).message).toBe('param "transformer.ln_f.bias" is missing');
    const extra = tampered((d) => {
      d.tensors['lm_head.weight'] = { shape: [1], data: new Float32Array(1) };
    });
    expect(refusal(() => safetensorsToState(extra)).message).toMatch(/unexpected param "lm_head.weight"/);
    const half = tampered((d) => {
      delete d.tensors['optimizer.exp_avg_sq.transformer.wpe.weight'];
    });
    expect(refusal(() => safetensorsToState(half)).message).toBe(
      'optimizer moment "optimizer.exp_avg_sq.transformer.wpe.weight" is missing',
    );
  });

  it('refuses bad or missing metadata with the field named', () => {
    const cases: [(m: Record<string, string>) => void, RegExp][] = [
      [(m) => delete m.format, /not an MCC-KD checkpoint: metadata has no "format"/],
      [(m) => (m.format = 'mcckd-run/9'), /unsupported checkpoint format "mcckd-run\/9"/],
      [(m) => delete m.checksum, /metadata "checksum" is missing/],
      [(m) => (m.checksum_algorithm = 'md5'), /unsupported checksum algorithm "md5"/],
      [(m) => (m.model_config = '{"vocabSize": 16,'), /metadata "model_config" is not valid JSON/],
      [(m) => (m.model_config = JSON.stringify({ ...TINY, nHead: 3 })), /model_config: nEmbd 8 is not divisible by nHead 3/],
      [(m) => (m.model_config = JSON.stringify({ ...TINY, nLayer: -1 })), /model_config: nLayer must be a positive integer, got -1/],
      [(m) => (m.train_config = JSON.stringify({ lr: 'fast' })), /train_config: lr must be a number, got "fast"/],
      [
        (m) => (m.train_config = JSON.stringify({ ...tinyState().trainConfig, preset: '__proto__' })),
        /train_config: unknown preset "__proto__"/,
      ],
      [(m) => (m.train_config = '[]'), /train_config: must be an object/],
      [(m) => delete m.tokenizer, /metadata "tokenizer" is missing/],
      [(m) => (m.run_state = JSON.stringify({ step: 1.5 })), /run_state: step must be a non-negative integer/],
    ];
    for (const [edit, msg] of cases) {
      const file = tampered((d) => edit(d.metadata), { keepChecksum: true });
      expect(refusal(() => safetensorsToState(file)).message).toMatch(msg);
    }
  });

  it('fills train_config keys missing from an older file with the defaults', () => {
    const file = tampered(
      (d) => {
        const tc = JSON.parse(d.metadata.train_config);
        delete tc.gradClip;
        d.metadata.train_config = JSON.stringify({ ...tc, lr: 0.5 });
      },
      { keepChecksum: true },
    );
    const { trainConfig } = safetensorsToState(file).state;
    expect(trainConfig.gradClip).toBe(DEFAULT_TRAIN.gradClip);
    expect(trainConfig.lr).toBe(0.5);
  });

  it('refuses to save a state that could not be loaded again', () => {
    const state = tinyState();
    state.params['transformer.wpe.weight'] = { shape: [4, 8], data: new Float32Array(32) };
    expect(refusal(() => stateToSafetensors(state)).message).toMatch(
      /cannot save: param "transformer.wpe.weight" has shape \[4, 8\], the model config needs \[8, 8\]/,
    );
    const noMoments = tinyState();
    noMoments.optimizer.m = {};
    expect(() => stateToSafetensors(noMoments)).toThrow(
      /cannot save: optimizer moment "optimizer.exp_avg.transformer.wte.weight" is missing/,
    );
    expect(() => stateToSafetensors(noMoments, { weightsOnly: true })).not.toThrow();
  });
});

describe('scripts/check_safetensors.py reads our files independently', () => {
  const python = [PY, 'python3'].find((p) => spawnSync(p, ['--version']).status === 0);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ckpt-py-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (
    file: string,
  ): {
    ok: boolean;
    errors: string[];
    tensors: Record<string, { shape: number[] }>;
    metadata_keys: string[];
    checksum?: { ok: boolean };
    weights_only?: boolean;
  } => {
    const r = spawnSync(python as string, ['scripts/check_safetensors.py', file, '--json'], { encoding: 'utf8' });
    expect(r.status === 0 || r.status === 1, r.stderr).toBe(true);
    return JSON.parse(r.stdout);
  };

  it.skipIf(!python)('validates names, shapes, metadata keys and the xxh32 checksum', () => {
    const state = tinyState();
    const file = path.join(dir, 'full.safetensors');
    writeFileSync(file, stateToSafetensors(state));
    const r = run(file);
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checksum?.ok).toBe(true);
    expect(r.weights_only).toBe(false);
    expect(r.metadata_keys).toContain('model_config');
    expect(r.tensors['transformer.h.0.attn.c_attn.weight'].shape).toEqual([8, 24]);
    expect(Object.keys(r.tensors)).toHaveLength(3 * Object.keys(state.params).length);

    const wo = path.join(dir, 'weights.safetensors');
    writeFileSync(wo, stateToSafetensors(state, { weightsOnly: true }));
    expect(run(wo).weights_only).toBe(true);
  });

  it.skipIf(!python)('reports a damaged file', () => {
    const bytes = stateToSafetensors(tinyState());
    bytes[dataStart(bytes) + 40] ^= 1;
    const file = path.join(dir, 'bad.safetensors');
    writeFileSync(file, bytes);
    const r = run(file);
    expect(r.ok).toBe(false);
    expect(r.errors.join('\n')).toMatch(/checksum mismatch/);
    const trunc = path.join(dir, 'trunc.safetensors');
    writeFileSync(trunc, bytes.subarray(0, bytes.length - 10));
    expect(run(trunc).errors.join('\n')).toMatch(/beyond the data section/);
  });

  it.skipIf(!python)('exits 0 on a valid file in text mode', () => {
    const file = path.join(dir, 'text.safetensors');
    writeFileSync(file, stateToSafetensors(tinyState()));
    expect(execFileSync(python as string, ['scripts/check_safetensors.py', file], { encoding: 'utf8' })).toMatch(/\nOK\n$/);
  });
});
