import { describe, expect, it } from 'vitest';
import { DataError, readTeacherFile } from '../../src/data/index';
import { Q1, Q2, R20, R32, enc, jsonl } from './data-fixtures';

const good = { question: Q2, rationales: R20, answer: '20' };
const noDev = { devFraction: 0 };

async function refusal(source: string | Uint8Array, opts = {}): Promise<string> {
  try {
    await readTeacherFile(source, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    const msg = (e as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected the file to be refused');
}

describe('bad records are skipped and reported with line/index and field', () => {
  it('invalid JSON, missing and wrongly typed fields, empty rationale, unknown record', async () => {
    const text = [
      JSON.stringify(good),
      '{"question": "broken", ',
      JSON.stringify({ question: 'No answer here', rationales: ['x'] }),
      JSON.stringify({ question: Q1, rationales: 'not a list', answer: '32' }),
      JSON.stringify({ question: 'Obj answer', rationales: ['y'], answer: { v: 1 } }),
      JSON.stringify({ question: 'Empty one', rationales: ['  ', 'The total is 5 so 5.'], answer: '5' }),
      JSON.stringify({ question: '   ', rationales: ['z'], answer: '1' }),
      '[1, 2]',
      '',
      JSON.stringify({ question: 'No number', rationales: ['There is no number in this text.'], answer: '7' }),
    ].join('\n');
    const { groups, report } = await readTeacherFile(text, noDev);
    expect(groups.map((g) => g.question)).toEqual([Q2, 'Empty one']);
    const errs = report.errors.map((e) => [e.line, e.field, e.message]);
    expect(errs).toEqual([
      [2, undefined, expect.stringMatching(/^invalid JSON: /)],
      [3, 'answer', 'answer: missing'],
      [4, 'rationales', 'rationales: must be an array, got a string'],
      [5, 'answer', 'answer: must be a string, got an object'],
      [6, 'rationales[0]', 'rationales[0]: empty rationale'],
      [7, 'question', 'question: empty question'],
      [8, undefined, 'record is an array, expected a JSON object'],
      [10, 'rationales[0]', 'no number answer found in the rationale'],
    ]);
    expect(report.records).toBe(9);
    expect(report.dropped).toMatchObject({
      'invalid-json': 1,
      'missing-field': 1,
      'wrong-type': 3,
      'empty-rationale': 1,
      'empty-question': 1,
      'answer-not-found': 1,
      'no-rationale-left': 2,
      'unusable-record': 3,
    });
    expect(report.droppedExamples.find((d) => d.reason === 'answer-not-found')).toMatchObject({ line: 10, question: 'No number' });
  });

  it('names the array index of a bad element', async () => {
    const text = JSON.stringify([good, { foo: 1 }, good]);
    const { report } = await readTeacherFile(text, noDev);
    // The format is known from record 0, so {foo} is checked field by field.
    expect(report.errors.map((e) => [e.index, e.line, e.field])).toEqual([
      [1, 1, 'question'],
      [1, 1, 'answer'],
      [1, 1, 'rationales'],
    ]);
    expect(report.questions).toBe(1);
    const first = await readTeacherFile(JSON.stringify([{ foo: 1 }, good]), noDev);
    expect(first.report.errors[0]).toMatchObject({ index: 0, line: 1, message: 'no accepted format has these fields: {foo}' });
  });

  it('text over the size limit, too many rationales', async () => {
    const rows = [{ question: Q1, rationales: [...R32, `${'long '.repeat(30)} 32`], answer: '32' }];
    const { report } = await readTeacherFile(jsonl(rows), { ...noDev, limits: { maxTextChars: 120, maxRationalesPerQuestion: 4 } });
    expect(report.dropped['text-too-long']).toBe(1);
    expect(report.errors[0]).toMatchObject({ line: 1, field: 'rationales[4]' });
    const capped = await readTeacherFile(jsonl(rows), { ...noDev, limits: { maxRationalesPerQuestion: 2 } });
    expect(capped.report.dropped['over-rationale-limit']).toBe(3);
  });

  it('caps the error list and counts the rest', async () => {
    const text = `${'{oops\n'.repeat(150)}${JSON.stringify(good)}\n`;
    const { report } = await readTeacherFile(text, noDev);
    expect(report.errors).toHaveLength(100);
    expect(report.errorsOmitted).toBe(50);
    expect(report.dropped['invalid-json']).toBe(150);
    expect(report.questions).toBe(1);
  });

  it('a truncated array keeps its complete records; text after the array is reported', async () => {
    const cut = await readTeacherFile(`[${JSON.stringify(good)}, {"question": "x`, noDev);
    expect(cut.report.questions).toBe(1);
    expect(cut.report.errors.map((e) => e.message)).toEqual([
      'file ends inside this record (unterminated string or missing closing bracket)',
      'file ends before the JSON array is closed (missing "]")',
    ]);
    const trailing = await readTeacherFile(`[${JSON.stringify(good)}]\n{"x": 1}`, noDev);
    expect(trailing.report.errors[0]).toMatchObject({ line: 2, message: 'text after the end of the JSON array' });
    expect(trailing.report.questions).toBe(1);
  });
});

describe('refused files: one clear line each', () => {
  it('empty and whitespace-only files', async () => {
    expect(await refusal('')).toBe('file is empty');
    expect(await refusal(new Uint8Array(0))).toBe('file is empty');
    expect(await refusal(' \n\r\n\t ')).toBe('file contains only whitespace: no record');
  });

  it('binary data, invalid UTF-8, UTF-16', async () => {
    expect(await refusal(new Uint8Array([0x7b, 0x22, 0x00, 0x01, 0x02]))).toBe('not a text file: NUL byte at byte 2 (binary data?)');
    const bad = enc.encode(`${JSON.stringify(good)}\n{"question": "caf`);
    expect(await refusal(new Uint8Array([...bad, 0xc3, 0x28, 0x22, 0x7d]))).toBe(
      `not UTF-8 text: invalid byte sequence at byte ${bad.length}`,
    );
    expect(await refusal(new Uint8Array([0xff, 0xfe, 0x5b, 0x00]))).toMatch(/UTF-16/);
  });

  it('a 20 MB single-line record', async () => {
    const huge = JSON.stringify({ question: 'q'.repeat(20 * 1024 * 1024), rationales: ['a'], answer: '1' });
    expect(await refusal(huge)).toMatch(
      /^no usable record: record 0 \(line 1\): record of 20\.0 MB is over the 4\.0 MB record-size limit \(limits\.maxRecordBytes\); accepted: /,
    );
    // As a JSON Lines line after a good record: skipped, reported, the rest kept.
    const { report } = await readTeacherFile(`${JSON.stringify(good)}\n${huge}\n`, noDev);
    expect(report.errors[0]).toMatchObject({ line: 2, message: expect.stringMatching(/record of 20\.0 MB/) });
    expect(report.questions).toBe(1);
  });

  it('a 20 MB JSON array on one line is fine: elements are split incrementally', async () => {
    const pad = 'and then some more words to pad the rationale '.repeat(10);
    const rows = Array.from({ length: 40_000 }, (_, i) => ({
      question: `What is ${i} plus 1?`,
      rationales: [`${pad} so ${i} plus one is ${i + 1}.`],
      answer: String(i + 1),
    }));
    const text = JSON.stringify(rows);
    expect(text.length).toBeGreaterThan(20 * 1024 * 1024);
    const { report } = await readTeacherFile(text, noDev);
    expect(report).toMatchObject({ records: 40_000, questions: 40_000, errors: [] });
  });

  it('deeply nested JSON', async () => {
    const deep = `[${'['.repeat(100_000)}${']'.repeat(100_000)}]`;
    expect(await refusal(deep)).toMatch(/^no usable record: record 0 \(line 1\): JSON nested deeper than 64 levels; accepted: /);
    const line = `{"question": ${'['.repeat(5000)}${']'.repeat(5000)}}`;
    expect(await refusal(`${line}\n`)).toMatch(/^no usable record: line 1: JSON nested deeper than 64 levels/);
    const { report } = await readTeacherFile(`${line}\n${JSON.stringify(good)}\n`, noDev);
    expect(report.questions).toBe(1);
    expect(report.dropped['too-deep']).toBe(1);
  });

  it('no usable record lists the accepted formats', async () => {
    const msg = await refusal('name,answer\nfoo,1\n');
    expect(msg).toMatch(/^no usable record \(2 records, none usable\): line 1: invalid JSON/);
    for (const f of ['MCC-KD', 'Mentor-KD', 'Fine-tune-CoT', 'step-by-step', 'chat', '{question, rationales, answer}'])
      expect(msg).toContain(f);
    expect(await refusal(jsonl([{ foo: 1 }]))).toMatch(/no accepted format has these fields: \{foo\}/);
  });

  it('a file over the size limit, or with nothing left after curation', async () => {
    expect(await refusal(jsonl([good, good]), { limits: { maxFileBytes: 100 } })).toBe(
      'file is over the 100 B size limit (limits.maxFileBytes)',
    );
    const wrong = [{ question: Q1, rationales: [R32[3]], answer: '32' }];
    expect(await refusal(jsonl(wrong))).toBe(
      'no question kept after curation (1 questions read; dropped: wrong-answer 1, no-rationale-left 1)',
    );
  });
});
