// Accuracy while training in the worker's loop (src/worker/loop.ts): when
// the checks run, what they emit, that they leave no tensor behind, that a
// stop during a check ends the run, and the page's consistency lines; on
// the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer } from '../../src/core/trainer';
import { runLoop, type AccuracyPlan } from '../../src/worker/loop';
import { autoMaxNewTokens } from '../../src/core/run';
import { accuracyEvery, isAccuracyStep, MIN_AUTO_EVERY } from '../../src/core/run-settings';
import { RunControl } from '../../src/worker/control';
import type { AccuracyPoint, ConsistencyView, TrainEvent } from '../../src/worker/protocol';
import { consistencyLines } from '../../src/ui/evaluation';
import { tinyConfig, toyGroups } from './core-helpers';

const small = { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 };
const groups = toyGroups(6);
const make = (steps: number): Promise<Trainer> =>
  Trainer.create({ groups, trainConfig: tinyConfig({ steps, batchSize: 2 }), datasetFingerprint: 'x', modelOverrides: small });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('when the accuracy checks run', () => {
  it('auto: a tenth of the run, at least every 25 steps; 0: never', () => {
    expect(accuracyEvery(undefined, 1000)).toBe(100);
    expect(accuracyEvery(undefined, 10)).toBe(MIN_AUTO_EVERY);
    expect(accuracyEvery(0, 1000)).toBe(0);
    expect(accuracyEvery(7, 10)).toBe(7);
  });

  it('every N steps, and at the last step of a run longer than N', () => {
    const steps = (every: number, total: number): number[] =>
      Array.from({ length: total }, (_, i) => i + 1).filter((s) => isAccuracyStep(s, every, total));
    expect(steps(2, 4)).toEqual([2, 4]);
    expect(steps(3, 7)).toEqual([3, 6, 7]);
    expect(steps(25, 10)).toEqual([]); // a short run under auto: no check
    expect(steps(0, 10)).toEqual([]);
  });

  it('answers as long as the longest training rationale, within the positions', () => {
    const tok = { encode: (t: string) => Array.from(t, (c) => c.charCodeAt(0)) }; // a character a token
    const longest = Math.max(...groups.flatMap((g) => g.rationales.map((r) => r.text.length)));
    expect(autoMaxNewTokens(tok, groups, 512)).toBe(longest + 8);
    expect(autoMaxNewTokens(tok, groups, 40)).toBe(40);
  });
});

describe('the loop with accuracy checks', () => {
  it('checks after steps 2 and 4, emits the points, and leaks no tensor', async () => {
    const trainer = await make(4);
    const events: TrainEvent[] = [];
    const recorded: AccuracyPoint[] = [];
    const items = groups.slice(0, 3).map((g) => ({ id: g.id, question: g.question, answer: g.answer }));
    const plan: AccuracyPlan = {
      every: 2,
      items,
      taskType: 'number',
      maxNewTokens: 6,
      source: 'dev-split',
      record: (p) => recorded.push(p),
    };
    const tensors: number[] = [];
    const r = await runLoop({
      label: 'main',
      trainer,
      control: new RunControl(),
      emit: (e) => events.push(e),
      autosaveEvery: 0,
      accuracy: plan,
      // after each step's own work and its check
      hook: { every: 1, fn: async () => void tensors.push(tf.memory().numTensors) },
    });
    expect(r.status).toBe('done');
    const acc = events.filter((e) => e.type === 'accuracy');
    expect(acc.map((e) => e.step)).toEqual([2, 4]);
    for (const e of acc) {
      expect(e).toMatchObject({ label: 'main', source: 'dev-split', total: 3 });
      expect(e.accuracy).toBeCloseTo(e.correct / 3, 12);
    }
    expect(recorded.map((p) => p.step)).toEqual([2, 4]);
    // the hook runs before the check of its step: compare steps 1 -> 3 (a check at 2 between)
    expect(tensors[2]).toBe(tensors[0]);
    expect(tf.memory().numTensors).toBe(tensors[0]);
    expect(events.some((e) => e.type === 'note')).toBe(false);
    trainer.dispose();
  });

  it('a stop during a check ends the run after that step, without an error note', async () => {
    const trainer = await make(6);
    const control = new RunControl();
    const events: TrainEvent[] = [];
    const items = groups.map((g) => ({ id: g.id, question: g.question, answer: g.answer }));
    const r = await runLoop({
      label: 'main',
      trainer,
      control,
      emit: (e) => events.push(e),
      autosaveEvery: 0,
      accuracy: { every: 2, items, taskType: 'number', maxNewTokens: 6, source: 'dev-split', record: () => undefined },
      // stop as the check at step 2 starts (the check runs in `exclusive`)
      exclusive: async (fn) => {
        if (trainer.step === 2) control.stop();
        return fn();
      },
    });
    expect(r.status).toBe('stopped');
    expect(r.step).toBe(2);
    expect(events.filter((e) => e.type === 'accuracy')).toEqual([]);
    expect(events.filter((e) => e.type === 'note')).toEqual([]);
    trainer.dispose();
  });
});

describe('the consistency lines of the evaluation', () => {
  it('each metric with its value and a one-line explanation; no KL without two answer cues', () => {
    const c: ConsistencyView = {
      questions: 4,
      samplesPerQuestion: 2,
      agreement: 0.625,
      majorityAccuracy: 0.5,
      majorityCorrect: 2,
      sampleAccuracy: 0.375,
      answered: 0.75,
      answerKL: null,
      klQuestions: 0,
      samples: 2,
      temperature: 1,
      seed: 1,
      klTemperature: 1,
      greedyAccuracy: 0.25,
      greedyCorrect: 1,
      examples: [],
    };
    const lines = consistencyLines(c);
    expect(lines.map((l) => l.key)).toEqual(['agreement', 'majorityAccuracy', 'sampleAccuracy', 'greedyAccuracy', 'answerKL']);
    expect(lines.map((l) => l.value)).toEqual([
      '62.5%',
      '50.0% (2 of 4)',
      '37.5%',
      '25.0% (1 of 4)',
      expect.stringMatching(/^– \(no question/),
    ]);
    for (const l of lines) expect(l.help.length).toBeGreaterThan(20);
    expect(consistencyLines({ ...c, answerKL: 0.01234, klQuestions: 3 })[4].value).toBe('0.0123 nats (3 of 4 questions)');
  });
});
