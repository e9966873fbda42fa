// A diverging run must not destroy its own history: a step with a NaN or
// infinite loss or gradient changes no weight (AdamW skips it), the run
// stops with DivergedError on the next logging step or save, and no state
// with a skipped step or a non-finite value is ever snapshotted for saving.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { trainLoop, type SaveReason } from '../../src/core/loop';
import { AdamW } from '../../src/core/optimizer';
import { DivergedError, Trainer } from '../../src/core/trainer';
import { tinyConfig, toyGroups } from './core-helpers';

const small = { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 };
const values = async (m: ReadonlyMap<string, tf.Variable>): Promise<Float32Array[]> =>
  Promise.all([...m.values()].map(async (v) => (await v.data()) as Float32Array));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('AdamW skips a non-finite step', () => {
  const cfg = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01, gradClip: 1 };

  it('keeps parameters and moments when a gradient holds NaN or Infinity, and counts the step', async () => {
    const params = new Map<string, tf.Variable>([
      [
        'w',
        tf.variable(
          tf.tensor2d([
            [1, 2],
            [3, 4],
          ]),
        ),
      ],
      ['b', tf.variable(tf.tensor1d([0.5, -0.5]))],
    ]);
    const opt = new AdamW(params, cfg);
    tf.tidy(() => void opt.apply({ w: tf.ones([2, 2]), b: tf.ones([2]) }, 0.1));
    const before = { p: await values(params), m: await values(opt.m), v: await values(opt.v) };
    expect(await opt.skippedSteps()).toBe(0);
    for (const bad of [NaN, Infinity]) {
      tf.tidy(
        () =>
          void opt.apply(
            {
              w: tf.tensor2d([
                [1, bad],
                [1, 1],
              ]),
              b: tf.ones([2]),
            },
            0.1,
          ),
      );
    }
    expect(await opt.skippedSteps()).toBe(2);
    expect(await values(params)).toEqual(before.p);
    expect(await values(opt.m)).toEqual(before.m);
    expect(await values(opt.v)).toEqual(before.v);
    // a finite gradient with an infinite loss is skipped too
    tf.tidy(() => void opt.apply({ w: tf.ones([2, 2]), b: tf.ones([2]) }, 0.1, tf.scalar(Infinity)));
    expect(await opt.skippedSteps()).toBe(3);
    expect(await values(params)).toEqual(before.p);
    // and a good step still updates
    tf.tidy(() => void opt.apply({ w: tf.ones([2, 2]), b: tf.ones([2]) }, 0.1, tf.scalar(1)));
    expect((await values(params))[0]).not.toEqual(before.p[0]);
    opt.dispose();
    for (const p of params.values()) p.dispose();
  });
});

describe('a diverging run', () => {
  it('stops with DivergedError, keeps the last good weights, and saves nothing after the bad step', async () => {
    // lr 1e30 (the CLI refuses it; the trainer itself does not): step 1
    // blows the weights up to ~1e30, step 2's forward overflows to NaN.
    const t = await Trainer.create({
      groups: toyGroups(6),
      trainConfig: tinyConfig({ lr: 1e30, minLr: 1e29, warmupSteps: 0, steps: 8, batchSize: 2 }),
      datasetFingerprint: 'x',
      modelOverrides: small,
    });
    const saves: [SaveReason, number][] = [];
    let weightsAtLastSave: Float32Array[] = [];
    const run = trainLoop({
      trainer: t,
      autosaveEvery: 1,
      save: async (why) => {
        const s = await t.snapshot();
        saves.push([why, s.step]);
        weightsAtLastSave = Object.values(s.params).map((p) => p.data.slice());
      },
    });
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DivergedError);
    expect((err as Error).message).toMatch(
      /training diverged: the loss or its gradient became NaN or infinite after step 1 .*lower the learning rate/,
    );
    // the autosave of step 1 happened; none after the bad step, no 'stop' save
    expect(saves).toEqual([['autosave', 1]]);
    // the weights in memory are still those of step 1 (the bad step was skipped)
    expect(await values(t.variables)).toEqual(weightsAtLastSave);
    await expect(t.snapshot()).rejects.toBeInstanceOf(DivergedError);
    t.dispose();
  });

  it('refuses to snapshot weights that are not all finite', async () => {
    const t = await Trainer.create({
      groups: toyGroups(6),
      trainConfig: tinyConfig({ steps: 4, batchSize: 2 }),
      datasetFingerprint: 'x',
      modelOverrides: small,
    });
    await t.trainStep();
    await t.snapshot(); // fine
    const w = t.variables.get('transformer.h.0.ln_1.weight')!;
    w.assign(tf.fill(w.shape, NaN));
    await expect(t.snapshot()).rejects.toThrow(/weights at step 1 are not all finite; nothing was saved/);
    t.dispose();
  });
});
