// Facts about the real teacher files in ../shared/data (see its README).
// Skipped, saying so, on a clone without that folder.

import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractAnswer } from '../../src/data/answer';
import { stripAnswerStatement } from '../../src/data/canonical';
import { readEvalFile, readTeacherFile } from '../../src/data/index';

const DATA = path.resolve(import.meta.dirname, '../../../shared/data');
const present = existsSync(DATA);
if (!present) console.warn(`data-real: skipped, no ${DATA}`);
const file = (p: string): string => path.join(DATA, p);

describe.skipIf(!present)('real data: Mentor-KD', () => {
  it('SVAMP train: 651 questions, 1953 rationales in; the correctness filter keeps 1473', async () => {
    const { groups, dev, taskType, report } = await readTeacherFile(createReadStream(file('mentor-kd/svamp_3_train.json')));
    expect(taskType).toBe('number');
    expect(report).toMatchObject({ format: 'mentor-kd', container: 'json-array', records: 1953, questionsIn: 651, rationalesIn: 1953 });
    // initial_correct is true on every record, yet 457 chains state another
    // number than the gold: those are dropped, and 39 questions lose all.
    expect(report.dropped).toEqual({ 'wrong-answer': 457, 'no-rationale-left': 39, 'duplicate-rationale': 18, 'too-similar': 5 });
    expect(report).toMatchObject({ questions: 612, rationalesKept: 1473, trainQuestions: 551, devQuestions: 61 });
    expect(groups.length + dev.length).toBe(612);
    expect(report.errors).toEqual([]);
    const all = await readTeacherFile(createReadStream(file('mentor-kd/svamp_3_train.json')), { filterCorrect: false, k: 3 });
    expect(all.report.questions).toBe(651);
  });

  it('test files: only input and answer count', async () => {
    const { items, taskType } = await readEvalFile(createReadStream(file('mentor-kd/svamp_test.json')));
    expect(taskType).toBe('number');
    expect(items).toHaveLength(150);
    expect(Object.keys(items[0]).sort()).toEqual(['answer', 'id', 'question']);
    const tso = await readEvalFile(createReadStream(file('mentor-kd/tracking_shuffled_objects_test.json')));
    expect(tso.taskType).toBe('choice');
    expect(tso.items[0].choices).toHaveLength(3);
    const ll = await readEvalFile(createReadStream(file('mentor-kd/last_letter_concatenation_test.json')));
    expect(ll.taskType).toBe('text');
  });
});

describe.skipIf(!present)('real data: MCC-KD SVAMP', () => {
  it('the first question (label 32) keeps only rationales that reach 32', async () => {
    const raw = JSON.parse(readFileSync(file('mcc-kd/svamp_train.json'), 'utf8')) as { output: string[]; label: string }[];
    const outs = raw[0].output;
    expect(raw[0].label).toBe('32');
    const reach = outs.filter((o) => extractAnswer(o, 'number') === '32');
    const wrong = outs.filter((o) => extractAnswer(o, 'number') !== '32');
    expect(wrong.map((o) => extractAnswer(o, 'number'))).toEqual(expect.arrayContaining(['29', '52', '34', '69']));

    const { groups } = await readTeacherFile(createReadStream(file('mcc-kd/svamp_train.json')), { k: 10, devFraction: 0 });
    const g = groups[0];
    expect(g).toMatchObject({ id: 'q0', answer: '32' });
    expect(g.question.endsWith('\n')).toBe(false);
    expect(g.rationales.length).toBeGreaterThan(0);
    const reachBodies = reach.map(stripAnswerStatement);
    for (const r of g.rationales) {
      expect(r.text.endsWith('\nTherefore, the answer is 32.')).toBe(true);
      expect(r.text.slice(r.answerStart, r.answerEnd)).toBe('32');
      expect(reachBodies).toContain(r.text.slice(0, r.text.lastIndexOf('\n')));
    }
  });

  it('whole file report', async () => {
    const { report } = await readTeacherFile(createReadStream(file('mcc-kd/svamp_train.json')));
    expect(report).toMatchObject({
      format: 'mcc-kd',
      records: 700,
      questionsIn: 700,
      rationalesIn: 7000,
      questions: 668,
      rationalesKept: 1919,
    });
    expect(report.dropped).toEqual({
      'wrong-answer': 2306,
      'answer-not-found': 17,
      'duplicate-rationale': 25,
      'too-similar': 20,
      'over-k': 2713,
      'no-rationale-left': 32,
    });
    const dev = await readEvalFile(createReadStream(file('mcc-kd/svamp_dev.json')));
    expect(dev.items).toHaveLength(150);
    expect(dev.report.format).toBe('mcc-kd');
  });
});
