// A checkpoint's metadata (issue 22, defect 9): a run on a pretrained base
// runs with the base's model settings (a saved setting that differs is
// refused by name, not used); run_state is checked when the file is read
// (an empty RNG state used to fail at the first step); and new files carry a
// checksum over the metadata, while files without one (older) still load.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, safetensorsToState, stateToSafetensors } from '../../src/checkpoint/format';
import { decode, encode } from '../../src/checkpoint/safetensors';
import { loraShapes, withLora, type ModelConfig } from '../../src/core/config';
import { StudentModel, type PretrainedStudent } from '../../src/core/inference';
import { initParams } from '../../src/core/model';
import type { TensorMap, TrainState } from '../../src/core/state';
import { Tokenizer } from '../../src/core/tokenizer';
import { adapterState, Trainer } from '../../src/core/trainer';
import { tinyConfig, toyGroups } from './core-helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const groups = toyGroups(3);
const tok = Tokenizer.train(
  groups.flatMap((g) => [g.question, ...g.rationales.map((r) => r.text)]),
  300,
);
const mc: ModelConfig = {
  arch: 'llama',
  vocabSize: tok.vocabSize,
  blockSize: 96,
  nLayer: 1,
  nHead: 2,
  nKvHead: 1,
  nEmbd: 16,
  intermediateSize: 24,
  ropeTheta: 10000,
  layerNormEps: 1e-6,
  tieWordEmbeddings: false,
};
const student: PretrainedStudent = {
  modelConfig: mc,
  weights: initParams(mc, 1),
  tokenizer: tok,
  base: { arch: 'llama', name: 'rand-llama', fingerprint: '00000001-1' },
};
const lora = { rank: 2, alpha: 4, targets: ['q_proj', 'v_proj'] };

/** A LoRA run at step 0 whose B is not zero (so the adapter changes the log-probs). */
function loraState(): TrainState {
  const weights: TensorMap = {};
  for (const [name, shape] of loraShapes(withLora(mc, lora)))
    weights[name] = { shape, data: Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => ((i % 5) - 2) / 10) };
  return adapterState(student, { lora, weights }, tinyConfig({ steps: 4 }), 'data');
}

/** The file with `edit` applied to its metadata, rewritten as a plain editor
 * would: tensors and every other key as they were. */
function edited(file: Uint8Array, edit: (meta: Record<string, string>) => void): Uint8Array {
  const { tensors, metadata } = decode(file);
  const meta = { ...metadata };
  edit(meta);
  return encode(tensors, meta);
}

const withRopeTheta = (meta: Record<string, string>): void => {
  meta.model_config = JSON.stringify({ ...JSON.parse(meta.model_config), ropeTheta: 20000 });
};

function load(file: Uint8Array): TrainState {
  return safetensorsToState(file).state;
}

describe('checkpoint metadata', () => {
  it('new files carry a checksum over the metadata; an edited setting is refused as a mismatch', () => {
    const file = stateToSafetensors(loraState(), { weightsOnly: true });
    expect(decode(file).metadata.metadata_checksum).toMatch(/^[0-9a-f]{8}$/);
    expect(load(file).modelConfig).toEqual(withLora(mc, lora));
    const bad = edited(file, withRopeTheta);
    expect(() => load(bad)).toThrow(CheckpointFormatError);
    expect(() => load(bad)).toThrow(/metadata checksum mismatch: the file says [0-9a-f]{8}, its metadata hashes to [0-9a-f]{8}/);
    // any key counts, the run state too
    const moved = edited(file, (m) => {
      m.run_state = JSON.stringify({ ...JSON.parse(m.run_state), step: 3 });
    });
    expect(() => load(moved)).toThrow(/metadata checksum mismatch/);
  });

  it('a file without the metadata checksum (written before it) still loads', () => {
    const file = edited(stateToSafetensors(loraState(), { weightsOnly: true }), (m) => {
      delete m.metadata_checksum;
    });
    expect(load(file).step).toBe(0);
  });

  it("a LoRA run's saved settings never override the base's: a disagreement is refused naming the field", async () => {
    // an older file (no metadata checksum) edited: the checksum cannot catch it
    const file = edited(stateToSafetensors(loraState(), { weightsOnly: true }), (m) => {
      delete m.metadata_checksum;
      withRopeTheta(m);
    });
    const state = load(file);
    expect(state.modelConfig.ropeTheta).toBe(20000);
    const refusal = /the run's saved model setting ropeTheta is 20000, but its base "rand-llama" has 10000/;
    expect(() => StudentModel.fromState(state, student)).toThrow(refusal);
    await expect(Trainer.restore(state, groups, student)).rejects.toThrow(refusal);
    // a setting the file lacks is the base's, and the restored run carries the base's
    const { ropeTheta: _r, ...older } = loraState().modelConfig;
    const t = await Trainer.restore({ ...loraState(), modelConfig: older }, groups, student);
    expect((await t.snapshot()).modelConfig).toEqual(withLora(mc, lora));
    t.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });

  it('run_state is checked when the file is read, naming the field', () => {
    const file = stateToSafetensors(loraState(), { weightsOnly: true });
    const cases: [unknown, RegExp][] = [
      [[], /run_state: rngState must be four 32-bit integers \(in \[-2147483648, 4294967295\]\), got \[\]/],
      [[1, 2, 3], /rngState must be four 32-bit integers.*got \[1,2,3\]/],
      [[1, 2, 3, 4, 5], /rngState must be four 32-bit integers/],
      [[1, 2, 3, 2 ** 32], /rngState must be four 32-bit integers/],
      [[1, 2, 3, -(2 ** 31) - 1], /rngState must be four 32-bit integers/],
      [[1, 2, 3, 0.5], /rngState must be four 32-bit integers/],
      ['1,2,3,4', /rngState must be four 32-bit integers/],
    ];
    for (const [rng, why] of cases) {
      const bad = edited(file, (m) => {
        m.run_state = JSON.stringify({ ...JSON.parse(m.run_state), rngState: rng });
        delete m.metadata_checksum;
      });
      expect(() => load(bad), JSON.stringify(rng)).toThrow(why);
    }
    // the generator's state as a run writes it: int32 words, some negative
    const real = [-1967214492, 4092273917, 1050881628, -1];
    const ok = edited(file, (m) => {
      m.run_state = JSON.stringify({ ...JSON.parse(m.run_state), rngState: real });
      delete m.metadata_checksum;
    });
    expect(() => load(ok)).not.toThrow();
  });
});
