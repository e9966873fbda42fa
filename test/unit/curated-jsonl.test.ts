// The curated training set as JSON Lines (src/data/curated.ts, `mcckd inspect
// --write`): the file reads back through readTeacherFile as the same
// questions, rationales, answer spans and train/dev split, and writing what
// was read back gives the same bytes. On the demo data and on the real
// teacher files of ../shared/data (skipped when absent).

import { execFile } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CuratedWriteError, curatedJsonl, curatedLines, type CuratedLine } from '../../src/data/curated';
import { readTeacherFile, type ReadOptions, type Source } from '../../src/data/index';
import { demoFiles } from '../../scripts/demo/generate';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DATA = path.resolve(ROOT, '../shared/data');
const dataPresent = existsSync(DATA);
if (!dataPresent) console.warn(`curated-jsonl: real teacher files skipped, no ${DATA}`);

const demo = (): string => demoFiles()['train.jsonl'];

/** What the CLI does: the split from a read with the settings, every kept
 * question (dev ones with their rationales) from a read without a split. */
async function write(src: () => Source, opts: ReadOptions = {}) {
  const read = await readTeacherFile(src(), opts);
  const all = await readTeacherFile(src(), { ...opts, devFraction: 0 });
  return { read, all, text: curatedJsonl({ groups: all.groups, dev: read.dev, taskType: read.taskType }) };
}

const parse = (text: string): CuratedLine[] =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as CuratedLine);

/** The whole round trip for one file and one setting. */
async function roundTrip(src: () => Source, opts: ReadOptions = {}): Promise<{ questions: number; rationales: number; dev: number }> {
  const { read, all, text } = await write(src, opts);
  const lines = parse(text);
  // one line per kept question, train and dev, in file order
  expect(lines.length).toBe(read.report.questions);
  expect(lines.map((l) => l.id)).toEqual(all.groups.map((g) => g.id));
  expect(lines.filter((l) => l.split === 'dev').map((l) => l.id)).toEqual(read.dev.map((d) => d.id));
  expect(lines.filter((l) => l.split === 'train').map((l) => l.id)).toEqual(read.groups.map((g) => g.id));
  lines.forEach((l, i) => {
    const g = all.groups[i];
    expect(l).toMatchObject({
      question: g.question,
      answer: g.answer,
      task_type: read.taskType,
      answer_sentence: `Therefore, the answer is ${g.answer}.`,
    });
    expect(l.rationales).toEqual(g.rationales.map((r) => r.text));
    l.rationales.forEach((t, j) => {
      // spans count code points, as Python's str does
      const [s, e] = l.answer_spans[j];
      expect(Array.from(t).slice(s, e).join('')).toBe(g.answer);
      expect(t.endsWith(l.answer_sentence)).toBe(true);
    });
  });

  // read back with the same settings: the same training set and split
  const back = await readTeacherFile(text, opts);
  expect(back.taskType).toBe(read.taskType);
  expect(back.report.questions).toBe(read.report.questions);
  expect(back.report.rationalesKept).toBe(read.report.rationalesKept);
  expect(back.report.trainQuestions).toBe(read.report.trainQuestions);
  expect(back.report.devQuestions).toBe(read.report.devQuestions);
  expect(back.groups).toEqual(read.groups); // texts and answer spans included
  expect(back.dev).toEqual(read.dev);
  // line-level: what was read back writes the same bytes
  const again = await write(() => text, opts);
  expect(again.text).toBe(text);
  return { questions: lines.length, rationales: read.report.rationalesKept, dev: read.dev.length };
}

describe('curated JSONL on the demo data', () => {
  it('reads back with the default settings as the same set and split; writes the same bytes again', async () => {
    const n = await roundTrip(demo);
    expect(n.questions).toBeGreaterThan(100);
    expect(n.dev).toBeGreaterThan(0);
  });

  it('and with other settings (k, seed, dev fraction, diversity filter)', async () => {
    await roundTrip(demo, { k: 2, seed: 7, devFraction: 0.25, similarityThreshold: 0.5, ngram: 2 });
    await roundTrip(demo, { devFraction: 0 });
  });

  it('refuses a dev question missing from the groups (the training groups passed alone)', async () => {
    const read = await readTeacherFile(demo());
    expect(() => curatedJsonl({ groups: read.groups, dev: read.dev, taskType: read.taskType })).toThrow(CuratedWriteError);
    expect(() => curatedJsonl({ groups: read.groups, dev: read.dev, taskType: read.taskType })).toThrow(
      /not among the curated questions.*devFraction 0/,
    );
  });

  it('refuses a rationale whose span does not hold the answer', async () => {
    const { groups, taskType } = await readTeacherFile(demo(), { devFraction: 0 });
    const g = { ...groups[0], rationales: [{ ...groups[0].rationales[0], answerStart: 0 }] };
    expect(() => [...curatedLines({ groups: [g], dev: [], taskType })]).toThrow(
      /rationale 0: its answer span \[0, \d+\) does not hold the answer/,
    );
  });

  it('counts spans in code points where UTF-16 indices differ (an emoji before the answer)', async () => {
    const rec = (i: number) => ({
      id: `e${i}`,
      question: `How many 🍎 are there in box ${i}?`,
      answer: '3',
      rationales: [`There are 🍎🍎🍎 in box ${i}, which is 3. The answer is 3.`],
    });
    const file = [0, 1].map((i) => JSON.stringify(rec(i))).join('\n');
    const { read, text } = await write(() => file, { devFraction: 0 });
    const r = read.groups[0].rationales[0];
    const [s, e] = parse(text)[0].answer_spans[0];
    expect(s).toBe(r.answerStart - 3); // three surrogate pairs before it
    expect(e - s).toBe(1);
    expect(Array.from(r.text).slice(s, e).join('')).toBe('3');
  });
});

describe('mcckd inspect --write', () => {
  const mcckd = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'bin/mcckd.js'), ...args], { cwd: ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      });
    });

  it('writes the curated set, prints the report, and refuses to overwrite or to run with --eval', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mcckd-curated-'));
    const data = path.join(dir, 'train.jsonl');
    writeFileSync(data, demo());
    const out = path.join(dir, 'curated.jsonl');
    const r = await mcckd(['inspect', '--data', data, '--k', '2', '--seed', '5', '--write', out]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { questions: number; rationalesKept: number; devQuestions: number };
    const written = readFileSync(out, 'utf8');
    expect(written).toBe((await write(demo, { k: 2, seed: 5 })).text);
    expect(parse(written).length).toBe(report.questions);
    expect(parse(written).filter((l) => l.split === 'dev').length).toBe(report.devQuestions);
    expect(r.stderr).toContain(`wrote ${out}: ${report.questions} questions`);
    const again = await mcckd(['inspect', '--data', data, '--write', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/cannot write .*curated\.jsonl: the file exists/);
    expect(readFileSync(out, 'utf8')).toBe(written);
    const withEval = await mcckd(['inspect', '--data', data, '--eval', '--write', path.join(dir, 'x.jsonl')]);
    expect(withEval.code).toBe(2);
    expect(withEval.stderr).toMatch(/--write .* cannot be used with --eval/);
  }, 60_000);
});

const FILES = [
  'mcc-kd/svamp_train.json',
  'mentor-kd/svamp_3_train.json',
  'mentor-kd/last_letter_concatenation_3_train.json',
  'mentor-kd/tracking_shuffled_objects_3_train.json',
  'mentor-kd/strategy_qa_aug3_t5_large.json',
];

describe.skipIf(!dataPresent)('curated JSONL on the real teacher files (../shared/data)', () => {
  for (const f of FILES) {
    it(`${f}: same questions, rationales, answer spans and split read back; same bytes written again`, async () => {
      const n = await roundTrip(() => createReadStream(path.join(DATA, f)));
      expect(n.questions).toBeGreaterThan(100);
      console.log(`curated-jsonl: ${f}: ${n.questions} questions (${n.dev} dev), ${n.rationales} rationales: identical after reading back`);
    }, 60_000);
  }
});
