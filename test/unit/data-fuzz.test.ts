// Property-based fuzzing (fast-check) of the teacher-file reader and of
// answer extraction: random and mutated input gives a result or a DataError,
// never another exception, and the work, counted by src/data/scan.ts's step
// meter (never timed), stays linear in the input. Seeded and small enough to
// run in seconds; FUZZ_SEED and FUZZ_RUNS=<n> widen a local run.

import vm from 'node:vm';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { answersMatch, extractAnswer, isValidGold, normalizeAnswer, parseChoices } from '../../src/data/answer';
import { plainNumber } from '../../src/data/formats';
import { DataError, readEvalFile, readTeacherFile } from '../../src/data/index';
import { lastIndexOf, lastQuoted, lastSentenceStart, meter, trimChars } from '../../src/data/scan';
import type { TaskType } from '../../src/data/types';
import { chunked, enc } from './data-fixtures';

const SEED = Number(process.env.FUZZ_SEED ?? 20_240_611);
const RUNS = (n: number): number => Number(process.env.FUZZ_RUNS ?? n);
const TYPES: TaskType[] = ['number', 'choice', 'yesno', 'text'];

/** `f()` run synchronously, interrupted past 10 s (a freeze fails the
 * property with a message instead of hanging the worker). */
function bounded<T>(f: () => T): T {
  return vm.runInContext('f()', vm.createContext({ f }), { timeout: 10_000 }) as T;
}

/** Runs `f`, returning what it returned and the steps it counted. */
function counted<T>(f: () => T): { value: T; steps: number } {
  meter.steps = 0;
  const value = bounded(f);
  return { value, steps: meter.steps };
}

// ---------------------------------------------------------------------------
// Answer extraction

/** Pieces that the extraction code reacts to, so random texts hit its cases. */
const TOKENS = [
  'answer',
  'Answer',
  'is',
  'the',
  'choice',
  'option',
  'would be',
  ':',
  '=',
  ' ',
  '  ',
  '\n',
  '\r\n',
  '\t',
  '\u00a0',
  '\u2028',
  '\u3000',
  '\ufeff',
  '(A)',
  '(B)',
  '(C)',
  '(Z)',
  '(x',
  '(',
  ')',
  ',',
  '.',
  '. ',
  '!',
  '?',
  '?"',
  'or',
  'or ',
  '"',
  '“',
  '”',
  "'",
  '*',
  '####',
  '-',
  '−',
  '–',
  '\uff0d',
  '$',
  '%',
  '+',
  '0',
  '1',
  '32',
  '007',
  '3.50',
  '1,000',
  '12345678901234567890',
  '.5',
  'yes',
  'no',
  'Yes',
  'NO',
  'A',
  'B',
  'b',
  'Alice',
  'ball',
  'red ball',
  'So',
  'Therefore',
  '\u0000',
  '\ud83d',
  '🙂',
  'é',
  '中',
];

/** A text of tokens, now and then with a run of thousands of one piece
 * (whitespace, sentence ends, quotes, zeros, tags) inserted. */
const tokenText = fc
  .tuple(
    fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }),
    fc.option(
      fc.record({
        at: fc.nat(),
        piece: fc.constantFrom(' ', '. ', '\n', '“', '0', '(A)', ' ,', 'answer ', '?" ', ' or', 'a'),
        n: fc.integer({ min: 500, max: 20_000 }),
      }),
      { freq: 3 },
    ),
  )
  .map(([toks, bomb]) => {
    if (!bomb) return toks.join('');
    const at = bomb.at % (toks.length + 1);
    return [...toks.slice(0, at), bomb.piece.repeat(bomb.n), ...toks.slice(at)].join('');
  });

const anyText = fc.oneof(
  { weight: 4, arbitrary: tokenText },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.constantFrom(' ', '(', 'A', ')', '.', ',', '\n', '"', '“', '0', '-', 'o', 'r'), maxLength: 300 }),
  },
);

const choicesArb = fc.option(fc.array(fc.oneof(fc.constantFrom('red ball', 'blue ball', 'Alice', 'yes', ''), anyText), { maxLength: 30 }), {
  freq: 2,
});

/** Steps allowed for one call on `len` characters, `perChar` each. */
const budget = (len: number, perChar: number): number => perChar * (len + 1) + 256;

describe('fuzz: answer extraction', () => {
  it('extractAnswer, parseChoices, normalizeAnswer, answersMatch: a result of the right shape, linear work, no exception', () => {
    fc.assert(
      fc.property(anyText, anyText, choicesArb, fc.constantFrom(...TYPES), (text, other, choicesOrNull, type) => {
        const choices = choicesOrNull ?? undefined;
        const parsed = counted(() => parseChoices(text));
        expect(parsed.steps).toBeLessThanOrEqual(budget(text.length, 8));
        if (parsed.value !== undefined) {
          expect(parsed.value.length).toBeGreaterThanOrEqual(2);
          for (const c of parsed.value) expect(typeof c).toBe('string');
        }

        // The choice fallback searches each of at most 26 choice texts in the
        // last sentence: up to 8 steps per character each (native search of a
        // short text), linear otherwise.
        const choiceChars = (choices ?? []).slice(0, 26).reduce((n, c) => n + c.length, 0);
        const perChar = type === 'choice' ? 16 + 8 * Math.min(26, choices?.length ?? 0) : 16;
        const ex = counted(() => extractAnswer(text, type, choices));
        expect(ex.steps).toBeLessThanOrEqual(budget(text.length, perChar) + 4 * choiceChars);
        const a = ex.value;
        if (a !== null) {
          expect(typeof a).toBe('string');
          if (type === 'number') expect(a).toMatch(/^-?\d+(\.\d*[1-9])?$/);
          if (type === 'choice') expect(a).toMatch(/^[A-Z]$/);
          if (type === 'yesno') expect(['yes', 'no']).toContain(a);
          if (type === 'text') expect(a).not.toBe('');
        }

        const norm = counted(() => normalizeAnswer(text, type));
        expect(norm.steps).toBeLessThanOrEqual(budget(text.length, 8));
        expect(normalizeAnswer(norm.value, type)).toBe(norm.value);

        const match = counted(() => answersMatch(text, other, type));
        expect(match.steps).toBeLessThanOrEqual(budget(text.length + other.length, 8));
        expect(typeof match.value).toBe('boolean');
        if (type === 'number') expect(answersMatch(other, text, type)).toBe(match.value);
        if (isValidGold(text, type)) {
          expect(answersMatch(text, text, type)).toBe(true);
          expect(answersMatch(normalizeAnswer(text, type), text, type)).toBe(true);
        }
        if (a !== null) expect(answersMatch(a, a, type)).toBe(a !== '' || type !== 'text');
      }),
      { seed: SEED, numRuns: RUNS(400) },
    );
  });

  it('numbers: integers compare digit for digit, decimals to 1e-9, JSON numbers are written without exponent', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.bigInt({ min: -3n, max: 3n }), (a, d) => {
        expect(answersMatch(String(a), String(a + d), 'number')).toBe(d === 0n);
        expect(answersMatch(String(a).replace('-', '−'), String(a), 'number')).toBe(true);
      }),
      { seed: SEED, numRuns: RUNS(300) },
    );
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 }), (x) => {
        const s = plainNumber(x);
        expect(s).toMatch(/^-?\d+(\.\d+)?$/);
        expect(Number(s)).toBe(x === 0 ? 0 : x); // -0 is written "0"
        const y = Number((x * (1 + 1e-13)).toPrecision(17));
        if (!Number.isInteger(x) && Number.isFinite(y)) expect(answersMatch(plainNumber(y), s, 'number')).toBe(true);
      }),
      { seed: SEED, numRuns: RUNS(300) },
    );
  });
});

// ---------------------------------------------------------------------------
// The linear rewrites agree with the regular expressions they replace (on
// inputs small enough for those to finish).

const small = fc.string({
  unit: fc.constantFrom(' ', '\n', '\u00a0', '(', ')', 'A', 'B', 'x', 'o', 'r', ',', '.', '!', '?', '"', '“', '”', "'", '*', ':', ']', '1'),
  maxLength: 40,
});

function parseChoicesRegex(question: string): string[] | undefined {
  const re = /\(([A-Z])\)\s*([^\n(]*?)\s*(?=,?\s*(?:or\s+)?\([A-Z]\)|[.\n]|$)/g;
  const out: string[] = [];
  for (const m of question.matchAll(re)) {
    if (m[1].charCodeAt(0) - 65 !== out.length) break;
    out.push(m[2].replace(/[,.]$/, '').trim());
  }
  return out.length >= 2 ? out : undefined;
}

function lastSentenceStartRegex(t: string): number {
  let start = 0;
  for (const m of t.matchAll(/[.!?]["”')\]]*\s+|\n+/g)) {
    const end = (m.index ?? 0) + m[0].length;
    if (end < t.length && /[\p{L}\p{N}]/u.test(t.slice(end))) start = end;
  }
  return start;
}

describe('fuzz: linear scans agree with the regular expressions they replace', () => {
  it('parseChoices, lastSentenceStart, lastQuoted, trimChars, lastIndexOf', () => {
    fc.assert(
      fc.property(small, small, (s, t) => {
        expect(parseChoices(s)).toEqual(parseChoicesRegex(s));
        const tt = s.trimEnd();
        expect(lastSentenceStart(tt)).toBe(lastSentenceStartRegex(tt));
        const quoted = [...s.matchAll(/["“]([^"”\n]+)["”]/g)];
        expect(lastQuoted(s)).toBe(quoted.length ? quoted[quoted.length - 1][1] : undefined);
        expect(trimChars(s, '"\'`“”‘’*', '"\'`“”‘’*.!?,;:')).toBe(s.replace(/^[\s"'`“”‘’*]+|[\s"'`“”‘’*.!?,;:]+$/g, ''));
        expect(lastIndexOf(s, t)).toBe(s.lastIndexOf(t));
        const long = t.repeat(3);
        expect(lastIndexOf(s + long + s, long)).toBe((s + long + s).lastIndexOf(long));
      }),
      { seed: SEED, numRuns: RUNS(2000) },
    );
  });
});

// ---------------------------------------------------------------------------
// The reader

const word = fc.constantFrom('apples', 'ball', 'Alice', 'red', 'blue', 'two', 'café', '中文', '🙂', 'x', '(A)', '"q"', 'a\\b');
const sentence = fc.array(word, { minLength: 1, maxLength: 8 }).map((w) => w.join(' '));
const gold = fc.oneof(
  fc.integer({ min: -50, max: 1000 }).map(String),
  fc.integer({ min: 0, max: 99 }),
  fc.constantFrom('A', 'B', 'yes', 'no', 'nehl', '−2', '3.50'),
);
const item = fc
  .record({ q: sentence, a: gold, rs: fc.array(sentence, { minLength: 1, maxLength: 3 }) })
  .map(({ q, a, rs }) => ({ q: `${q}?`, a, rs: rs.map((r, i) => `${r} ${i}. So the answer is ${a}.`) }));

const FORMATS = ['native', 'mcc-kd', 'mentor-kd', 'fine-tune-cot', 'step-by-step', 'chat'] as const;
type Item = { q: string; a: string | number; rs: string[] };

function records(format: (typeof FORMATS)[number], items: Item[]): unknown[] {
  switch (format) {
    case 'native':
      return items.map((x, i) => ({ id: `q${i}`, question: x.q, rationales: x.rs, answer: x.a }));
    case 'mcc-kd':
      return items.map((x) => ({ instruction: `${x.q}\n`, output: x.rs, label: x.a }));
    case 'mentor-kd':
      return items.flatMap((x) => x.rs.map((r, j) => ({ input: x.q, chain: r, answer: x.a, initial_correct: j !== 2 })));
    case 'fine-tune-cot':
      return items.flatMap((x, i) =>
        x.rs.map((r, j) => ({ sample_index: i, completion_index: j, question: x.q, answer: x.a, reasoning_completion: r })),
      );
    case 'step-by-step':
      return items.flatMap((x) => x.rs.map((r) => ({ input: x.q, label: x.a, rationale: r, llm_label: x.a })));
    case 'chat':
      return items.flatMap((x) =>
        x.rs.map((r) => ({
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: x.q },
            { role: 'assistant', content: r },
          ],
          answer: x.a,
        })),
      );
  }
}

const CONTAINERS = ['jsonl', 'crlf', 'array', 'pretty', 'wrapper', 'objects'] as const;

function serialize(container: (typeof CONTAINERS)[number], recs: unknown[]): string {
  switch (container) {
    case 'jsonl':
      return `${recs.map((r) => JSON.stringify(r)).join('\n')}\n`;
    case 'crlf':
      return `\uFEFF${recs.map((r) => JSON.stringify(r)).join('\r\n')}\r\n`;
    case 'array':
      return JSON.stringify(recs);
    case 'pretty':
      return JSON.stringify(recs, null, 2);
    case 'wrapper':
      return JSON.stringify({ metadata: { note: 'a "data" ] note' }, data: recs }, null, 1);
    case 'objects':
      return recs.map((r) => JSON.stringify(r, null, 2)).join('\n');
  }
}

/** Byte-level damage: flips, cuts, deletions, repeats and insertions of NULs,
 * line breaks, huge whitespace runs, deep nesting and JSON punctuation. */
const payload = fc.oneof(
  fc.constant('\u0000'),
  fc.constant('\u0000'.repeat(40)),
  fc.constantFrom(
    '\n',
    '\r\n',
    '\r',
    '"',
    '\\',
    '{',
    '}',
    '[',
    ']',
    ',',
    ':',
    '\uFEFF',
    '(A)',
    ' answer is ',
    '−',
    '\u2028',
    'null',
    '1e400',
    '12345678901234567890',
  ),
  fc.integer({ min: 1, max: 20_000 }).map((n) => ' '.repeat(n)),
  fc.integer({ min: 1, max: 20_000 }).map((n) => '\n'.repeat(n)),
  fc.integer({ min: 1, max: 5_000 }).map((n) => '. '.repeat(n)),
  fc.integer({ min: 1, max: 3_000 }).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`),
  fc.integer({ min: 1, max: 200 }).map((d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`),
  fc.uint8Array({ minLength: 1, maxLength: 16 }),
);

type Op =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'cut'; at: number }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'repeat'; at: number; len: number }
  | { kind: 'insert'; at: number; what: string | Uint8Array };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), what: payload }),
);

function mutate(bytes: Uint8Array, ops: Op[]): Uint8Array {
  let b = bytes;
  for (const o of ops) {
    const at = o.at % (b.length + 1);
    if (o.kind === 'flip') {
      if (b.length === 0) continue;
      b = b.slice();
      b[at % b.length] ^= 1 << o.bit;
    } else if (o.kind === 'cut') b = b.slice(0, at);
    else if (o.kind === 'delete') b = new Uint8Array([...b.subarray(0, at), ...b.subarray(at + o.len)]);
    else if (o.kind === 'repeat') b = new Uint8Array([...b.subarray(0, at + o.len), ...b.subarray(at)]);
    else {
      const what = typeof o.what === 'string' ? enc.encode(o.what) : o.what;
      const out = new Uint8Array(b.length + what.length);
      out.set(b.subarray(0, at));
      out.set(what, at);
      out.set(b.subarray(at), at + what.length);
      b = out;
    }
  }
  return b;
}

const input = fc.record({
  format: fc.constantFrom(...FORMATS),
  container: fc.constantFrom(...CONTAINERS),
  items: fc.array(item, { minLength: 1, maxLength: 5 }),
  ops: fc.array(op, { maxLength: 4 }),
  source: fc.constantFrom('bytes', 'string', 'chunks'),
  chunk: fc.integer({ min: 1, max: 5000 }),
  eval: fc.boolean(),
  opts: fc.record({
    k: fc.integer({ min: 1, max: 4 }),
    devFraction: fc.constantFrom(0, 0.1, 0.5),
    filterCorrect: fc.boolean(),
    taskType: fc.constantFrom(undefined, ...TYPES),
    limits: fc.constantFrom(
      undefined,
      { maxRecordBytes: 300, maxDepth: 8 },
      { maxTextChars: 50, maxRationalesPerQuestion: 2, maxReportedErrors: 3 },
    ),
  }),
});

/** Steps the reader may count per byte: a constant number of passes per
 * stage (decode, sniff, line or element split, depth scan) and per
 * rationale (extraction, answer statement, choices of up to 26 short texts
 * searched natively at up to 8 steps per character). */
const READER_STEPS_PER_BYTE = 300;

/** FUZZ_STATS=1 prints what the reader properties met: outcomes and the
 * most steps per byte (to check that the generators reach the cases). */
const stats = { outcomes: new Map<string, number>(), maxStepsPerByte: 0 };
function note(outcome: string, steps: number, bytes: number): void {
  stats.outcomes.set(outcome, (stats.outcomes.get(outcome) ?? 0) + 1);
  stats.maxStepsPerByte = Math.max(stats.maxStepsPerByte, steps / (bytes + 64));
}
afterAll(() => {
  if (process.env.FUZZ_STATS)
    console.log(JSON.stringify({ ...stats, outcomes: Object.fromEntries([...stats.outcomes].sort((a, b) => b[1] - a[1])) }, null, 1));
});

describe('fuzz: readTeacherFile / readEvalFile', () => {
  it('mutated files of every format: a report or a DataError, never another exception; linear work', async () => {
    await fc.assert(
      fc.asyncProperty(input, async (x) => {
        const bytes = mutate(enc.encode(serialize(x.container, records(x.format, x.items))), x.ops);
        const source = x.source === 'bytes' ? bytes : x.source === 'string' ? new TextDecoder().decode(bytes) : chunked(bytes, x.chunk);
        const opts = { ...x.opts, limits: x.opts.limits ?? undefined, taskType: x.opts.taskType ?? undefined };
        meter.steps = 0;
        let outcome = 'read';
        try {
          if (x.eval) {
            const { items, report } = await readEvalFile(source, { taskType: opts.taskType, limits: opts.limits });
            outcome = `eval: ${report.errors.length ? 'with errors' : 'clean'}`;
            expect(items.length).toBe(report.questions);
            for (const it of items) expect(typeof it.answer).toBe('string');
          } else {
            const { groups, dev, report } = await readTeacherFile(source, opts);
            outcome = `teacher: ${report.errors.length ? 'with errors' : 'clean'}`;
            expect(groups.length + dev.length).toBe(report.questions);
            for (const g of groups) {
              expect(g.rationales.length).toBeGreaterThan(0);
              expect(g.rationales.length).toBeLessThanOrEqual(opts.k);
              for (const r of g.rationales) expect(r.text.slice(r.answerStart, r.answerEnd)).toBe(g.answer);
            }
            for (const e of report.errors) expect(e.line !== undefined || e.index !== undefined).toBe(true);
          }
        } catch (e) {
          if (!(e instanceof DataError)) throw e;
          outcome = `refused: ${e.message.replace(/[:(].*/, '')}`;
          expect(e.message).not.toBe('');
          expect(e.message).not.toContain('\n');
          expect(e.message).not.toContain('\u0000');
        }
        note(outcome, meter.steps, bytes.length);
        expect(meter.steps, `${meter.steps} steps for ${bytes.length} bytes`).toBeLessThanOrEqual(
          READER_STEPS_PER_BYTE * (bytes.length + 64),
        );
      }),
      { seed: SEED, numRuns: RUNS(250) },
    );
  }, 120_000);

  it('one NUL byte in a JSON Lines file costs only its line', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...FORMATS),
        fc.array(item, { minLength: 2, maxLength: 6 }),
        fc.nat(),
        fc.nat(),
        async (format, items, lineSeed, posSeed) => {
          const lines = records(format, items).map((r) => JSON.stringify(r));
          const li = lineSeed % lines.length;
          const at = posSeed % (lines[li].length + 1);
          lines[li] = `${lines[li].slice(0, at)}\u0000${lines[li].slice(at)}`;
          const { report } = await readTeacherFile(enc.encode(`${lines.join('\n')}\n`), { filterCorrect: false, devFraction: 0 });
          expect(report.records).toBe(lines.length);
          expect(report.dropped['invalid-json']).toBe(1);
          expect(report.errors).toContainEqual({ line: li + 1, message: expect.stringMatching(/^invalid JSON: NUL character/) });
        },
      ),
      { seed: SEED, numRuns: RUNS(100) },
    );
  });

  it('random bytes and random text', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.string({ unit: 'binary', maxLength: 2000 }), tokenText),
        fc.boolean(),
        async (data, asEval) => {
          meter.steps = 0;
          try {
            if (asEval) await readEvalFile(data);
            else await readTeacherFile(data);
          } catch (e) {
            if (!(e instanceof DataError)) throw e;
            expect(e.message).not.toContain('\n');
          }
          const n = typeof data === 'string' ? data.length * 3 : data.length;
          expect(meter.steps).toBeLessThanOrEqual(READER_STEPS_PER_BYTE * (n + 64));
        },
      ),
      { seed: SEED, numRuns: RUNS(300) },
    );
  }, 120_000);
});
