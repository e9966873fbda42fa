// The training loop shared by the CLI and the worker, and the settings check
// both use before it (prepareTrainConfig), on the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN, PRESETS, prepareTrainConfig } from '../../src/core/config';
import { trainLoop, type SaveReason } from '../../src/core/loop';
import { Trainer } from '../../src/core/trainer';
import { tinyConfig, toyGroups } from './core-helpers';

const small = { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 };
const make = (steps: number): Promise<Trainer> =>
  Trainer.create({
    groups: toyGroups(6),
    trainConfig: tinyConfig({ steps, batchSize: 2 }),
    datasetFingerprint: 'x',
    modelOverrides: small,
  });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('prepareTrainConfig', () => {
  it('fills defaults, takes the preset vocabulary, and clamps warmup and the lr floor', () => {
    const c = prepareTrainConfig({ preset: 'small', steps: 5.7, lr: 1e-4, minLr: 1e-3 }, 10);
    expect(c).toMatchObject({
      preset: 'small',
      steps: 5,
      vocabSize: PRESETS.small.vocabSize,
      k: DEFAULT_TRAIN.k,
      seed: DEFAULT_TRAIN.seed,
    });
    expect(c.warmupSteps).toBe(0); // 20 >= 5 steps: a tenth of the run
    expect(c.minLr).toBeCloseTo(1e-5);
    expect(prepareTrainConfig({ vocabSize: 300 }, 10).vocabSize).toBe(300);
  });

  it('derives steps from epochs: groups / batchSize steps per epoch', () => {
    expect(prepareTrainConfig({ epochs: 2, batchSize: 4, steps: 999 }, 10).steps).toBe(5);
    expect(prepareTrainConfig({ epochs: 0.01, batchSize: 4 }, 10).steps).toBe(1);
  });

  it('refuses what the trainer cannot use, naming the setting', () => {
    expect(() => prepareTrainConfig({ preset: 'huge' as never }, 10)).toThrow(/unknown preset "huge"/);
    expect(() => prepareTrainConfig({ preset: 'constructor' as never }, 10)).toThrow(/unknown preset/);
    expect(() => prepareTrainConfig({ lr: 0 }, 10)).toThrow(/lr must be a positive number/);
    expect(() => prepareTrainConfig({ batchSize: NaN }, 10)).toThrow(/batchSize/);
    expect(() => prepareTrainConfig({ alpha: -1 }, 10)).toThrow(/alpha must be >= 0/);
    expect(() => prepareTrainConfig({ epochs: -1 }, 10)).toThrow(/epochs/);
    expect(() => prepareTrainConfig({}, 0)).toThrow(/no question to train on/);
  });

  it('refuses values outside TRAIN_LIMITS (one table with the checkpoint loader), naming the field and the range', () => {
    // `mcckd train --lr 1e30` and friends: positive and finite, still absurd
    expect(() => prepareTrainConfig({ lr: 1e30 }, 10)).toThrow('lr must be a number in (0, 1], got 1e+30');
    expect(() => prepareTrainConfig({ batchSize: 1e9 }, 10)).toThrow('batchSize must be an integer in [1, 4096], got 1000000000');
    expect(() => prepareTrainConfig({ temperature: 1e-40 }, 10)).toThrow('temperature must be a number in [0.05, 100], got 1e-40');
    expect(() => prepareTrainConfig({ alpha: 1e9 }, 10)).toThrow('alpha must be a number in [0, 100], got 1000000000');
    expect(() => prepareTrainConfig({ steps: 1e12 }, 10)).toThrow('steps must be an integer in [1, 10000000], got 1000000000000');
    expect(() => prepareTrainConfig({ epochs: 1e6, batchSize: 1 }, 1000)).toThrow(
      /steps must be an integer in \[1, 10000000\], got 1000000000/,
    );
    expect(() => prepareTrainConfig({ k: 1000 }, 10)).toThrow('k must be an integer in [1, 64], got 1000');
    expect(() => prepareTrainConfig({ beta2: 1 }, 10)).toThrow('beta2 must be a number in [0, 1), got 1');
    expect(() => prepareTrainConfig({ eps: 0 }, 10)).toThrow('eps must be a number in (0, 1], got 0');
    expect(() => prepareTrainConfig({ weightDecay: -0.1 }, 10)).toThrow('weightDecay must be a number in [0, 1], got -0.1');
    expect(() => prepareTrainConfig({ gradClip: -1 }, 10)).toThrow('gradClip must be a number in [0, 1000000], got -1');
    expect(() => prepareTrainConfig({ warmupSteps: -5 }, 10)).toThrow('warmupSteps must be a number in [0, 10000000], got -5');
    expect(() => prepareTrainConfig({ vocabSize: 1e9 }, 10)).toThrow('vocabSize must be an integer in [1, 65536], got 1000000000');
    expect(() => prepareTrainConfig({ seed: Infinity }, 10)).toThrow(/seed must be a finite number/);
    // the defaults and every preset pass
    for (const preset of Object.keys(PRESETS) as (keyof typeof PRESETS)[]) expect(() => prepareTrainConfig({ preset }, 10)).not.toThrow();
    expect(prepareTrainConfig({ lr: 1, batchSize: 4096, temperature: 0.05, k: 64 }, 10).lr).toBe(1);
  });
});

describe('trainLoop', () => {
  it('runs to the end, autosaves every N steps and once when done, and reports progress', async () => {
    const t = await make(5);
    const saves: [SaveReason, number][] = [];
    const steps: number[] = [];
    const status: string[] = [];
    const r = await trainLoop({
      trainer: t,
      autosaveEvery: 2,
      save: async (why) => void saves.push([why, t.step]),
      onStatus: (s, step) => void status.push(`${s}@${step}`),
      onStep: (p) => {
        steps.push(p.step);
        expect(p.totalSteps).toBe(5);
        if (p.step > 2) expect(p.etaMs).toBeGreaterThanOrEqual(0);
      },
    });
    expect(r).toEqual({ status: 'done', step: 5, totalSteps: 5 });
    expect(steps).toEqual([1, 2, 3, 4, 5]);
    expect(saves).toEqual([
      ['autosave', 2],
      ['autosave', 4],
      ['done', 5],
    ]);
    expect(status).toEqual(['running@0']);
    t.dispose();
  });

  it('stops at stopAt with the schedule of the whole run, and after the current step when aborted', async () => {
    const t = await make(6);
    const saves: SaveReason[] = [];
    const r = await trainLoop({ trainer: t, stopAt: 2, autosaveEvery: 2, save: async (why) => void saves.push(why) });
    expect(r).toEqual({ status: 'stopped', step: 2, totalSteps: 6 });
    expect(saves).toEqual(['stop']); // no autosave at the last step it runs

    const stop = new AbortController();
    const r2 = await trainLoop({ trainer: t, signal: stop.signal, onStep: (p) => (p.step === 4 ? stop.abort() : undefined) });
    expect(r2).toEqual({ status: 'stopped', step: 4, totalSteps: 6 });
    t.dispose();
  });

  it('pauses between steps (saving once), and a stop while paused ends the run', async () => {
    const t = await make(6);
    const stop = new AbortController();
    let paused = false;
    let release: () => void = () => undefined;
    let onPaused: (step: number) => void = () => undefined;
    const gate = {
      get paused() {
        return paused;
      },
      // as RunControl: a stop ends the wait, also one that begins after it
      whilePaused: () => (stop.signal.aborted ? Promise.resolve() : new Promise<void>((resolve) => (release = resolve))),
    };
    const nextPause = (): Promise<number> => new Promise((resolve) => (onPaused = resolve));
    const saves: [SaveReason, number][] = [];
    const status: string[] = [];
    let pausedAt = nextPause();
    const done = trainLoop({
      trainer: t,
      signal: stop.signal,
      pause: gate,
      save: async (why) => void saves.push([why, t.step]),
      onStatus: (s, step) => {
        status.push(`${s}@${step}`);
        if (s === 'paused') onPaused(step);
      },
      onStep: (p) => {
        if (p.step === 2 || p.step === 4) paused = true;
      },
    });
    expect(await pausedAt).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(t.step).toBe(2); // held, not training
    pausedAt = nextPause();
    paused = false;
    release();
    expect(await pausedAt).toBe(4);
    stop.abort();
    release();
    const r = await done;
    expect(r).toEqual({ status: 'stopped', step: 4, totalSteps: 6 });
    expect(status).toEqual(['running@0', 'paused@2', 'running@2', 'paused@4']);
    expect(saves).toEqual([
      ['pause', 2],
      ['pause', 4],
      ['stop', 4],
    ]);
    t.dispose();
  });

  it('leaves no tensors behind across steps', async () => {
    const t = await make(4);
    await trainLoop({ trainer: t, stopAt: 1 });
    const before = tf.memory().numTensors;
    await trainLoop({ trainer: t });
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });
});
