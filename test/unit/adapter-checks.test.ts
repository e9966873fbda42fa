// Every way an adapter reaches a model gets the same checks that
// `train --adapter` had (issue 22, defect 8): the CLI's adapter folder for
// score / generate / train (adapterFrom), the page's (readPeftAdapter) and a
// saved LoRA run (StudentModel.fromState, Trainer.restore). An alpha out of
// range or a non-finite value is refused naming the field or tensor and the
// file, instead of scoring every token as null and generating "!!!!!".
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/checkpoint/safetensors';
import { loraShapes, withLora, type ModelConfig } from '../../src/core/config';
import { StudentModel, type PretrainedStudent } from '../../src/core/inference';
import { initParams } from '../../src/core/model';
import type { TensorMap } from '../../src/core/state';
import { Tokenizer } from '../../src/core/tokenizer';
import { adapterState, Trainer } from '../../src/core/trainer';
import { adapterFrom } from '../../src/cli/student';
import { PEFT_PREFIX } from '../../src/hf/peft';
import { tinyConfig, toyGroups } from './core-helpers';

const mc: ModelConfig = {
  arch: 'gpt2',
  vocabSize: 300,
  blockSize: 32,
  nLayer: 1,
  nHead: 2,
  nEmbd: 16,
  layerNormEps: 1e-5,
  tieWordEmbeddings: true,
};
const groups = toyGroups(2);
const student: PretrainedStudent = {
  modelConfig: mc,
  weights: initParams(mc, 1),
  tokenizer: Tokenizer.train(
    groups.flatMap((g) => [g.question, ...g.rationales.map((r) => r.text)]),
    300,
  ),
  base: { arch: 'gpt2', name: 'tiny', fingerprint: '00000001-1' },
};
const lora = { rank: 2, alpha: 4, targets: ['c_attn'] };

/** The adapter's tensors under our names, small finite values. */
function adapterWeights(): TensorMap {
  const out: TensorMap = {};
  for (const [name, shape] of loraShapes(withLora(mc, lora)))
    out[name] = { shape, data: Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => ((i % 7) - 3) / 100) };
  return out;
}

let dir = '';
/** A PEFT adapter folder: adapter_config.json with `config` over a valid one,
 * the tensors under PEFT's names. */
function folder(name: string, config: Record<string, unknown>, weights = adapterWeights()): string {
  const at = path.join(dir, name);
  rmSync(at, { recursive: true, force: true });
  const peft: TensorMap = {};
  for (const [n, t] of Object.entries(weights)) peft[PEFT_PREFIX + n] = t;
  const json = { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 2, lora_alpha: 4, target_modules: ['c_attn'], ...config };
  mkdirSync(at, { recursive: true });
  writeFileSync(path.join(at, 'adapter_config.json'), JSON.stringify(json));
  writeFileSync(path.join(at, 'adapter_model.safetensors'), encode(peft));
  return at;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(path.join(tmpdir(), 'mcckd-adapter-checks-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('adapter checks on every path', () => {
  it('a good adapter folder loads', async () => {
    const a = await adapterFrom(folder('good', {}), student);
    expect(a.lora).toEqual(lora);
  });

  it('refuses lora_alpha out of range, naming the field and the folder', async () => {
    for (const alpha of [1e300, 1e7]) {
      const at = folder(`alpha-${alpha}`, { lora_alpha: alpha });
      await expect(adapterFrom(at, student)).rejects.toThrow(
        `--adapter ${at}: adapter: adapter_config.json: "lora_alpha" must be a number in (0, 1000000], got ${alpha}`,
      );
    }
  });

  it('refuses a NaN or infinite adapter value, naming the tensor and the file', async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const w = adapterWeights();
      const name = Object.keys(w).sort()[1];
      w[name].data[3] = bad;
      const at = folder(`value-${bad}`, {}, w);
      await expect(adapterFrom(at, student)).rejects.toThrow(
        `--adapter ${at}: adapter: adapter_model.safetensors: tensor "${PEFT_PREFIX + name}" holds ${bad} at index 3 (every value must be finite)`,
      );
    }
  });

  it('a saved LoRA state with a non-finite value or an alpha out of range is refused by the model and the trainer', async () => {
    const w = adapterWeights();
    const name = Object.keys(w)[0];
    w[name].data[0] = Number.NaN;
    const state = adapterState(student, { lora, weights: w }, tinyConfig({ steps: 1 }));
    expect(() => StudentModel.fromState(state, student)).toThrow(new RegExp(`adapter tensor "${name}" holds NaN at index 0`));
    await expect(Trainer.restore(state, groups, student)).rejects.toThrow(/holds NaN at index 0/);
    const loud = adapterState(student, { lora: { ...lora, alpha: 1e300 }, weights: adapterWeights() }, tinyConfig({ steps: 1 }));
    expect(() => StudentModel.fromState(loud, student)).toThrow(/lora\.alpha must be a number in \(0, 1000000\], got 1e\+300/);
    expect(tf.memory().numTensors).toBe(0);
  });
});
