// Hardening of the data reader (issue 11): super-linear scans, NUL bytes,
// number answers. Work is counted with src/data/scan.ts's step meter, never
// timed. Synchronous calls on adversarial input also run under a generous vm
// limit: linear code needs milliseconds there, the old regexes minutes to
// hours, and a regression then fails with a message instead of freezing the
// test worker (vitest's own timeout cannot interrupt synchronous code).

import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { answersMatch, detectTaskType, extractAnswer, isValidGold, normalizeAnswer, parseChoices } from '../../src/data/answer';
import { stripAnswerStatement } from '../../src/data/canonical';
import { DataError, readEvalFile, readTeacherFile } from '../../src/data/index';
import { Q1, Q2, R20, R32, chunked, enc, jsonl } from './data-fixtures';

const LIMIT_MS = 10_000;
const noDev = { devFraction: 0 };
const good1 = { question: Q1, rationales: R32, answer: '32' };
const good2 = { question: Q2, rationales: R20, answer: '20' };

/** Runs `f` synchronously, interrupted (V8 TerminateExecution) past LIMIT_MS. */
function bounded<T>(f: () => T): T {
  return vm.runInContext('f()', vm.createContext({ f }), { timeout: LIMIT_MS }) as T;
}

/** The step meter (imported lazily so the other tests of this file run on
 * code that does not have it yet). */
async function meter(): Promise<{ steps: number }> {
  return (await import('../../src/data/scan')).meter;
}

/** Steps the data scanners count while `f` runs. */
async function stepsOf(f: () => unknown): Promise<number> {
  const m = await meter();
  m.steps = 0;
  bounded(f);
  return m.steps;
}

/** Asserts that `f(input(n))` counts at most `perChar` steps per input
 * character, at two sizes (so a quadratic scan shows at the larger one). */
async function expectLinear(name: string, input: (n: number) => string, f: (s: string) => unknown, perChar = 8): Promise<void> {
  for (const n of [2_000, 50_000]) {
    const s = input(n);
    const steps = await stepsOf(() => f(s));
    expect(steps, `${name}, n=${n}: ${steps} steps for ${s.length} characters`).toBeLessThanOrEqual(perChar * s.length + 64);
  }
}

async function refusal(source: string | Uint8Array): Promise<string> {
  try {
    await readTeacherFile(source, noDev);
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return (e as Error).message;
  }
  throw new Error('expected the file to be refused');
}

describe('defect 3: parseChoices has no catastrophic backtracking', () => {
  it('"(A)", 20,000 spaces, "(x" returns at once (the issue: 1,000 spaces took 42.7 s)', async () => {
    expect(bounded(() => parseChoices(`(A)${' '.repeat(20_000)}(x`))).toBeUndefined();
    expect(bounded(() => parseChoices(`(A) a${' ,'.repeat(20_000)}(x`))).toBeUndefined();
    expect(bounded(() => parseChoices(`(A)${' or'.repeat(20_000)} (b`))).toBeUndefined();
    const shapes: Record<string, (n: number) => string> = {
      spaces: (n) => `(A)${' '.repeat(n)}(x`,
      commas: (n) => `(A) a${' ,'.repeat(n / 2)}(x`,
      ors: (n) => `(A)${' or'.repeat(n / 3)} (b`,
      'many choices': (n) => `Pick: ${'(A) x, (B) y, '.repeat(n / 14)}`,
      tags: (n) => '(A)(A)(B)'.repeat(n / 9),
      'comma runs': (n) => `(A) x,${' '.repeat(n)}`,
    };
    for (const [name, input] of Object.entries(shapes)) await expectLinear(`parseChoices ${name}`, input, parseChoices);
  });

  it('still reads the listed choices', () => {
    expect(parseChoices('Which is true? Answer choices: (A) orange ball, (B) white ball, (C) blue ball.')).toEqual([
      'orange ball',
      'white ball',
      'blue ball',
    ]);
    expect(parseChoices('Options: (A) red, (B) blue, or (C) green.')).toEqual(['red', 'blue', 'green']);
    expect(parseChoices('(A) red or (B) blue')).toEqual(['red', 'blue']);
    expect(parseChoices('Which?\n(A) yes\n(B) no\n')).toEqual(['yes', 'no']);
    expect(parseChoices('(A) red, green (B) blue')).toEqual(['red, green', 'blue']);
    expect(parseChoices('(A)   spaced out   (B) x')).toEqual(['spaced out', 'x']);
    expect(parseChoices('(B) out of order (A) x')).toBeUndefined();
    expect(parseChoices('(A) has (parens) (B) x')).toBeUndefined();
  });
});

describe('defect 4: the last-sentence scan is linear', () => {
  // Long runs of sentence ends with no letter after them: the old scan looked
  // for a letter in the whole rest of the text after every sentence end.
  const walls: Record<string, (n: number) => string> = {
    dots: (n) => `We count. ${'. '.repeat(n / 2)}`,
    'quoted ends': (n) => `He said "go." ${'?" '.repeat(n / 3)}`,
    newlines: (n) => `Step one.${'\n.'.repeat(n / 2)}`,
  };

  it('stripAnswerStatement and extractAnswer on 200,000 characters of sentence ends', async () => {
    for (const wall of Object.values(walls)) {
      const t = wall(200_000);
      expect(bounded(() => stripAnswerStatement(t)).length).toBeGreaterThan(0);
      bounded(() => extractAnswer(t, 'yesno'));
      bounded(() => extractAnswer(t, 'choice', ['red ball', 'blue ball']));
    }
    for (const [name, wall] of Object.entries(walls)) {
      await expectLinear(`stripAnswerStatement ${name}`, wall, stripAnswerStatement);
      await expectLinear(`extractAnswer yesno ${name}`, wall, (s) => extractAnswer(s, 'yesno'));
      // Up to 8 steps per character and short choice text (searched natively).
      await expectLinear(`extractAnswer choice ${name}`, wall, (s) => extractAnswer(s, 'choice', ['red ball', 'blue ball']), 24);
    }
  });

  it('keeps the final-sentence behaviour', () => {
    expect(stripAnswerStatement('Step one. Step two gives 3.5 apples.\nTherefore, the answer is 29.')).toBe(
      'Step one. Step two gives 3.5 apples.',
    );
    expect(stripAnswerStatement('We add. The answer is 5. . . .')).toBe('We add.');
    expect(extractAnswer('Swaps happen.\nSo Bob has the white ball.', 'choice', ['orange ball', 'white ball'])).toBe('B');
    expect(extractAnswer('It cannot swim.\nNo, it would sink. . .', 'yesno')).toBe('no');
  });

  it('a file of six 98,000-character rationales is read with linear work (the issue: 588 KB took 20 s)', async () => {
    const m = await meter();
    const wall = (i: number): string => `We count ${i} apples. ${'. '.repeat(49_000)}So the answer is 5.`;
    const rows = Array.from({ length: 6 }, (_, i) => ({ question: `How many apples, case ${i}?`, rationales: [wall(i)], answer: '5' }));
    const text = jsonl(rows);
    m.steps = 0;
    const { report } = await readTeacherFile(text, noDev);
    expect(report.questions).toBe(6);
    expect(m.steps, `${m.steps} steps for ${text.length} characters`).toBeLessThanOrEqual(16 * text.length);
  });
});

describe('defect 5: leading blank lines are scanned once', () => {
  /** `mb` MB of "\n" in `chunk`-byte pieces, then `tail`. The source gives
   * the event loop a turn now and then, so the deadline below can fire while
   * a quadratic reader is still busy; it then ends the input early. */
  async function* blanksThen(mb: number, chunk: number, tail: string, state: { late: boolean }): AsyncGenerator<Uint8Array> {
    const piece = new Uint8Array(chunk).fill(10);
    for (let i = 0; i < (mb * 1024 * 1024) / chunk; i++) {
      if (state.late) return;
      if (i % 256 === 0) await new Promise((r) => setImmediate(r));
      yield piece;
    }
    yield enc.encode(tail);
  }

  it('16 MB of newlines in 2 KB chunks, then records: linear work, right line numbers (the issue: 20 MB took 10 s)', async () => {
    const tail = `${JSON.stringify(good1)}\n{"question": "broken"\n${JSON.stringify(good2)}\n`;
    const state = { late: false };
    const deadline = setTimeout(() => (state.late = true), 30_000); // linear: well under a second of reading
    const outcome = await readTeacherFile(blanksThen(16, 2048, tail, state), noDev).then(
      (r) => ({ r }),
      (e: unknown) => ({ e }),
    );
    clearTimeout(deadline);
    expect(state.late, 'the blank lines were not read within 30 s: the sniff rescans them').toBe(false);
    if ('e' in outcome) throw outcome.e;
    const { report } = outcome.r;
    const lines = 16 * 1024 * 1024;
    expect(report.questions).toBe(2);
    expect(report.errors).toEqual([{ line: lines + 2, message: expect.stringMatching(/^invalid JSON/) }]);
    // Counted on a second read (the meter is imported after the first one so
    // that the deadline check above also runs on code without the meter).
    const m = await meter();
    m.steps = 0;
    await readTeacherFile(blanksThen(16, 2048, tail, { late: false }), noDev);
    const steps = m.steps;
    expect(steps, `${steps} steps for ${lines} bytes`).toBeLessThanOrEqual(4 * lines + 100_000);
  }, 120_000);

  it('line numbers after leading blank lines, for every container and chunk size', async () => {
    const blank = ' \n\r\n\t\n\n';
    const docs: Record<string, [string, { line?: number; index?: number }]> = {
      jsonl: [`${blank}${JSON.stringify(good1)}\n{"question": "x"}\n`, { line: 6 }],
      array: [`${blank}[${JSON.stringify(good1)},\n {"foo": 1}]`, { line: 6, index: 1 }],
      pretty: [`${blank}${JSON.stringify([good1, { foo: 1 }], null, 1)}`, { index: 1 }],
      document: [
        `${blank}{\n "question": "${Q1}", "rationales": ${JSON.stringify(R32)}, "answer": "32"}\n{"foo": 1}\n`,
        { line: 7, index: 1 },
      ],
    };
    for (const [name, [text, where]] of Object.entries(docs)) {
      for (const size of [1, 3, 1 << 20]) {
        const { report } = await readTeacherFile(chunked(enc.encode(text), size), noDev);
        expect(report.questions, `${name} / ${size}`).toBe(1);
        expect(report.errors[0], `${name} / ${size}`).toMatchObject(where);
      }
    }
  });
});

describe('defect 7: a NUL byte is one bad record, not a binary file', () => {
  const bad = `{"question": "What is 1 plus 1?\u0000", "rationales": ["1 + 1 = 2."], "answer": "2"}`;

  it('JSON Lines: the line with a raw NUL is reported by line number, the good records are kept', async () => {
    const text = `${JSON.stringify(good1)}\n${bad}\n${JSON.stringify(good2)}\n`;
    for (const source of [() => text, () => enc.encode(text), () => chunked(enc.encode(text), 7)]) {
      const { groups, report } = await readTeacherFile(source(), noDev);
      expect(groups.map((g) => g.question)).toEqual([Q1, Q2]);
      expect(report.errors).toEqual([{ line: 2, message: expect.stringMatching(/NUL/) }]);
      expect(report.errors[0].message).not.toContain('\u0000');
      expect(report.dropped['invalid-json']).toBe(1);
    }
  });

  it('a JSON array element with a NUL is reported by index and line', async () => {
    const text = `[${JSON.stringify(good1)},\n${bad},\n${JSON.stringify(good2)}]`;
    const { report } = await readTeacherFile(enc.encode(text), noDev);
    expect(report.questions).toBe(2);
    expect(report.errors).toEqual([{ line: 2, index: 1, message: expect.stringMatching(/NUL/) }]);
  });

  it('NUL bytes far into a large file, and in an evaluation file', async () => {
    const rows = Array.from({ length: 400 }, (_, i) =>
      JSON.stringify({ question: `What is ${i} plus 1?`, rationales: [`${i} + 1 = ${i + 1}.`], answer: String(i + 1) }),
    );
    rows[300] = rows[300].replace('What', 'What\u0000');
    rows[301] = '\u0000\u0000\u0000';
    const { report } = await readTeacherFile(enc.encode(rows.join('\n')), noDev);
    expect(report.questions).toBe(398);
    expect(report.errors.map((e) => e.line)).toEqual([301, 302]);
    const ev = await readEvalFile(enc.encode(`{"question": "a\u0000", "answer": "1"}\n{"question": "b", "answer": "2"}\n`));
    expect(ev.items.map((x) => x.answer)).toEqual(['2']);
    expect(ev.report.errors).toEqual([{ line: 1, message: expect.stringMatching(/NUL/) }]);
  });

  it('binary data (dense NULs or control bytes) is still refused; UTF-16 without a BOM is named', async () => {
    expect(await refusal(new Uint8Array([0x7b, 0x22, 0x00, 0x01, 0x02]))).toBe('not a text file: NUL byte at byte 2 (binary data?)');
    const gzipLike = new Uint8Array(2048).map((_, i) => (i % 3 === 0 ? 0 : 0x41 + (i % 26)));
    gzipLike.set([0x1f, 0x8b, 0x08, 0x00]);
    expect(await refusal(gzipLike)).toBe('not a text file: NUL byte at byte 3 (binary data?)');
    expect(await refusal('\u0000'.repeat(100))).toBe('not a text file: NUL character at character 0 (binary data?)');
    expect(await refusal(new Uint8Array(64).fill(1))).toBe('not a text file: control byte 0x01 at byte 0 (binary data?)');
    const utf16 = (s: string, be: boolean): Uint8Array =>
      new Uint8Array([...s].flatMap((c) => (be ? [0, c.charCodeAt(0)] : [c.charCodeAt(0), 0])));
    for (const be of [false, true])
      expect(await refusal(utf16(jsonl([good1]), be))).toBe('file is UTF-16 text: save it as UTF-8 (JSON or JSON Lines)');
  });
});

describe('other super-linear scans in answer extraction', () => {
  it('"answer" followed by a long run of spaces (choice cue)', async () => {
    const t = `So the answer${' '.repeat(20_000)}is unclear.`;
    expect(bounded(() => extractAnswer(t, 'choice'))).toBeNull();
    await expectLinear(
      'choice cue',
      (n) => `the answer${' '.repeat(n)}.`,
      (s) => extractAnswer(s, 'choice'),
    );
  });

  it('many opening quotes without a closing one (text answers)', async () => {
    expect(bounded(() => extractAnswer('“'.repeat(200_000), 'text'))).toBeNull();
    expect(extractAnswer('Therefore, the result is "NEHL".', 'text')).toBe('nehl');
    expect(extractAnswer('He wrote “a” and then “b”', 'text')).toBe('b');
    await expectLinear(
      'quotes',
      (n) => `x “${'“'.repeat(n)}`,
      (s) => extractAnswer(s, 'text'),
    );
  });

  it('punctuation runs inside a text answer, trailing zeros inside a number', async () => {
    const t = `x${' ,'.repeat(100_000)}y`;
    expect(bounded(() => normalizeAnswer(t, 'text'))).toBe(`x${' ,'.repeat(100_000)}y`.replace(/\s+/g, ' '));
    const z = `1.${'0'.repeat(200_000)}1`;
    expect(bounded(() => normalizeAnswer(z, 'number'))).toBe(z);
    expect(normalizeAnswer('1.2500', 'number')).toBe('1.25');
    await expectLinear(
      'text runs',
      (n) => `x${' ,'.repeat(n / 2)}y`,
      (s) => normalizeAnswer(s, 'text'),
    );
    await expectLinear(
      'zeros',
      (n) => `1.${'0'.repeat(n)}1`,
      (s) => normalizeAnswer(s, 'number'),
    );
  });

  it('a long choice text is looked up in the last sentence with linear work', async () => {
    const choice = `${'a'.repeat(150_000)}b`;
    const t = `So it is ${'a'.repeat(600_000)}.`;
    expect(bounded(() => extractAnswer(t, 'choice', ['x', choice]))).toBeNull();
    await expectLinear(
      'choice text',
      (n) => `So it is ${'a'.repeat(n)}.`,
      (s) => extractAnswer(s, 'choice', ['x', `${'a'.repeat(s.length / 3)}b`]),
    );
  });
});

describe('number answers', () => {
  it('answersMatch: integers exactly, decimals to a relative 1e-9', () => {
    expect(answersMatch('1000001', '1000000', 'number')).toBe(false);
    expect(answersMatch('12345678901234567891', '12345678901234567890', 'number')).toBe(false);
    expect(answersMatch('12,345,678,901,234,567,890', '12345678901234567890', 'number')).toBe(true);
    expect(answersMatch('0.30000000000000004', '0.3', 'number')).toBe(true);
    expect(answersMatch('3.50', '3.5', 'number')).toBe(true);
    expect(answersMatch('$1,000.00', '1000', 'number')).toBe(true);
    expect(answersMatch('2', '1.9999999999999998', 'number')).toBe(true);
    expect(answersMatch('0.333', '0.3333333333', 'number')).toBe(false);
    expect(answersMatch('1000000.5', '1000000', 'number')).toBe(false);
    expect(answersMatch('0.0000001', '0', 'number')).toBe(false);
    expect(answersMatch('-0', '0', 'number')).toBe(true);
  });

  it('JSON number answers are written out without exponent notation', async () => {
    const text =
      '{"question": "a", "answer": 1.5e-7}\n{"question": "b", "answer": 9007199254740991}\n{"question": "c", "answer": -2.5}\n{"question": "d", "answer": 32.0}\n';
    const { items, taskType, report } = await readEvalFile(text);
    expect(taskType).toBe('number');
    expect(items.map((x) => x.answer)).toEqual(['0.00000015', '9007199254740991', '-2.5', '32']);
    expect(report.errors).toEqual([]);
  });

  it('an integer beyond 2^53 in a JSON number is a record error, not a silently wrong gold', async () => {
    const text =
      '{"question": "a", "answer": 12345678901234567890}\n{"question": "b", "answer": 1e21}\n{"question": "c", "answer": "12345678901234567890"}\n{"question": "d", "answer": 7}\n';
    const { items, report } = await readEvalFile(text);
    expect(items.map((x) => [x.question, x.answer])).toEqual([
      ['c', '12345678901234567890'],
      ['d', '7'],
    ]);
    expect(report.errors).toEqual([
      { line: 1, field: 'answer', message: expect.stringMatching(/^answer: the JSON number 12345678901234567000 is beyond 2\^53/) },
      {
        line: 2,
        field: 'answer',
        message: expect.stringMatching(/^answer: the JSON number 1000000000000000000000 is beyond 2\^53.*write it as a string/),
      },
    ]);
    expect(report.dropped['imprecise-number']).toBe(2);
  });

  it('a Unicode minus (and other minus forms) reads as negative', () => {
    expect(extractAnswer('The temperature fell to −2 degrees.', 'number')).toBe('-2');
    expect(extractAnswer('So the answer is −$1,250.50.', 'number')).toBe('-1250.5');
    expect(extractAnswer('It went down to –3.', 'number')).toBe('-3');
    expect(extractAnswer('Pages 5–7 were torn, so 3 pages.', 'number')).toBe('3');
    expect(extractAnswer('We get 5−4 = 1.', 'number')).toBe('1');
    expect(normalizeAnswer('−2', 'number')).toBe('-2');
    expect(normalizeAnswer('\uFF0D7', 'number')).toBe('-7');
    expect(isValidGold('−2', 'number')).toBe(true);
    expect(detectTaskType(['−2', '3', '−4.5'])).toBe('number');
    expect(answersMatch('−2', '-2', 'number')).toBe(true);
    expect(answersMatch('2', '−2', 'number')).toBe(false);
  });
});
