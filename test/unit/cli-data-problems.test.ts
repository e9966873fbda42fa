// What train and eval say about the records they could not use (src/cli/data-problems.ts).
import { describe, expect, it } from 'vitest';
import { dataProblems } from '../../src/cli/data-problems';

describe('the data problems a command prints', () => {
  it('names file, line (or record) and field; says how many more; counts what was dropped; nothing when all was used', () => {
    expect(dataProblems('t.jsonl', { errors: [], errorsOmitted: 0, dropped: {} })).toEqual([]);
    const errors = [
      { line: 2, message: 'invalid JSON: x' },
      { index: 4, field: 'answer', message: 'answer must be a string' },
      { line: 9, index: 7, field: 'rationales[1]', message: 'no number answer found in the rationale' },
      { message: 'file-wide' },
    ];
    expect(dataProblems('d/t.json', { errors, errorsOmitted: 3, dropped: { 'invalid-json': 1, 'bad-record': 1, similar: 0 } }, 3)).toEqual([
      'd/t.json line 2: invalid JSON: x',
      'd/t.json record 4, field "answer": answer must be a string',
      'd/t.json record 7 (line 9), field "rationales[1]": no number answer found in the rationale',
      '… and 4 more (mcckd inspect --data d/t.json lists them)',
      'dropped: 1 invalid-json, 1 bad-record',
    ]);
  });
});
