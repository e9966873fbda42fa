// The one run assembly (src/core/run.ts, run-settings.ts) that `mcckd train`
// and the worker share: the defaults per student kind (the page's form
// follows the same ones), the plan's refusal, created and restored
// trainers, and the accuracy checks' schedule; on the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer, type PretrainedStudent } from '../../src/core/trainer';
import { initParams } from '../../src/core/model';
import { DEFAULT_TRAIN, PRETRAINED_LR, prepareTrainConfig, type ModelConfig } from '../../src/core/config';
import { accuracySchedule, assembleTrainer, checkAccuracy, planRun, RunRefusedError, type RunStart } from '../../src/core/run';
import { ACCURACY_QUESTIONS, defaultLr, followLr, studentKind, withDefaultLr, type StudentKind } from '../../src/core/run-settings';
import type { MetricPoint } from '../../src/core/state';
import { toyGroups, tinyConfig, toyTokenizer } from './core-helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const groups = toyGroups(6);
const data = { groups, fingerprint: 'fp-1' };
const tok = toyTokenizer(groups);
const small = { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 };

function student(): PretrainedStudent {
  const mc: ModelConfig = {
    arch: 'gpt2',
    vocabSize: tok.vocabSize,
    blockSize: 96,
    nLayer: 1,
    nHead: 2,
    nEmbd: 32,
    layerNormEps: 1e-5,
    tieWordEmbeddings: true,
  };
  return {
    modelConfig: mc,
    weights: initParams(mc, 1),
    tokenizer: tok,
    base: { arch: 'gpt2', name: 'rand-gpt2', fingerprint: '00000001-1' },
  };
}

describe('learning rates: one default per student kind, for the CLI and the page', () => {
  it('scratch, LoRA and every weight get their own rate', () => {
    expect(defaultLr('scratch')).toBe(DEFAULT_TRAIN.lr);
    expect(defaultLr('lora')).toBe(PRETRAINED_LR.lora);
    expect(defaultLr('full')).toBe(PRETRAINED_LR.full);
    expect(studentKind(false, true)).toBe('scratch');
    expect(studentKind(true, true)).toBe('lora');
    expect(studentKind(true, false)).toBe('full');
  });

  it("the page's form gives a pretrained student training every weight the CLI's rate (was the LoRA rate)", () => {
    // the form starts at the scratch default, then the student changes
    const page = (path: StudentKind[]): number => {
      let lr = DEFAULT_TRAIN.lr;
      for (let i = 1; i < path.length; i++) lr = followLr(lr, path[i - 1], path[i]);
      return lr;
    };
    const cli = (kind: StudentKind): number => prepareTrainConfig(withDefaultLr({ steps: 10 }, kind), groups.length).lr;
    expect(page(['scratch', 'full'])).toBe(PRETRAINED_LR.full);
    expect(page(['scratch', 'lora', 'full'])).toBe(PRETRAINED_LR.full);
    for (const kind of ['scratch', 'lora', 'full'] as const) expect(page(['scratch', kind])).toBe(cli(kind));
    expect(page(['scratch', 'full', 'scratch'])).toBe(DEFAULT_TRAIN.lr);
  });

  it('a rate the user typed stays; a given rate is never replaced', () => {
    expect(followLr(1e-3, 'scratch', 'full')).toBe(1e-3);
    expect(withDefaultLr({ lr: 1e-3 }, 'full').lr).toBe(1e-3);
    // a full fine-tune's floor follows its low peak
    expect(prepareTrainConfig(withDefaultLr({ steps: 10 }, 'full'), groups.length).minLr).toBeCloseTo(PRETRAINED_LR.full / 10);
  });
});

describe('the memory plan', () => {
  it('a student from scratch has none; a pretrained one is planned, refused on WebGPU only when it does not fit', () => {
    expect(planRun({ kind: 'new', config: tinyConfig() }, data, 'webgpu')).toBeUndefined();
    const start: RunStart = {
      kind: 'new',
      config: tinyConfig({ batchSize: 4 }),
      student: { student: student(), lora: { rank: 2, alpha: 4, targets: ['c_attn'] } },
    };
    const limits = { maxBufferSize: 1024, maxStorageBufferBindingSize: 1024 };
    expect(() => planRun(start, data, 'webgpu', limits)).toThrow(RunRefusedError);
    expect(() => planRun(start, data, 'webgpu', limits)).toThrow(
      /rand-gpt2 does not fit this GPU: .*Lower the batch size, turn on activation recomputation/,
    );
    const onCpu = planRun(start, data, 'cpu', limits)!;
    expect(onCpu.fits).toBe(false);
    expect(onCpu.text).toMatch(/^4 questions a step, \d+ tokens \(the longest example of the loaded data\)/);
    expect(planRun(start, data, 'webgpu')!.fits).toBe(true); // no limits known: nothing to refuse
  });
});

describe('creating and restoring the trainer', () => {
  it('a new run trains as Trainer.create would; a resumed one goes on from its step with a note on other data', async () => {
    const losses = (m: MetricPoint | undefined): number[] => [m!.loss, m!.ce, m!.kl, m!.lr];
    const config = tinyConfig({ steps: 4, batchSize: 2 });
    const n0 = tf.memory().numTensors;
    const direct = await Trainer.create({ groups, trainConfig: config, datasetFingerprint: 'fp-1' });
    const { trainer, notes } = await assembleTrainer({ kind: 'new', config }, data);
    expect(notes).toEqual([]);
    expect(losses(await trainer.trainStep())).toEqual(losses(await direct.trainStep()));
    direct.dispose();

    const state = await trainer.snapshot();
    const next = await trainer.trainStep();
    const resumed = await assembleTrainer({ kind: 'resume', state }, data);
    expect(resumed.notes).toEqual([]);
    expect(resumed.trainer.step).toBe(1);
    expect(losses(await resumed.trainer.trainStep())).toEqual(losses(next)); // continues exactly
    resumed.trainer.dispose();

    const other = await assembleTrainer(
      { kind: 'resume', state, config: { ...state.trainConfig, logEvery: 2 } },
      { groups, fingerprint: 'fp-2' },
    );
    expect(other.notes).toEqual(['the data differs from the data the run was trained on']);
    expect(other.trainer.trainConfig.logEvery).toBe(2);
    other.trainer.dispose();
    trainer.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });
});

describe('accuracy while training', () => {
  it('off, no data, or the first questions with room for the longest rationale', async () => {
    const trainer = await Trainer.create({
      groups,
      trainConfig: tinyConfig({ steps: 100, batchSize: 2 }),
      datasetFingerprint: 'fp-1',
      modelOverrides: small,
    });
    const items = groups.map((g) => ({ id: g.id, question: g.question, answer: g.answer }));
    const heldOut = { items, taskType: 'number' as const };
    expect(accuracySchedule(undefined, heldOut, trainer, groups)).toBe('off');
    expect(accuracySchedule({ every: 0, questions: 4 }, heldOut, trainer, groups)).toBe('off');
    expect(accuracySchedule({ questions: 4 }, undefined, trainer, groups)).toBe('no-data');
    const auto = accuracySchedule({ questions: 4 }, heldOut, trainer, groups);
    if (typeof auto !== 'object') throw new Error(`expected a schedule, got ${auto}`);
    expect(auto.every).toBe(25); // a tenth of 100 steps is under the minimum
    expect(auto.items).toEqual(items.slice(0, 4));
    expect(auto.maxNewTokens).toBeGreaterThanOrEqual(8);
    const told = accuracySchedule({ every: 3, questions: ACCURACY_QUESTIONS.cli, maxNewTokens: 5 }, heldOut, trainer, groups);
    expect(told).toMatchObject({ every: 3, maxNewTokens: 5, items });
    const n0 = tf.memory().numTensors;
    const p = await checkAccuracy(trainer, told as Exclude<typeof told, string>, 7);
    expect(p).toMatchObject({ step: 7, total: items.length });
    expect(tf.memory().numTensors).toBe(n0);
    trainer.dispose();
  });
});
