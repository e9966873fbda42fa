// The worker's Comparison over several seeds (src/worker/compare.ts) on the
// cpu backend with a tiny budget: the order of the runs and the events that
// say which is under way, the report built by the CLI's buildReport, which
// model stays loaded, no tensor left behind, and a stop that keeps what
// finished.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare } from '../../src/worker/compare';
import { curvesSvg } from '../../src/core/experiment-report';
import { Trainer } from '../../src/core/trainer';
import { disposeLive, readEval, readTeacher, Session } from '../../src/worker/session';
import type { CompareRunEvent, TrainConfig, TrainEvent } from '../../src/worker/protocol';
import { evalFile, teacherFile } from '../e2e/fixtures';

/** The worker's state for this file's tests (worker.ts makes one per worker). */
const session = new Session();

const config: Partial<TrainConfig> = { preset: 'tiny', backend: 'cpu', steps: 2, batchSize: 2, alpha: 0.1, seed: 1, vocabSize: 300 };
const evalOpts = { limit: 2, maxNewTokens: 3 };

beforeAll(async () => {
  await tf.setBackend('cpu');
  session.data = await readTeacher({ kind: 'file', file: new File([teacherFile().text], 'teacher.jsonl') }, { k: 4, seed: 1 });
  session.evalData = await readEval({ kind: 'file', file: new File([evalFile()], 'eval.jsonl') }, session.data.taskType);
});

afterAll(() => {
  disposeLive(session);
  session.data = undefined;
  session.evalData = undefined;
});

describe('a comparison over seeds', () => {
  it('trains MCC-KD then the baseline per seed, reports them as `mcckd experiment` does, and keeps only the last MCC-KD model', async () => {
    disposeLive(session);
    const before = tf.memory().numTensors;
    const events: TrainEvent[] = [];
    const r = await compare(session, config, evalOpts, (e) => void events.push(e), { seeds: [3, 5] });

    const starts = events.filter((e): e is CompareRunEvent => e.type === 'compare-run');
    expect(starts.map((e) => `${e.seedIndex + 1}/${e.seeds} seed ${e.seed} ${e.label} α ${e.alpha}`)).toEqual([
      '1/2 seed 3 mcckd α 0.1',
      '1/2 seed 3 baseline α 0',
      '2/2 seed 5 mcckd α 0.1',
      '2/2 seed 5 baseline α 0',
    ]);
    expect(r.runs.map((x) => `${x.seed} ${x.label} ${x.result.status} ${x.result.step}`)).toEqual([
      '3 mcckd done 2',
      '3 baseline done 2',
      '5 mcckd done 2',
      '5 baseline done 2',
    ]);
    expect(r.runs.every((x) => x.eval?.total === 2)).toBe(true);
    // the first seed's runs where the one-seed result had them
    expect(r.mcckd.result).toEqual(r.runs[0].result);
    expect(r.baseline.eval).toEqual(r.runs[1].eval);

    expect(r.report.format).toBe('mcckd-experiment/1');
    expect(r.report.config).toMatchObject({
      data: 'teacher.jsonl',
      eval: 'eval.jsonl',
      alphas: [0, 0.1],
      seeds: [3, 5],
      samples: 0,
      evalLimit: 2,
      train: { steps: 2, preset: 'tiny', batch: 2, 'max-new-tokens': 3 },
    });
    expect(r.report.runs.map((x) => x.name)).toEqual(['alpha-0.1_seed-3', 'alpha-0_seed-3', 'alpha-0.1_seed-5', 'alpha-0_seed-5']);
    const acc = r.report.summary['0.1']['id.accuracy'];
    expect(acc.n).toBe(2);
    expect(acc.mean).toBeCloseTo((r.runs[0].eval!.accuracy + r.runs[2].eval!.accuracy) / 2, 12);
    const loss = r.report.paired['0.1']['final.loss'];
    const last = (i: number): number => r.runs[i].result.metrics[r.runs[i].result.metrics.length - 1].loss;
    expect(loss.diffs[0]).toBeCloseTo(last(0) - last(1), 12);
    expect(loss.diffs[1]).toBeCloseTo(last(2) - last(3), 12);
    // the baseline's KL is measured but weighs nothing: its loss is its CE
    expect(r.report.summary['0']['final.loss'].mean).toBeCloseTo(r.report.summary['0']['final.ce'].mean!, 6);
    expect(r.report.summary['0.1']['final.loss'].mean).not.toBeCloseTo(r.report.summary['0.1']['final.ce'].mean!, 6);

    expect(session.live?.trainer.trainConfig).toMatchObject({ seed: 5, alpha: 0.1 });
    expect(session.machine.state).toEqual({ phase: 'idle' });
    disposeLive(session);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a stop ends it after the current step and reports what finished', async () => {
    disposeLive(session);
    const before = tf.memory().numTensors;
    let seedIndex = -1;
    const r = await compare(
      session,
      config,
      evalOpts,
      (e) => {
        if (e.type === 'compare-run') seedIndex = e.seedIndex;
        if (e.type === 'step' && seedIndex === 1) session.machine.stop();
      },
      { seeds: [1, 2] },
    );
    expect(r.runs.map((x) => `${x.seed} ${x.label} ${x.result.status}`)).toEqual(['1 mcckd done', '1 baseline done', '2 mcckd stopped']);
    expect(r.runs[2].eval).toBeUndefined();
    expect(r.report.config.seeds).toEqual([1]);
    expect(r.report.runs).toHaveLength(2);
    expect(r.report.paired['0.1']['id.accuracy'].diffs).toHaveLength(1);
    // the stopped MCC-KD model is the one left loaded
    expect(session.live?.trainer.trainConfig.seed).toBe(2);
    disposeLive(session);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('with accuracy checks, each run carries its curve and the report its evalCurve (curves.svg gets the accuracy panel)', async () => {
    disposeLive(session);
    const before = tf.memory().numTensors;
    const events: TrainEvent[] = [];
    const r = await compare(session, config, evalOpts, (e) => void events.push(e), {
      seeds: [1],
      accuracy: { every: 1, questions: 2, maxNewTokens: 3 },
    });
    const checks = events.filter((e) => e.type === 'accuracy').map((e) => (e.type === 'accuracy' ? `${e.label} ${e.step} ${e.total}` : ''));
    expect(checks).toEqual(['mcckd 1 2', 'mcckd 2 2', 'baseline 1 2', 'baseline 2 2']);
    expect(r.runs.map((x) => x.accuracy?.map((p) => p.step))).toEqual([
      [1, 2],
      [1, 2],
    ]);
    expect(r.report.runs.map((x) => x.evalCurve.map((p) => p.step))).toEqual([
      [1, 2],
      [1, 2],
    ]);
    expect(r.report.runs[1].evalCurve[1].accuracy).toBe(r.runs[1].accuracy![1].accuracy);
    expect(curvesSvg(r.report)).toContain('held-out accuracy while training');
    disposeLive(session);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a run that fails ends the comparison with what finished reported, and an error note', async () => {
    disposeLive(session);
    const before = tf.memory().numTensors;
    const events: TrainEvent[] = [];
    const step = Trainer.prototype.trainStep;
    try {
      const r = await compare(
        session,
        config,
        evalOpts,
        (e) => {
          events.push(e);
          // the second seed's MCC-KD run fails at its first step
          if (e.type === 'compare-run' && e.seedIndex === 1) {
            Trainer.prototype.trainStep = () => Promise.reject(new Error('the GPU went away'));
          }
        },
        { seeds: [1, 2] },
      );
      expect(r.runs.map((x) => `${x.seed} ${x.label} ${x.result.status}`)).toEqual(['1 mcckd done', '1 baseline done']);
      expect(r.report.config.seeds).toEqual([1]);
      expect(r.report.runs).toHaveLength(2);
      const notes = events.filter((e) => e.type === 'note' && e.level === 'error').map((e) => (e.type === 'note' ? e.message : ''));
      expect(notes).toEqual(['seed 2: the GPU went away; the comparison stops here and reports the runs that finished']);
    } finally {
      Trainer.prototype.trainStep = step;
    }
    disposeLive(session);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a bad list of seeds, or alpha 0, before touching the model in memory', async () => {
    disposeLive(session);
    await compare(session, config, evalOpts, () => undefined, { seeds: [1] });
    const kept = session.live;
    expect(kept).toBeDefined();
    await expect(compare(session, config, evalOpts, () => undefined, { seeds: [1, 1] })).rejects.toThrow('a seed is listed twice');
    await expect(compare(session, config, evalOpts, () => undefined, { seeds: [] })).rejects.toThrow('give at least one seed');
    await expect(compare(session, { ...config, alpha: 0 }, evalOpts, () => undefined)).rejects.toThrow('set alpha above 0');
    expect(session.live).toBe(kept);
    disposeLive(session);
  });
});
