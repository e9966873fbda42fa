import { createReadStream } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readEvalFile, readTeacherFile } from '../../src/data/index';
import { Q1, Q2, R20, R32, jsonl, tmpFile } from './data-fixtures';

const ours = [
  { id: 'a', question: Q1, rationales: R32, answer: '32' },
  { question: Q2, rationales: R20, answer: 20 },
];
const noDev = { devFraction: 0 };

describe('format 1: our own {question, rationales, answer}', () => {
  it('reads JSON Lines and curates it', async () => {
    const { groups, dev, taskType, report } = await readTeacherFile(jsonl(ours), noDev);
    expect(taskType).toBe('number');
    expect(dev).toEqual([]);
    expect(report).toMatchObject({
      format: 'native',
      container: 'jsonl',
      records: 2,
      questionsIn: 2,
      questions: 2,
      rationalesIn: 6,
      rationalesKept: 5,
    });
    expect(report.dropped).toEqual({ 'wrong-answer': 1 });
    expect(groups.map((g) => [g.id, g.answer, g.rationales.length])).toEqual([
      ['a', '32', 3],
      ['q1', '20', 2],
    ]);
    for (const g of groups) {
      for (const r of g.rationales) {
        expect(r.text.endsWith(`\nTherefore, the answer is ${g.answer}.`)).toBe(true);
        expect(r.text.slice(r.answerStart, r.answerEnd)).toBe(g.answer);
        // The rationale's own closing statement is gone (no double answer).
        expect(r.text.match(/answer is/g)).toHaveLength(1);
      }
    }
    expect(groups[0].rationales[1].text).toBe(
      'Wrappers minus caps: sixty seven take away thirty five leaves 32 extra wrappers.\nTherefore, the answer is 32.',
    );
  });

  it('gives the same result for a JSON array, a BOM and CRLF line ends', async () => {
    const base = await readTeacherFile(jsonl(ours), noDev);
    const arr = await readTeacherFile(JSON.stringify(ours, null, 2), noDev);
    const crlf = await readTeacherFile(`\uFEFF${jsonl(ours, '\r\n')}`, noDev);
    const bomBytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(JSON.stringify(ours))]);
    const bom = await readTeacherFile(bomBytes, noDev);
    expect(arr.report.container).toBe('json-array');
    for (const other of [arr, crlf, bom]) expect(other.groups).toEqual(base.groups);
  });

  it('reads a file stream (fs.createReadStream)', async () => {
    const file = tmpFile('ours.jsonl', jsonl(ours));
    const seen: number[] = [];
    const { report } = await readTeacherFile(createReadStream(file), { ...noDev, onProgress: (b) => seen.push(b) });
    expect(report.questions).toBe(2);
    expect(seen.at(-1)).toBe(report.bytes);
  });

  it('keeps choices and detects a choice task', async () => {
    const q = 'Who holds the ball? Answer choices: (A) Alice, (B) Bob, (C) Claire.';
    const rows = [
      { question: q, rationales: ['Bob caught it last, so (B).', 'The final pass went to Bob. The answer is B.'], answer: '(B)' },
    ];
    const { groups, taskType } = await readTeacherFile(jsonl(rows), noDev);
    expect(taskType).toBe('choice');
    expect(groups[0]).toMatchObject({ answer: 'B', choices: ['Alice', 'Bob', 'Claire'] });
    expect(groups[0].rationales.map((r) => r.text.split('\n').pop())).toEqual([
      'Therefore, the answer is B.',
      'Therefore, the answer is B.',
    ]);
  });
});

describe('format 2: MCC-KD {instruction, output, label}', () => {
  it('trims the instruction, normalizes the label, drops a question without rationales', async () => {
    const rows = [
      { instruction: `${Q1}\n`, output: R32, label: '32.0' },
      { instruction: `${Q2}\n`, output: '', label: '20' },
    ];
    const { groups, report } = await readTeacherFile(JSON.stringify(rows), noDev);
    expect(report).toMatchObject({ format: 'mcc-kd', questionsIn: 2, questions: 1, rationalesIn: 4, rationalesKept: 3 });
    expect(report.dropped).toEqual({ 'wrong-answer': 1, 'no-rationale-left': 1 });
    expect(groups[0]).toMatchObject({ question: Q1, answer: '32' });
  });
});

describe('format 3: Mentor-KD flat records', () => {
  it('groups records by question and honours initial_correct: false', async () => {
    const rows = R32.slice(0, 3).map((chain, i) => ({ input: `${Q1}\n`, chain, answer: '32', initial_correct: i !== 2 }));
    rows.push({ input: Q2, chain: R20[0], answer: '20', initial_correct: true });
    const { groups, report } = await readTeacherFile(JSON.stringify(rows), noDev);
    expect(report).toMatchObject({
      format: 'mentor-kd',
      records: 4,
      questionsIn: 2,
      rationalesIn: 4,
      rationalesKept: 3,
      mergedDuplicates: 0,
    });
    expect(report.dropped).toEqual({ 'marked-incorrect': 1 });
    expect(groups.map((g) => g.rationales.length)).toEqual([2, 1]);
  });
});

describe('format 4: Fine-tune-CoT completions', () => {
  const data = R32.map((r, i) => ({
    sample_index: 7,
    completion_index: i,
    question: Q1,
    answer: '32',
    reasoning_completion: r,
    prompt: 'x',
  }));
  const wrapper = { metadata: { dataset_key: 'svamp', model: 'teacher', nested: { list: [1, [2, { data: [3] }]] } }, data };

  it('reads the pretty-printed {metadata, data} wrapper incrementally', async () => {
    const { groups, report } = await readTeacherFile(JSON.stringify(wrapper, null, 4), noDev);
    expect(report).toMatchObject({ format: 'fine-tune-cot', container: 'json-document', records: 4, rationalesIn: 4, rationalesKept: 3 });
    expect(groups[0].id).toBe('7');
    expect(report.dropped).toEqual({ 'wrong-answer': 1 });
  });

  it('reads the wrapper written on one line, and bare records as JSON Lines', async () => {
    const one = await readTeacherFile(JSON.stringify(wrapper), noDev);
    const lines = await readTeacherFile(jsonl(data), noDev);
    expect(one.groups).toEqual(lines.groups);
    expect(one.report.records).toBe(4);
  });
});

describe('format 5: distilling step-by-step', () => {
  it('uses llm_label as the teacher answer', async () => {
    const rows = [
      { input: Q1, label: '32', rationale: 'Wrappers exceed caps by the difference of the two counts.', llm_label: '32' },
      { input: Q1, label: '32', rationale: 'Adding both counts gives the total number of items.', llm_label: '102' },
    ];
    const { groups, report } = await readTeacherFile(jsonl(rows), noDev);
    expect(report.format).toBe('step-by-step');
    expect(report.dropped).toEqual({ 'wrong-answer': 1 });
    expect(groups[0].rationales[0].text).toBe('Wrappers exceed caps by the difference of the two counts.\nTherefore, the answer is 32.');
  });
});

describe('format 6: chat messages', () => {
  it('groups by the user message; gold from "answer" or the majority of replies', async () => {
    const msg = (content: string): unknown => ({
      messages: [
        { role: 'system', content: 'Think step by step.' },
        { role: 'user', content: Q1 },
        { role: 'assistant', content },
      ],
    });
    const { groups, report } = await readTeacherFile(jsonl(R32.map(msg)), noDev);
    expect(report).toMatchObject({ format: 'chat', questionsIn: 1, rationalesIn: 4, rationalesKept: 3 });
    expect(groups[0].answer).toBe('32');
    const withAnswer = R20.map((c) => ({
      messages: [
        { role: 'user', content: Q2 },
        { role: 'assistant', content: c },
      ],
      answer: '20',
    }));
    expect((await readTeacherFile(jsonl(withAnswer), noDev)).groups[0].rationales).toHaveLength(2);
  });
});

describe('curation', () => {
  it('merges duplicate questions and reports a conflicting answer', async () => {
    const rows = [
      { question: Q1, rationales: R32.slice(0, 1), answer: '32' },
      { question: `  ${Q1.replace(/ /g, '  ')} `, rationales: R32.slice(1, 2), answer: '32.0' },
      { question: Q1, rationales: R32.slice(2, 3), answer: '33' },
    ];
    const { groups, report } = await readTeacherFile(jsonl(rows), noDev);
    expect(report.mergedDuplicates).toBe(2);
    expect(report.dropped['conflicting-answer']).toBe(1);
    expect(report.errors).toEqual([
      { line: 3, field: 'answer', message: 'answer "33" conflicts with "32" given earlier for the same question' },
    ]);
    expect(groups[0].rationales).toHaveLength(2);
  });

  it('drops exact and near duplicates, then caps at K', async () => {
    const near = R32[0].replace('more wrappers', 'more wrapper'); // one trigram of 14 differs
    const rows = [{ question: Q1, rationales: [R32[0], `${R32[0]}  `, near, R32[1], R32[2]], answer: '32' }];
    const a = await readTeacherFile(jsonl(rows), { ...noDev, k: 2 });
    expect(a.report.dropped).toEqual({ 'duplicate-rationale': 1, 'too-similar': 1, 'over-k': 1 });
    expect(a.report.rationalesKept).toBe(2);
    // A lower n-gram size / higher threshold are settings.
    const b = await readTeacherFile(jsonl(rows), { ...noDev, k: 5, similarityThreshold: 1 });
    expect(b.report.dropped).toEqual({ 'duplicate-rationale': 1 });
  });

  it('keeps wrong rationales when the correctness filter is off, with the gold appended', async () => {
    const { groups } = await readTeacherFile(jsonl([ours[0]]), { ...noDev, filterCorrect: false, k: 10 });
    expect(groups[0].rationales).toHaveLength(4);
    expect(groups[0].rationales[3].text).toBe(
      'The collection holds 67 wrappers and 35 bottle caps; 67 - 35 = 29.\nTherefore, the answer is 32.',
    );
  });

  it('makes a seeded dev split', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({
      question: `What is ${i} plus 1?`,
      rationales: [`${i} plus one is ${i + 1}.`],
      answer: i + 1,
    }));
    const a = await readTeacherFile(jsonl(rows));
    const b = await readTeacherFile(jsonl(rows));
    expect(a.dev).toHaveLength(3);
    expect(a.groups).toHaveLength(22);
    expect(a.dev).toEqual(b.dev);
    expect(a.report).toMatchObject({ questions: 25, trainQuestions: 22, devQuestions: 3 });
    const ids = new Set(a.groups.map((g) => g.id));
    expect(a.dev.every((d) => !ids.has(d.id))).toBe(true);
    const seeds = await Promise.all([1, 2, 3].map((seed) => readTeacherFile(jsonl(rows), { seed })));
    expect(new Set(seeds.map((s) => s.dev.map((d) => d.id).join())).size).toBeGreaterThan(1);
    const small = await readTeacherFile(jsonl(rows.slice(0, 10)));
    expect(small.dev).toHaveLength(1);
  });
});

describe('evaluation files', () => {
  it('ignores a test file teacher attempt (chain / completion)', async () => {
    const rows = [
      { input: Q1, answer: '32', chain: 'wrong: 29', completion: 'The answer is 29.' },
      { input: Q2, answer: '20' },
    ];
    const { items, taskType, report } = await readEvalFile(JSON.stringify(rows));
    expect(taskType).toBe('number');
    expect(items).toEqual([
      { id: 'q0', question: Q1, answer: '32' },
      { id: 'q1', question: Q2, answer: '20' },
    ]);
    expect(report.rationalesIn).toBe(0);
  });

  it('reads MCC-KD dev files, chat pairs, and honours a task type override', async () => {
    const mcc = await readEvalFile(JSON.stringify([{ instruction: `${Q2}\n`, output: '', label: '20' }]));
    expect(mcc.items[0]).toEqual({ id: 'q0', question: Q2, answer: '20' });
    const chat = await readEvalFile(
      jsonl([
        {
          messages: [
            { role: 'user', content: 'Spell it' },
            { role: 'assistant', content: 'NKTA' },
          ],
        },
      ]),
    );
    expect(chat.items[0].answer).toBe('nkta');
    const forced = await readEvalFile(jsonl([{ question: 'q', answer: '12' }]), { taskType: 'text' });
    expect(forced.taskType).toBe('text');
  });
});
