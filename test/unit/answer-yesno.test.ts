// Yes/no answers (issue 14 item 5): what the extractor reads, with the span
// of the word it read, what it must refuse, and the curation policy for
// rationales whose answer cannot be read (`unreadable: 'keep-labelled'`).

import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { extractAnswer, readYesNo } from '../../src/data/answer';
import { curate, settleGolds } from '../../src/data/curate';
import { CURATION_DEFAULTS } from '../../src/data/defaults';
import { readTeacherFile } from '../../src/data/index';
import { resolveLimits } from '../../src/data/limits';
import { readAll } from '../../src/data/read';
import { ReportBuilder } from '../../src/data/report';
import type { UnreadablePolicy } from '../../src/data/types';

/** `text` with the expected span written as [[...]], e.g. "So, [[no]], it sinks." */
function marked(s: string): { text: string; start: number; end: number; word: string } {
  const start = s.indexOf('[[');
  const end = s.indexOf(']]') - 2;
  return { text: s.replace('[[', '').replace(']]', ''), start, end, word: s.slice(start + 2, end + 2) };
}

describe('readYesNo: phrasings that state an answer', () => {
  const table: [string, 'yes' | 'no'][] = [
    // Answer cues, anywhere in the text.
    ['Birds fly. So the answer is [[yes]].', 'yes'],
    ['Therefore, the answer is [[No]].', 'no'],
    ['The answer to this question is "[[No]]" because fish swim.', 'no'],
    ['Answer: [[yes]]', 'yes'],
    ['So the final answer is: **[[no]]**.', 'no'],
    ['The answer is [[false]].', 'no'],
    ['The answer is [[no]]. Here is why: pears float.', 'no'],
    // A yes/no opening a clause of the final sentence.
    ['It cannot swim.\n[[No]], it would sink.', 'no'],
    ['So, [[no]], it was not released on the weekend.', 'no'],
    ['Therefore, [[yes]], all Wednesdays in a year are enough.', 'yes'],
    ['Step 3: IKEA sells both. Conclusion: [[Yes]], you can buy furniture and meatballs there.', 'yes'],
    ['In conclusion, [[yes]], Buzz Aldrin could have owned a computer.', 'yes'],
    ['Since the game is meant for 7 dwarfs, then [[yes]], all seven could play.', 'yes'],
    ['Hence [[no]].', 'no'],
    ['Wait.\r\n[[No]].\r\n', 'no'],
    // A yes/no opening the whole text: the teacher answers, then explains.
    ['[[No]], the Confederate Army was disbanded in 1865. Nobody enlisted then would still serve.', 'no'],
    ['[[Yes]]. Olympia is in the Pacific Northwest. It has many rivers.', 'yes'],
    // A verdict on the question's claim; true means yes.
    ['1 squared is 1, less than 5. Therefore, the statement is [[false]].', 'no'],
    ['This is [[incorrect]].', 'no'],
    ['The claim is [[true]].', 'yes'],
    ['It is not [[true]].', 'no'],
    ['So this is [[correct]], since both are red.', 'yes'],
    ['That was [[wrong]]!', 'no'],
    // The last statement wins: a final-sentence verdict over an opening.
    ['Yes, at first sight. But 1 is less than 5, so [[no]], it does not exceed it.', 'no'],
  ];
  it.each(table)('%s', (s, answer) => {
    const m = marked(s);
    const r = readYesNo(m.text);
    expect(r).toEqual({ answer, start: m.start, end: m.end });
    expect(m.text.slice(r?.start, r?.end)).toBe(m.word);
    // The curation and the grader read the same answer.
    expect(extractAnswer(m.text, 'yesno')).toBe(answer);
  });
});

describe('readYesNo: texts that state no answer', () => {
  const none = [
    // "no" as a determiner, anywhere.
    'There is no evidence to suggest that Claire Foy speaks fluent Arabic.',
    'Pears float. There is no evidence that they sink.',
    'Therefore, no candidate in the 1912 election took a majority of the popular vote.',
    'So no one could have seen it.',
    'No one knows.',
    'Nobody was there.',
    'Skeletons are bare bones, with no soft tissue or hair present.',
    'The farthing was no longer in use by then.',
    'the answer is no longer clear.',
    'The answer is not obvious.',
    // "not only ... but", negations and comparisons: facts, not verdicts.
    'It is not only heavy but also dense.',
    "Therefore, 1 (hydrogen's atomic number squared) is less than 5 (number of Spice Girls).",
    'Linus Torvalds does not have any direct connection to DirectX.',
    'In conclusion, a pear would likely float in water rather than sink.',
    // Truth words that do not end their clause.
    'It is true that some quadragenarians forget things.',
    'It is correct to say that the bell moved.',
    'It is important to dial the correct emergency number.',
    // Ambiguous or not at a clause start.
    'Yes and no.',
    'Yesterday, it rained.',
    'Sono is a word.',
    'Say yes to the dress.',
    // A yes opening a later (not the first or final) sentence answers a sub-question.
    'Is she real? 2. If she is real, then yes, she owns a junk. 3. Nothing shows that she owns a boat.',
    // Double negation: refused, and nothing before it is read instead.
    'The answer is yes. This is not incorrect.',
    'The statement is not false.',
    '',
    'Unclear.',
  ];
  it.each(none)('%j', (text) => {
    expect(readYesNo(text)).toBeNull();
    expect(extractAnswer(text, 'yesno')).toBeNull();
  });
});

describe('readYesNo: linear on hostile text', () => {
  /** Synchronous call interrupted past 10 s (a super-linear regex takes
   * minutes on these, a linear one milliseconds). */
  const bounded = <T>(f: () => T): T => vm.runInContext('f()', vm.createContext({ f }), { timeout: 10_000 }) as T;
  const n = 200_000;
  const walls = [
    `the answer${' '.repeat(n)}is`,
    `answer is${' '.repeat(n)}"`,
    `answer ${'is '.repeat(n / 3)}x`,
    `${', '.repeat(n / 2)}yes and`,
    `so${' so'.repeat(n / 3)} yes yes`,
    `it is not${' '.repeat(n)}maybe`,
    `the statement${' '.repeat(n)}is${' '.repeat(n)}not${' '.repeat(n)}truer`,
    `yes${'"'.repeat(n)}x`,
    `, ${'*'.repeat(n)}no${'*'.repeat(n)} x`,
    `answer${' answer'.repeat(n / 7)} yes`,
  ];
  it.each(walls.map((w, i) => [i, w] as const))('wall %i', (_, w) => {
    expect(bounded(() => readYesNo(w))).toBeNull();
  });
});

const Q = 'Would a pear sink in water?';
const READ = 'Pears are less dense than water. So, no, a pear would not sink.';
const UNREAD = 'A pear is mostly water and air, so it floats.';

/** Curation of Mentor-KD rows with an explicit policy: the pipeline of
 * readTeacherFile, which does not take the option yet. */
async function curateRows(rows: unknown[], unreadable: UnreadablePolicy, k = 3) {
  const limits = resolveLimits({});
  const rb = new ReportBuilder(limits);
  const { grouper } = await readAll(JSON.stringify(rows), limits, rb, true);
  const { taskType, golds } = settleGolds(grouper.groups, undefined, rb);
  const groups = curate(golds, taskType, { k, filterCorrect: true, ngram: 3, similarityThreshold: 0.7, unreadable }, rb);
  return { groups, report: rb.report };
}

describe('policy for rationales whose answer cannot be read', () => {
  it("defaults to 'keep-labelled'", () => {
    expect(CURATION_DEFAULTS.unreadable).toBe('keep-labelled');
  });

  it('keep-labelled: initial_correct true keeps it with the canonical sentence; no label, or false, does not', async () => {
    const rows = [
      { input: Q, chain: UNREAD, answer: 'No', initial_correct: true },
      { input: Q, chain: 'Pears have seeds and a stem.', answer: 'No' },
      { input: Q, chain: 'Pears are heavy fruit, heavier than the water they displace.', answer: 'No', initial_correct: false },
      { input: Q, chain: 'Yes, a pear would sink.', answer: 'No', initial_correct: true },
    ];
    const { groups, report } = await curateRows(rows, 'keep-labelled');
    expect(report.dropped).toEqual({ 'answer-not-found': 1, 'marked-incorrect': 1, 'wrong-answer': 1 });
    expect(report.keptOnLabel).toBe(1);
    expect(report.settings.unreadable).toBe('keep-labelled');
    // Only the unlabelled one is an error.
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatchObject({ field: 'chain', message: 'no yesno answer found in the rationale' });
    expect(groups).toHaveLength(1);
    const [r] = groups[0].rationales;
    expect(r.text).toBe(`${UNREAD}\nTherefore, the answer is no.`);
    expect(r.text.slice(r.answerStart, r.answerEnd)).toBe('no');
  });

  it('drop: the labelled one is dropped as answer-not-found, as before', async () => {
    const rows = [
      { input: Q, chain: UNREAD, answer: 'No', initial_correct: true },
      { input: Q, chain: READ, answer: 'No', initial_correct: true },
    ];
    const { groups, report } = await curateRows(rows, 'drop');
    expect(report.dropped).toEqual({ 'answer-not-found': 1 });
    expect(report.keptOnLabel).toBe(0);
    expect(report.settings.unreadable).toBe('drop');
    expect(groups[0].rationales.map((r) => r.text)).toEqual([`${READ}\nTherefore, the answer is no.`]);
  });

  it('the K cap prefers rationales whose answer was read', async () => {
    const unread2 = 'Fruit with air pockets stays on the surface of a bucket.';
    const read2 = 'Density decides: lighter than water floats. Therefore, the statement is false.';
    const rows = [UNREAD, unread2, READ, read2].map((chain) => ({ input: Q, chain, answer: 'No', initial_correct: true }));
    const { groups, report } = await curateRows(rows, 'keep-labelled', 2);
    expect(groups[0].rationales.map((r) => r.text.split('\n')[0])).toEqual([READ, read2]);
    expect(report.dropped).toEqual({ 'over-k': 2 });
    expect(report.keptOnLabel).toBe(0);
  });

  it('readTeacherFile applies the default and reports it', async () => {
    const rows = [{ input: Q, chain: UNREAD, answer: 'No', initial_correct: true }];
    const { groups, report } = await readTeacherFile(JSON.stringify(rows), { devFraction: 0 });
    expect(report).toMatchObject({ questions: 1, rationalesKept: 1, keptOnLabel: 1, dropped: {} });
    expect(report.settings.unreadable).toBe('keep-labelled');
    expect(groups[0].rationales[0].text.endsWith('\nTherefore, the answer is no.')).toBe(true);
    // Without the correctness filter nothing is read and no policy applies.
    const all = await readTeacherFile(JSON.stringify(rows), { devFraction: 0, filterCorrect: false });
    expect(all.report.keptOnLabel).toBe(0);
    expect(all.report.settings.unreadable).toBeUndefined();
  });
});

const DATA = path.resolve(import.meta.dirname, '../../../shared/data');
const STRATEGY_QA = path.join(DATA, 'mentor-kd/strategy_qa_aug3_t5_large.json');
const present = existsSync(STRATEGY_QA);
if (!present) console.warn(`answer-yesno: real-data tests skipped, no ${STRATEGY_QA}`);

// Measured on the file (see the README of ../shared/data): before this
// change 86 of 1,603 questions and 119 of 4,809 rationales survived
// (answer-not-found 4,302).
describe.skipIf(!present)('real data: Mentor-KD StrategyQA (4,809 rationales, 1,603 questions)', () => {
  it('the extractor reads 1,044 rationales and agrees with the teacher on 1,022', () => {
    const rows = JSON.parse(readFileSync(STRATEGY_QA, 'utf8')) as { chain: string; completion: string }[];
    let read = 0;
    let agree = 0;
    for (const r of rows) {
      const a = extractAnswer(r.chain, 'yesno');
      if (a === null) continue;
      read++;
      // `completion` is the teacher's own answer; the 22 others open with a
      // "Yes," or "No," that their own reasoning then contradicts
      // ("Yes, Augustus was not his real name.").
      if (a === r.completion.toLowerCase()) agree++;
    }
    expect({ read, agree }).toEqual({ read: 1044, agree: 1022 });
  });

  it("the extractor alone (unreadable: 'drop'): 445 questions, 791 rationales", async () => {
    const rows = JSON.parse(readFileSync(STRATEGY_QA, 'utf8')) as unknown[];
    const { groups, report } = await curateRows(rows, 'drop');
    expect(groups).toHaveLength(445);
    expect(groups.reduce((n, g) => n + g.rationales.length, 0)).toBe(791);
    expect(report.dropped).toEqual({
      'answer-not-found': 3481,
      'marked-incorrect': 355,
      'wrong-answer': 19,
      'duplicate-rationale': 55,
      'too-similar': 108,
      'no-rationale-left': 1158,
    });
  });

  it("the default (unreadable: 'keep-labelled'): 1,548 questions, 4,100 rationales, 3,309 kept on the label", async () => {
    const { groups, dev, taskType, report } = await readTeacherFile(createReadStream(STRATEGY_QA));
    expect(taskType).toBe('yesno');
    expect(report).toMatchObject({
      format: 'mentor-kd',
      records: 4809,
      questionsIn: 1603,
      rationalesIn: 4809,
      questions: 1548,
      rationalesKept: 4100,
      keptOnLabel: 3309,
    });
    expect(report.dropped).toEqual({
      'marked-incorrect': 355,
      'wrong-answer': 19,
      'duplicate-rationale': 110,
      'too-similar': 225,
      'no-rationale-left': 55,
    });
    expect(report.errors).toEqual([]);
    for (const g of groups) {
      for (const r of g.rationales) {
        expect(r.text.endsWith(`\nTherefore, the answer is ${g.answer}.`)).toBe(true);
        expect(r.text.slice(r.answerStart, r.answerEnd)).toBe(g.answer);
      }
    }
    expect(groups.length + dev.length).toBe(1548);
  });
});
