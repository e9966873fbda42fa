import { describe, expect, it } from 'vitest';
import { readEvalFile, readTeacherFile } from '../../src/data/index';
import { JsonSplitter, type SplitEvent } from '../../src/data/jsonSplit';
import { splitLines } from '../../src/data/lines';
import { Q1, Q2, R20, R32, chunked, enc, jsonl } from './data-fixtures';

// Multi-byte characters (2, 3 and 4 bytes) so chunk cuts fall inside them.
const QU = `${Q1} Café 中文 🙂`;
const rows = [
  { question: QU, rationales: R32.map((r) => `« ${r} »`.replace(' »', '')), answer: '32' },
  { question: Q2, rationales: R20, answer: '20' },
];

const inputs: Record<string, string> = {
  jsonl: `\uFEFF${jsonl(rows, '\r\n')}`,
  array: JSON.stringify(rows),
  pretty: JSON.stringify(rows, null, 2),
  wrapper: JSON.stringify(
    {
      metadata: { note: 'a "quoted" ] bracket' },
      data: rows.flatMap((r, s) =>
        r.rationales.map((c) => ({ sample_index: s, question: r.question, answer: r.answer, reasoning_completion: c })),
      ),
    },
    null,
    2,
  ),
};

describe('streaming: small chunks give the same result as one chunk', () => {
  for (const [name, text] of Object.entries(inputs)) {
    it(`${name} in 7-byte and 1-byte chunks`, async () => {
      const bytes = enc.encode(text);
      const whole = await readTeacherFile(bytes, { devFraction: 0 });
      expect(whole.groups[0].question).toBe(QU);
      expect(whole.report.rationalesIn).toBe(6);
      const seven = await readTeacherFile(chunked(bytes, 7), { devFraction: 0 });
      const one = await readTeacherFile(chunked(bytes, 1), { devFraction: 0 });
      expect(seven).toEqual(whole);
      expect(one).toEqual(whole);
      const asText = await readTeacherFile(text, { devFraction: 0 });
      expect(asText.groups).toEqual(whole.groups);
    });
  }

  it('evaluation files too', async () => {
    const bytes = enc.encode(inputs.array);
    expect(await readEvalFile(chunked(bytes, 7))).toEqual(await readEvalFile(bytes));
  });

  it('reports progress in bytes', async () => {
    const bytes = enc.encode(inputs.jsonl);
    const seen: number[] = [];
    await readTeacherFile(chunked(bytes, 100), { devFraction: 0, onProgress: (b) => seen.push(b) });
    expect(seen.at(-1)).toBe(bytes.length);
    expect(seen.length).toBe(Math.ceil(bytes.length / 100));
  });
});

function split(text: string, chunk = 3, maxChars = 1000, maxDepth = 8): SplitEvent[] {
  const s = new JsonSplitter(maxChars, maxDepth);
  const out: SplitEvent[] = [];
  for (let i = 0; i < text.length; i += chunk) out.push(...s.push(text.slice(i, i + chunk)));
  out.push(...s.end());
  return out;
}

describe('JsonSplitter', () => {
  it('splits top-level elements, tracking strings, escapes, index and line', () => {
    const text = '[\n {"a": "x]\\"}, [\\"},"}\n ,\n[1, [2]], "s\\\\", 3 ,null\n]';
    const ev = split(text);
    expect(ev.map((e) => (e.kind === 'element' ? [e.index, e.line, JSON.parse(e.text)] : e))).toEqual([
      [0, 2, { a: 'x]"}, ["},' }],
      [1, 4, [1, [2]]],
      [2, 4, 's\\'],
      [3, 4, 3],
      [4, 4, null],
    ]);
  });

  it('finds the data array of a wrapper, ignoring metadata (even a nested "data")', () => {
    const text = '{"metadata": {"data": [9], "x": "data"}, "data": [{"q": 1}, {"q": 2}], "tail": [0]}';
    expect(split(text, 2).map((e) => (e.kind === 'element' ? e.text : e.message))).toEqual(['{"q": 1}', '{"q": 2}']);
  });

  it('reports oversize and too-deep elements, then goes on', () => {
    const text = `[{"a": "${'x'.repeat(50)}"}, ${'['.repeat(20)}${']'.repeat(20)}, {"ok": 1}]`;
    const ev = split(text, 5, 30, 8);
    expect(ev.map((e) => (e.kind === 'element' ? e.text : `${e.reason}@${e.index}`))).toEqual([
      'record-too-large@0',
      'too-deep@1',
      '{"ok": 1}',
    ]);
  });
});

describe('splitLines', () => {
  it('splits LF and CRLF across chunks and measures an oversize line without keeping it', async () => {
    async function* gen(): AsyncGenerator<string> {
      yield* ['a\r', '\nbb', 'b\n', 'x'.repeat(10), 'y'.repeat(10), '\nlast'];
    }
    const out = [];
    for await (const ev of splitLines(gen(), 12)) out.push(ev);
    expect(out).toEqual([
      { line: 1, text: 'a' },
      { line: 2, text: 'bbb' },
      { line: 3, tooLong: 20 },
      { line: 4, text: 'last' },
    ]);
  });
});
