// The consistency metrics' memory (issue 22, defect 12b): --samples had no
// upper bound and answerKLs ran all M samples of a question through one
// forward. Now M is capped (MAX_CONSISTENCY_SAMPLES, said in the refusal and
// --help) and the forward runs on at most batchSize rows at a time, with the
// same numbers; the device's peak bytes (tf.profile) are counted, not timed.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args';
import { runEval } from '../../src/cli/evaluate';
import { runExperiment } from '../../src/cli/experiment';
import { EVAL_FLAGS, EXPERIMENT_FLAGS } from '../../src/cli/flags';
import { MAX_CONSISTENCY_SAMPLES } from '../../src/core/consistency';
import { answerKLs, evaluateConsistency, type EvalModel } from '../../src/core/evaluate';
import type { Params } from '../../src/core/model';
import { Trainer } from '../../src/core/trainer';
import type { EvalItem } from '../../src/data/types';
import { tinyConfig, toyGroups } from './core-helpers';

let t: Trainer;
let m: EvalModel;
beforeAll(async () => {
  await tf.setBackend('cpu');
  t = await Trainer.create({
    groups: toyGroups(4),
    trainConfig: tinyConfig({ steps: 1 }),
    datasetFingerprint: 'x',
    modelOverrides: { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 96 },
  });
  m = { params: t.variables as Params, modelConfig: t.modelConfig, tokenizer: t.tokenizer };
});
afterAll(() => t.dispose());

const items: EvalItem[] = [
  { id: 'a', question: 'Ann has 3 apples and gets 4 more. How many apples does she have?', answer: '7' },
  { id: 'b', question: 'Bo has 2 pens and buys 9 more. How many pens?', answer: '11' },
];

/** M samples per question, each with an answer cue, of different lengths. */
function texts(M: number): string[] {
  return items.flatMap((_, q) => Array.from({ length: M }, (_, s) => `${'so '.repeat(s % 5)}step ${q}.${s}: the answer is ${s + q}.`));
}

describe('answer KL in parts', () => {
  it('a question with more samples than the batch gives the same KLs, with a lower device peak, and no tensor left', async () => {
    const M = 24;
    const before = tf.memory().numTensors;
    let whole: (number | null)[] = [];
    let parts: (number | null)[] = [];
    const peakWhole = (
      await tf.profile(async () => {
        whole = await answerKLs(m, items, texts(M), M, { klTemperature: 1, batchSize: M });
      })
    ).peakBytes;
    const peakParts = (
      await tf.profile(async () => {
        parts = await answerKLs(m, items, texts(M), M, { klTemperature: 1, batchSize: 4 });
      })
    ).peakBytes;
    expect(tf.memory().numTensors).toBe(before);
    expect(whole.every((x) => x !== null && x > 0)).toBe(true);
    parts.forEach((x, i) => {
      expect(Math.abs((x as number) - (whole[i] as number))).toBeLessThan(1e-6 * (1 + (whole[i] as number)));
    });
    // the forward's activations scale with the rows in it: 4 rows, not 24
    expect(peakParts).toBeLessThan(peakWhole / 2);
  });
});

describe(`at most ${MAX_CONSISTENCY_SAMPLES} samples per question`, () => {
  it('the core refuses more before decoding anything', async () => {
    const before = tf.memory().numTensors;
    await expect(evaluateConsistency(m, items, { taskType: 'number', samples: MAX_CONSISTENCY_SAMPLES + 1 })).rejects.toThrow(
      `consistency takes 2 to ${MAX_CONSISTENCY_SAMPLES} samples per question, got ${MAX_CONSISTENCY_SAMPLES + 1}`,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('mcckd eval and mcckd experiment refuse --samples over the cap, and --help says it', async () => {
    const over = String(MAX_CONSISTENCY_SAMPLES + 1);
    const why = `--samples must be at most ${MAX_CONSISTENCY_SAMPLES}, got ${over}`;
    // refused before the run or the data is read: these paths need not exist
    await expect(runEval(['--run', '/nonexistent/run', '--data', '/nonexistent/x.jsonl', '--samples', over])).rejects.toThrow(why);
    await expect(runEval(['--run', '/nonexistent/run', '--data', '/nonexistent/x.jsonl', '--samples', over])).rejects.toThrow(UsageError);
    const file = new URL('../../package.json', import.meta.url).pathname;
    await expect(
      runExperiment(['--data', file, '--eval', file, '--alphas', '0', '--seeds', '1', '--samples', over, '--out', '/nonexistent/exp']),
    ).rejects.toThrow(why);
    expect(EVAL_FLAGS.samples.help).toContain(`2 to ${MAX_CONSISTENCY_SAMPLES}`);
    expect(EXPERIMENT_FLAGS.samples.help).toContain(`2 to ${MAX_CONSISTENCY_SAMPLES}`);
  });
});
