// The consistency metrics on hand-made inputs whose answers are known.
import { describe, expect, it } from 'vitest';
import {
  agreementOf,
  answerSpanAfterCue,
  majorityAnswer,
  meanPairwiseKL,
  summarizeConsistency,
  symmetricKLOf,
} from '../../src/core/consistency';

describe('majority and agreement', () => {
  it('counts non-null answers; a tie goes to the answer seen first', () => {
    expect(majorityAnswer(['7', '5', '7', null, '7'])).toEqual({ answer: '7', count: 3 });
    expect(majorityAnswer(['5', '7', '7', '5'])).toEqual({ answer: '5', count: 2 });
    expect(majorityAnswer(['7', '5', '5', '7'])).toEqual({ answer: '7', count: 2 });
    expect(majorityAnswer([null, null])).toEqual({ answer: null, count: 0 });
    expect(majorityAnswer([])).toEqual({ answer: null, count: 0 });
  });

  it('agreement is the share of all samples (unanswered ones included) that give the majority answer', () => {
    expect(agreementOf(['7', '5', '7', null, '7'])).toBe(3 / 5);
    expect(agreementOf(['3', '3', '3', '3'])).toBe(1);
    expect(agreementOf([null, null, null])).toBe(0);
    expect(agreementOf([])).toBe(0);
  });
});

describe('symmetric KL', () => {
  it('matches closed forms', () => {
    // p = (1/2, 1/2), q = (1/4, 3/4): 0.5 * [(1/4) ln 2 + (-1/4) ln(2/3)] = ln(3) / 8
    expect(symmetricKLOf([0.5, 0.5], [0.25, 0.75])).toBeCloseTo(Math.log(3) / 8, 12);
    expect(symmetricKLOf([0.2, 0.3, 0.5], [0.2, 0.3, 0.5])).toBe(0);
    // symmetric in its arguments
    expect(symmetricKLOf([0.1, 0.9], [0.6, 0.4])).toBeCloseTo(symmetricKLOf([0.6, 0.4], [0.1, 0.9]), 14);
    // a shared zero contributes nothing; a one-sided zero makes it infinite
    expect(symmetricKLOf([0, 0.5, 0.5], [0, 0.25, 0.75])).toBeCloseTo(Math.log(3) / 8, 12);
    expect(symmetricKLOf([0, 1], [0.5, 0.5])).toBe(Infinity);
    expect(() => symmetricKLOf([1], [0.5, 0.5])).toThrow(/different sizes/);
  });

  it('meanPairwiseKL from negative entropies and cross terms equals the mean of the pairwise KL_sym', () => {
    const ds = [
      [0.5, 0.5],
      [0.25, 0.75],
      [0.9, 0.1],
    ];
    const neg = ds.map((p) => p.reduce((s, x) => s + x * Math.log(x), 0));
    const cross = ds.map((p) => ds.map((q) => p.reduce((s, x, v) => s + x * Math.log(q[v]), 0)));
    const want = (symmetricKLOf(ds[0], ds[1]) + symmetricKLOf(ds[0], ds[2]) + symmetricKLOf(ds[1], ds[2])) / 3;
    expect(meanPairwiseKL(neg, cross)).toBeCloseTo(want, 12);
    expect(meanPairwiseKL(neg.slice(0, 2), cross.slice(0, 2))).toBeCloseTo(Math.log(3) / 8, 12);
    expect(meanPairwiseKL([neg[0]], [[cross[0][0]]])).toBeNull();
    // identical distributions whose terms round a hair apart: clamped at 0
    expect(
      meanPairwiseKL(
        [-0.69, -0.69],
        [
          [-0.69, -0.6899999],
          [-0.6899999, -0.69],
        ],
      ),
    ).toBe(0);
  });
});

describe('summary over questions', () => {
  it('averages agreement over questions, counts majority-vote and sample accuracy, and KL over questions that have one', () => {
    const s = summarizeConsistency([
      { answers: ['7', '7', '5', '7'], correct: [true, true, false, true], majorityCorrect: true, kl: 0.2 },
      { answers: ['3', null, '4', '4'], correct: [true, false, false, false], majorityCorrect: false, kl: 0.4 },
      { answers: [null, null, null, null], correct: [false, false, false, false], majorityCorrect: false, kl: null },
    ]);
    expect(s.questions).toBe(3);
    expect(s.samplesPerQuestion).toBe(4);
    expect(s.agreement).toBeCloseTo((3 / 4 + 2 / 4 + 0) / 3, 14);
    expect(s.majorityAccuracy).toBeCloseTo(1 / 3, 14);
    expect(s.majorityCorrect).toBe(1);
    expect(s.sampleAccuracy).toBeCloseTo(4 / 12, 14);
    expect(s.answered).toBeCloseTo(7 / 12, 14);
    expect(s.answerKL).toBeCloseTo(0.3, 14);
    expect(s.klQuestions).toBe(2);
    expect(summarizeConsistency([])).toMatchObject({ questions: 0, agreement: 0, majorityAccuracy: 0, answerKL: null, klQuestions: 0 });
  });
});

describe('answer position in a sampled rationale', () => {
  it('is just past the last "the answer is" and its spaces', () => {
    const t = 'First the answer is 3. No wait.\nTherefore, the answer is 12.';
    const s = answerSpanAfterCue(t)!;
    expect(t.slice(s.start, s.end)).toBe('12');
    expect(answerSpanAfterCue('So The Answer Is yes')).toEqual({ start: 17, end: 20 });
    expect(answerSpanAfterCue('the answer is')).toBeNull();
    expect(answerSpanAfterCue('the answer is \n5')).toBeNull();
    expect(answerSpanAfterCue('no cue at all: 5')).toBeNull();
    expect(answerSpanAfterCue('the answer is ...')).toEqual({ start: 14, end: 15 }); // a lone mark is kept: the position is what counts
  });
});
