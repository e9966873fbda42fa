// The built-in demo dataset (scripts/gen-demo.ts, scripts/demo/generate.ts):
// deterministic, well-formed, arithmetically honest where it claims to be, with
// the intended share of wrong and near-duplicate rationales for curation to
// drop, a clean train/test split, and committed files that match the generator.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DEMO_DEFAULTS,
  EASY_SHAPES,
  MAX_PROMPT_PLUS_RATIONALE_CHARS,
  MAX_RATIONALE_CHARS,
  NEAR_DUP_RATE,
  RATIONALES_PER_QUESTION,
  SHAPES,
  WRONG_QUESTION_RATE,
  demoFiles,
  generateDemo,
  toJsonl,
  type DemoTestRecord,
  type DemoTrainRecord,
} from '../../scripts/demo/generate';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const files = demoFiles();
const train = files['train.jsonl']
  .trimEnd()
  .split('\n')
  .map((l) => JSON.parse(l) as DemoTrainRecord);
const test = files['test.jsonl']
  .trimEnd()
  .split('\n')
  .map((l) => JSON.parse(l) as DemoTestRecord);
const rationales = train.flatMap((r) => r.rationales.map((text) => ({ text, answer: r.answer })));

/** The last number of the last sentence: the answer the rationale states. */
function statedAnswer(text: string): string | undefined {
  const sentences = text.trim().split(/(?<=\.)\s+/);
  return sentences[sentences.length - 1].match(/\d+/g)?.pop();
}

/** Every "a op b = c" in the text, and whether it holds. */
function equations(text: string): Array<{ eq: string; ok: boolean }> {
  return [...text.matchAll(/(\d+) ([-+*/]) (\d+) = (\d+)/g)].map((m) => {
    const [a, b, c] = [Number(m[1]), Number(m[3]), Number(m[4])];
    const v = m[2] === '+' ? a + b : m[2] === '-' ? a - b : m[2] === '*' ? a * b : a / b;
    return { eq: m[0], ok: v === c };
  });
}

function trigrams(text: string): Set<string> {
  const w = text.toLowerCase().match(/[a-z0-9']+/g) ?? [];
  const s = new Set<string>();
  for (let i = 0; i + 3 <= w.length; i++) s.add(w.slice(i, i + 3).join(' '));
  return s;
}
function jaccard(a: Set<string>, b: Set<string>): number {
  let n = 0;
  for (const x of a) if (b.has(x)) n++;
  return n / (a.size + b.size - n);
}

describe('demo dataset generator', () => {
  it('is deterministic: same seed, same bytes; another seed, other data', () => {
    expect(demoFiles()).toEqual(files);
    expect(demoFiles({ seed: DEMO_DEFAULTS.seed, train: 50, test: 10 })).toEqual(
      demoFiles({ seed: DEMO_DEFAULTS.seed, train: 50, test: 10 }),
    );
    expect(demoFiles({ seed: 99, train: 50, test: 10 })['train.jsonl']).not.toEqual(
      demoFiles({ seed: 98, train: 50, test: 10 })['train.jsonl'],
    );
    expect(toJsonl(generateDemo().train)).toBe(files['train.jsonl']);
  });

  it('makes the requested counts with unique ids', () => {
    expect(train).toHaveLength(DEMO_DEFAULTS.train);
    expect(test).toHaveLength(DEMO_DEFAULTS.test);
    const small = generateDemo({ train: 7, test: 3, seed: 5 });
    expect(small.train).toHaveLength(7);
    expect(small.test).toHaveLength(3);
    const ids = [...train, ...test].map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(() => generateDemo({ train: -1 })).toThrow();
  });

  it('writes records with exactly the format fields', () => {
    for (const r of train) {
      expect(Object.keys(r)).toEqual(['id', 'question', 'rationales', 'answer']);
      expect(typeof r.id).toBe('string');
      expect(r.question).toMatch(/\?$/);
      expect(r.answer).toMatch(/^[1-9]\d*$/);
      expect(r.rationales).toHaveLength(RATIONALES_PER_QUESTION);
      for (const t of r.rationales) expect(typeof t).toBe('string');
    }
    for (const r of test) {
      expect(Object.keys(r)).toEqual(['id', 'question', 'answer']);
      expect(r.question).toMatch(/\?$/);
      expect(r.answer).toMatch(/^[1-9]\d*$/);
    }
  });

  it('keeps texts short enough for a 256-position student', () => {
    for (const r of train) {
      for (const t of r.rationales) {
        expect(t.length).toBeLessThanOrEqual(MAX_RATIONALE_CHARS);
        expect(`Q: ${r.question}\nA: ${t}`.length).toBeLessThanOrEqual(MAX_PROMPT_PLUS_RATIONALE_CHARS);
      }
    }
    for (const r of test) expect(r.question.length).toBeLessThan(200);
  });

  it('uses a modest vocabulary and all problem shapes', () => {
    const words = new Set<string>();
    for (const r of [...train, ...test])
      for (const t of [r.question, ...('rationales' in r ? (r as DemoTrainRecord).rationales : [])]) {
        for (const w of t.toLowerCase().match(/[a-z']+/g) ?? []) words.add(w);
      }
    expect(words.size).toBeLessThan(300);
    expect(DEMO_DEFAULTS.level).toBe('easy');
    expect(EASY_SHAPES.length).toBe(3);
    const markers = [
      /^\w+ has \d+ \w+ and gets \d+ more\. /,
      /^\w+ has \d+ \w+ and gives away \d+\. /,
      /^\w+ has \d+ \w+, gets \d+ more and gives away \d+\. /,
    ];
    for (const m of markers) {
      const n = train.filter((r) => m.test(r.question)).length;
      expect(n, String(m)).toBeGreaterThan(train.length * 0.2);
    }
  });

  it('easy level: thousands of questions on operands up to max, one or two steps', () => {
    expect(DEMO_DEFAULTS.train).toBeGreaterThanOrEqual(2000);
    for (const r of [...train, ...test]) {
      const nums = (r.question.match(/\d+/g) ?? []).map(Number);
      expect(nums.length === 2 || nums.length === 3, r.question).toBe(true);
      for (const n of nums) expect(n).toBeLessThanOrEqual(2 * DEMO_DEFAULTS.max);
      expect(Number(r.answer)).toBeLessThanOrEqual(2 * DEMO_DEFAULTS.max);
    }
    const big = generateDemo({ max: 30, train: 200, test: 0, seed: 3 });
    expect(Math.max(...big.train.map((r) => Number(r.answer)))).toBeGreaterThan(2 * DEMO_DEFAULTS.max);
    expect(() => generateDemo({ max: 1 })).toThrow();
    expect(() => generateDemo({ level: 'medium' as 'easy' })).toThrow();
  });

  it('hard level: the eight multi-step shapes, honest arithmetic, one slip at most', () => {
    const hard = generateDemo({ level: 'hard', train: 600, test: 50 });
    expect(SHAPES.length).toBeGreaterThanOrEqual(6);
    const markers = [
      /gives away/,
      /buys \d+ \w+ for \$\d+ each/,
      /shares them equally/,
      /each hour/,
      /How many more/,
      /loses \d+ of them/,
      /saves \$\d+ each week/,
      /boxes of .* in each/,
    ];
    for (const m of markers) {
      const n = hard.train.filter((r) => m.test(r.question)).length;
      expect(n, String(m)).toBeGreaterThan(hard.train.length * 0.05);
    }
    let wrong = 0;
    for (const r of hard.train) {
      expect(r.rationales).toHaveLength(RATIONALES_PER_QUESTION);
      for (const t of r.rationales) {
        expect(t.length).toBeLessThanOrEqual(MAX_RATIONALE_CHARS);
        const bad = equations(t).filter((e) => !e.ok).length;
        if (statedAnswer(t) === r.answer) expect(bad, t).toBe(0);
        else wrong++;
      }
    }
    const share = wrong / (hard.train.length * RATIONALES_PER_QUESTION);
    expect(share).toBeGreaterThan((WRONG_QUESTION_RATE / RATIONALES_PER_QUESTION) * 0.7);
    expect(share).toBeLessThan((WRONG_QUESTION_RATE / RATIONALES_PER_QUESTION) * 1.3);
  });

  it('ends every rationale with a closing sentence whose last number is the stated answer', () => {
    for (const { text } of rationales) {
      expect(text).toMatch(/answer is \d+\.$/);
      expect(statedAnswer(text)).toBeDefined();
    }
    const closings = new Set(rationales.map(({ text }) => text.match(/(\S+ )?(the )?(final )?answer is \d+\.$/i)?.[0].replace(/\d+/, 'N')));
    expect(closings.size).toBeGreaterThanOrEqual(4);
  });

  it('has correct rationales whose arithmetic all holds and reaches the gold answer', () => {
    let checked = 0;
    for (const { text, answer } of rationales) {
      if (statedAnswer(text) !== answer) continue;
      for (const e of equations(text)) {
        expect(e.ok, `${e.eq} in: ${text}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(train.length * 3);
  });

  it('has about one wrong rationale in twelve: a single slip and a wrong final answer', () => {
    const wrong = rationales.filter(({ text, answer }) => statedAnswer(text) !== answer);
    const share = wrong.length / rationales.length;
    const target = WRONG_QUESTION_RATE / RATIONALES_PER_QUESTION;
    expect(share).toBeGreaterThan(target * 0.7);
    expect(share).toBeLessThan(target * 1.3);
    for (const { text } of wrong) expect(equations(text).filter((e) => !e.ok).length).toBeLessThanOrEqual(1);
    // Never more than one wrong per question, so the majority always agrees with the gold answer.
    for (const r of train) expect(r.rationales.filter((t) => statedAnswer(t) !== r.answer).length).toBeLessThanOrEqual(1);
  });

  it('has genuinely different rationales, except a few near-duplicates', () => {
    let near = 0;
    for (const r of train) {
      expect(new Set(r.rationales).size).toBe(r.rationales.length);
      const g = r.rationales.map(trigrams);
      let best = 0;
      for (let i = 0; i < g.length; i++) for (let j = i + 1; j < g.length; j++) best = Math.max(best, jaccard(g[i], g[j]));
      if (best >= 0.4) near++;
    }
    expect(near / train.length).toBeGreaterThan(NEAR_DUP_RATE * 0.5);
    expect(near / train.length).toBeLessThan(NEAR_DUP_RATE * 2);
  });

  it('keeps test questions out of train, and questions unique', () => {
    const trainQs = new Set(train.map((r) => r.question));
    expect(trainQs.size).toBe(train.length);
    expect(new Set(test.map((r) => r.question)).size).toBe(test.length);
    for (const r of test) expect(trainQs.has(r.question)).toBe(false);
  });

  it('matches the committed public/demo files (regenerate with npm run gen:demo)', () => {
    for (const name of ['train.jsonl', 'test.jsonl'] as const) {
      expect(readFileSync(path.join(ROOT, 'public', 'demo', name), 'utf8'), name).toBe(files[name]);
    }
  });
});
