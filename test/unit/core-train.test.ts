// The trainer end to end on the wasm backend: the same numbers as the cpu
// backend (core-wasm.test.ts checks that), about 8x faster a step here
// (63 vs 519 ms for the micro model below), so 150 steps stay affordable.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerDistributions } from '../../src/core/answer-distributions';
import { Trainer } from '../../src/core/trainer';
import { greedyDecode } from '../../src/core/generate';
import { extendSchedule, learningRate } from '../../src/core/schedule';
import { toyGroups, tinyConfig } from './core-helpers';
import type { MetricPoint } from '../../src/core/state';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

const micro = { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 };

async function run(steps: number, o: Parameters<typeof tinyConfig>[0] = {}): Promise<{ t: Trainer; ms: MetricPoint[] }> {
  const t = await Trainer.create({
    groups: toyGroups(6),
    trainConfig: tinyConfig({ steps, ...o }),
    datasetFingerprint: 'x',
    modelOverrides: micro,
  });
  const ms: MetricPoint[] = [];
  while (t.step < t.totalSteps) {
    const m = await t.trainStep();
    if (m) ms.push(m);
  }
  return { t, ms };
}

describe('training', () => {
  it('overfits a handful of groups', { timeout: 360_000 }, async () => {
    const { t, ms } = await run(150, { lr: 1e-2, minLr: 1e-3, warmupSteps: 10 });
    expect(ms[0].loss).toBeGreaterThan(4);
    // 6 questions, answers fully determined by the question: the model memorizes
    expect(ms[ms.length - 1].ce).toBeLessThan(0.9);
    t.dispose();
  });

  it('is deterministic: same seed, same data, identical losses', async () => {
    const a = await run(6);
    const b = await run(6);
    expect(b.ms.map((m) => [m.loss, m.ce, m.kl])).toEqual(a.ms.map((m) => [m.loss, m.ce, m.kl]));
    const c = await run(6, { seed: 7 });
    expect(c.ms[5].loss).not.toBe(a.ms[5].loss);
    [a, b, c].forEach((r) => r.t.dispose());
  });

  it('does not grow the tensor count across steps', async () => {
    const t = await Trainer.create({
      groups: toyGroups(6),
      trainConfig: tinyConfig({ steps: 50, logEvery: 3 }),
      datasetFingerprint: 'x',
      modelOverrides: micro,
    });
    for (let i = 0; i < 5; i++) await t.trainStep();
    const at5 = tf.memory().numTensors;
    for (let i = 5; i < 50; i++) await t.trainStep();
    expect(tf.memory().numTensors).toBe(at5);
    await t.evaluate([{ id: 'a', question: toyGroups(1)[0].question, answer: '5' }], { taskType: 'number', maxNewTokens: 8 });
    await answerDistributions(t.model, t.trainConfig.temperature, toyGroups(1)[0], 0, 1, 3);
    expect(tf.memory().numTensors).toBe(at5);
    t.dispose();
  });

  it('resumes exactly: a restored snapshot continues with identical losses', async () => {
    const full = await run(10);
    const half = await Trainer.create({
      groups: toyGroups(6),
      trainConfig: tinyConfig({ steps: 10 }),
      datasetFingerprint: 'x',
      modelOverrides: micro,
    });
    for (let i = 0; i < 4; i++) await half.trainStep();
    const snap = JSON.parse(
      JSON.stringify(await half.snapshot(), (_k, v) => (v instanceof Float32Array ? { f32: Array.from(v) } : v)),
      (_k, v) => (v && typeof v === 'object' && Array.isArray(v.f32) ? Float32Array.from(v.f32) : v),
    );
    half.dispose();
    const resumed = await Trainer.restore(snap, toyGroups(6));
    expect(resumed.step).toBe(4);
    const rest: MetricPoint[] = [];
    while (resumed.step < resumed.totalSteps) rest.push((await resumed.trainStep())!);
    expect(rest.map((m) => m.loss)).toEqual(full.ms.slice(4).map((m) => m.loss));
    resumed.dispose();
    full.t.dispose();
  });
});

describe('generation', () => {
  it('the KV-cache decoder produces exactly the tokens of a full recompute', async () => {
    const { t } = await run(30);
    const params = (t as unknown as { params: Parameters<typeof greedyDecode>[0] }).params;
    for (const q of toyGroups(4)) {
      const prompt = t.tokenizer.promptIds(`Q: ${q.question}\nA: `);
      const a = await greedyDecode(params, t.modelConfig, prompt, { maxNewTokens: 30, eosId: -1 });
      const b = await greedyDecode(params, t.modelConfig, prompt, { maxNewTokens: 30, eosId: -1, useCache: false });
      expect(a.length).toBeGreaterThan(0);
      expect(a).toEqual(b);
    }
    t.dispose();
  });

  it('stops at the model positions', async () => {
    const { t } = await run(1);
    const params = (t as unknown as { params: Parameters<typeof greedyDecode>[0] }).params;
    const out = await greedyDecode(params, t.modelConfig, [5, 6, 7], { maxNewTokens: 1000, eosId: -1 });
    expect(out.length).toBe(t.modelConfig.blockSize - 3 + 1);
    t.dispose();
  });
});

describe('schedule', () => {
  it('warms up linearly then decays by cosine to minLr', () => {
    const c = { lr: 1, minLr: 0.1, warmupSteps: 10, steps: 110 };
    expect(learningRate(0, c)).toBeCloseTo(0.1);
    expect(learningRate(9, c)).toBeCloseTo(1);
    expect(learningRate(10, c)).toBeCloseTo(1);
    expect(learningRate(60, c)).toBeCloseTo(0.55);
    expect(learningRate(110, c)).toBeCloseTo(0.1);
  });

  it('keeps the decay of a finished run trained further: the added steps run at minLr', () => {
    const c = { lr: 1, minLr: 0.1, warmupSteps: 10, steps: 110 };
    const more = extendSchedule(c, 50);
    expect(more.steps).toBe(160);
    // the steps already trained keep their rates, the tail stays at the final one
    for (const s of [0, 9, 60, 109]) expect(learningRate(s, more)).toBe(learningRate(s, c));
    for (const s of [110, 130, 159]) expect(learningRate(s, more)).toBeCloseTo(0.1);
    // extended twice: still the first decay
    const again = extendSchedule(more, 10);
    expect(again.steps).toBe(170);
    expect(learningRate(60, again)).toBeCloseTo(0.55);
    expect(learningRate(165, again)).toBeCloseTo(0.1);
    expect(() => extendSchedule(c, 0)).toThrow(/at least 1/);
    expect(() => extendSchedule(c, 2.5)).toThrow(/whole number/);
  });

  it('trains a finished run further in the same run, with the added steps at minLr', async () => {
    const { t } = await run(3, { lr: 1e-3, minLr: 1e-4, warmupSteps: 1 });
    expect(t.step).toBe(3);
    t.extend(2);
    expect(t.totalSteps).toBe(5);
    const m = [await t.trainStep(), await t.trainStep()];
    expect(t.step).toBe(5);
    expect(m.map((x) => x?.lr)).toEqual([1e-4, 1e-4]);
    await expect(t.trainStep()).rejects.toThrow(/complete/);
    t.dispose();
  });
});

describe('data that does not fit', () => {
  it('skips rationales longer than the model positions instead of truncating them', async () => {
    const t = await Trainer.create({
      groups: toyGroups(6),
      trainConfig: tinyConfig(),
      datasetFingerprint: 'x',
      modelOverrides: { ...micro, blockSize: 96 },
    });
    expect(t.skipped).toEqual({ rationales: 0, groups: 0 });
    const short = await Trainer.create({
      groups: toyGroups(6),
      trainConfig: tinyConfig(),
      datasetFingerprint: 'x',
      modelOverrides: { ...micro, blockSize: 24 },
    });
    expect(short.skipped.groups).toBe(6);
    await expect(short.trainStep()).rejects.toThrow(/no training data/);
    t.dispose();
    short.dispose();
  });
});
