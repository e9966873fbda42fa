import { describe, expect, it } from 'vitest';
import { answersMatch, detectTaskType, extractAnswer, normalizeAnswer, parseChoices } from '../../src/data/answer';
import { canonicalRationale, stripAnswerStatement } from '../../src/data/canonical';
import { jaccard, ngramSet } from '../../src/data/similarity';

describe('detectTaskType', () => {
  it('detects each type from gold answers', () => {
    expect(detectTaskType(['32', '1,000', '3.5', '-2'])).toBe('number');
    expect(detectTaskType(['A', '(B)', 'C'])).toBe('choice');
    expect(detectTaskType(['yes', 'No', 'YES'])).toBe('yesno');
    expect(detectTaskType(['nkta', 'yajc'])).toBe('text');
    expect(detectTaskType([])).toBe('text');
  });
  it('tolerates a few odd golds (95%) without switching to text', () => {
    const golds = Array.from({ length: 40 }, (_, i) => String(i));
    expect(detectTaskType([...golds, 'twelve'])).toBe('number');
    expect(detectTaskType([...golds.slice(0, 5), 'a', 'b'])).toBe('text');
  });
});

describe('normalizeAnswer', () => {
  it('canonicalises golds', () => {
    expect(normalizeAnswer('32.0', 'number')).toBe('32');
    expect(normalizeAnswer('1,000', 'number')).toBe('1000');
    expect(normalizeAnswer('$1,234.50', 'number')).toBe('1234.5');
    expect(normalizeAnswer('007', 'number')).toBe('7');
    expect(normalizeAnswer('(B)', 'choice')).toBe('B');
    expect(normalizeAnswer('c', 'choice')).toBe('C');
    expect(normalizeAnswer('Yes.', 'yesno')).toBe('yes');
    expect(normalizeAnswer(' "NKTA" ', 'text')).toBe('nkta');
  });
});

describe('extractAnswer', () => {
  it('numbers: the cue first, else the last number; separators and signs', () => {
    expect(extractAnswer('15 + 18 = 33 items.\nTherefore, the answer is 29.', 'number')).toBe('29');
    expect(extractAnswer('The answer is 1,000 apples, not 12.', 'number')).toBe('1000');
    expect(extractAnswer('He has 5-4 = 1 more balloon.', 'number')).toBe('1');
    expect(extractAnswer('It went down to -3 degrees.', 'number')).toBe('-3');
    expect(extractAnswer('Each costs $2.50, so 4 cost 10.0 dollars.', 'number')).toBe('10');
    expect(extractAnswer('No digits here.', 'number')).toBeNull();
  });
  it('choices: "(B)", "answer is B", never the capital of a name', () => {
    expect(extractAnswer('So the answer is (B).', 'choice')).toBe('B');
    expect(extractAnswer('The correct answer is: (C) blue ball.', 'choice')).toBe('C');
    expect(extractAnswer('Thus the answer is B.', 'choice')).toBe('B');
    expect(extractAnswer('The answer is Alice, who holds the ball.', 'choice')).toBeNull();
    expect(extractAnswer('At the end, Alice is playing (A) center midfielder.', 'choice')).toBe('A');
    // No letter: the choice text named in the final sentence.
    expect(extractAnswer('Swaps happen.\nSo Bob has the white ball.', 'choice', ['orange ball', 'white ball', 'blue ball'])).toBe('B');
    // A letter past the listed choices is not an answer.
    expect(extractAnswer('The answer is (D).', 'choice', ['x', 'y', 'z'])).toBeNull();
  });
  it('yes/no', () => {
    expect(extractAnswer('Birds fly. So the answer is yes.', 'yesno')).toBe('yes');
    expect(extractAnswer('It cannot swim.\nNo, it would sink.', 'yesno')).toBe('no');
    expect(extractAnswer('Unclear.', 'yesno')).toBeNull();
  });
  it('short free text: quotes and case ignored', () => {
    expect(extractAnswer('n + e + h + l = nehl\n\nTherefore, the result is "NEHL".', 'text')).toBe('nehl');
    expect(extractAnswer('Putting them all together, we get: yajc', 'text')).toBe('yajc');
    expect(extractAnswer('So the answer is nkta.', 'text')).toBe('nkta');
  });
});

describe('answersMatch', () => {
  it('compares numbers numerically and text loosely', () => {
    expect(answersMatch('32.0', '32', 'number')).toBe(true);
    expect(answersMatch('1000', '1,000', 'number')).toBe(true);
    expect(answersMatch('31', '32', 'number')).toBe(false);
    expect(answersMatch(null, '32', 'number')).toBe(false);
    expect(answersMatch('(b)', 'B', 'choice')).toBe(true);
    expect(answersMatch('YES', 'yes', 'yesno')).toBe(true);
    expect(answersMatch('"Nehl"', 'nehl', 'text')).toBe(true);
    expect(answersMatch('n e h l', 'nehl', 'text')).toBe(true);
    expect(answersMatch('nehx', 'nehl', 'text')).toBe(false);
  });
});

describe('parseChoices', () => {
  it('reads "(A) x, (B) y, (C) z" from a question', () => {
    expect(parseChoices('Which is true? Answer choices: (A) orange ball, (B) white ball, (C) blue ball.')).toEqual([
      'orange ball',
      'white ball',
      'blue ball',
    ]);
    expect(parseChoices('No choices here (A) only one.')).toBeUndefined();
  });
});

describe('canonical answer sentence', () => {
  it('strips the closing answer statement and records the gold span', () => {
    for (const closing of ['Therefore, the answer is 29.', 'So the answer is (B).', 'The answer is yes.', 'Answer: 32', '#### 32']) {
      expect(stripAnswerStatement(`Step one. Step two gives 3.5 apples.\n${closing}`)).toBe('Step one. Step two gives 3.5 apples.');
    }
    expect(stripAnswerStatement('So the answer is 32.\n#### 32')).toBe('');
    // An "answer is" inside the reasoning is kept; only the final sentence goes.
    expect(stripAnswerStatement('The answer is not obvious. We add 2 and 3 to get 5.')).toBe(
      'The answer is not obvious. We add 2 and 3 to get 5.',
    );
    const c = canonicalRationale('He adds 2 and 30.', '32');
    expect(c.text).toBe('He adds 2 and 30.\nTherefore, the answer is 32.');
    expect(c.text.slice(c.answerStart, c.answerEnd)).toBe('32');
  });
});

describe('similarity', () => {
  it('jaccard of word n-grams', () => {
    const a = ngramSet('a b c d', 2);
    expect(jaccard(a, ngramSet('A, b c d!', 2))).toBe(1);
    expect(jaccard(a, ngramSet('a b x y', 2))).toBeCloseTo(1 / 5);
    expect(ngramSet('one', 3)).toEqual(new Set(['one']));
  });
});
